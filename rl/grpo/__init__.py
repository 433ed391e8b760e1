"""GRPO math: group advantages, the policy losses, off-policy corrections (pure tensor functions)."""
