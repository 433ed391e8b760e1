"""planning family (env configs register on import)."""
