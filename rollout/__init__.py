"""agentrl rollout: inference engines, the multi-turn agent loop, the chat/tool-call format, Ray workers."""
