"""basic family (env configs register on import): elementary skills that the task families build on, such as
copying text out of the context exactly. Short, single-turn and cheap, they suit an SFT curriculum phase
(`sft.curriculum`) that teaches a randomly initialised policy the skill before the real demonstrations."""

from environments.basic import copy

__all__ = ["copy"]
