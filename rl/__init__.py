"""agentrl: rl."""
