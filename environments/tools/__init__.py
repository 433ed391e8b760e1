"""The `tools` family: tasks solved by calling tools and then answering (env configs register on import)."""

from environments.tools import calculator, distractors, inventory, knowledge_base, units  # noqa: F401
