"""planning family (env configs register on import): blocksworld plans, maze navigation, Tower of Hanoi and
meeting scheduling, all procedural and seeded, answered in plain text and verified by simulation or checks."""

from environments.planning import blocksworld, hanoi, maze, meeting

__all__ = ["blocksworld", "hanoi", "maze", "meeting"]
