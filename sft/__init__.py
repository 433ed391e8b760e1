"""agentrl: sft."""
