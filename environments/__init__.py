"""agentrl: environments."""
