"""code family (env configs register on import)."""
