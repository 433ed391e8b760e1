"""A rollout episode as the learner consumes it: token ids in, token ids out.

`token_ids` are exactly the prompt tokens, then for each turn the ids the engine generated followed by the
rendered ids of the observation messages. `loss_mask` is 1 exactly on generated tokens; `logprobs` holds the
engine's behaviour logprob on generated tokens and 0 elsewhere; `versions` holds the policy version of the
engine when each turn was generated (-1 on non-generated tokens).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Trajectory:
    """One episode."""

    env_id: str
    seed: int
    task_kind: str = ""
    """The task's kind (the env's `info["task_kind"]` at reset; "" for envs without kinds)."""
    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    """Per token: the engine's policy version when it generated the token, -1 where nothing was generated."""
    prompt_len: int = 0
    reward: float = 0.0
    reward_components: dict[str, float] = field(default_factory=dict)
    success: bool = False
    turns: int = 0
    turn_versions: list[int] = field(default_factory=list)
    """Policy version of each generated turn."""
    finish: str = ""
    """How the episode ended: terminated, truncated (max turns), max_tokens, or error."""
    parse_errors: int = 0
    """Assistant turns whose tool calls did not parse."""
    tool_calls: int = 0
    generated_tokens: int = 0
    generation_s: float = 0.0
    env_s: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The readable transcript (messages as the env saw them), for reports."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    group_id: str = ""
    error: str | None = None

    def append(
        self, ids: list[int], *, generated: bool, logprobs: list[float] | None = None, version: int = -1
    ) -> None:
        """Add tokens: generated ones carry loss, their logprobs and the engine version."""
        self.token_ids += ids
        self.loss_mask += [1 if generated else 0] * len(ids)
        self.logprobs += list(logprobs) if generated and logprobs is not None else [0.0] * len(ids)
        self.versions += [version if generated else -1] * len(ids)

    @property
    def min_version(self) -> int:
        """The oldest policy version that generated any of this episode (-1 when none did)."""
        return min(self.turn_versions) if self.turn_versions else -1

    def check(self) -> None:
        """Raise AssertionError when the per-token lists disagree in length (a bug, never model behaviour)."""
        n = len(self.token_ids)
        assert len(self.loss_mask) == len(self.logprobs) == len(self.versions) == n, "trajectory lists differ"

    def as_dict(self) -> dict[str, Any]:
        """JSON friendly form."""
        return asdict(self)
