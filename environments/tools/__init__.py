"""tools family (env configs register on import)."""
