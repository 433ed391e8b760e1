"""Learnability curriculum: which task kind a group trains on, in envs whose tasks come in kinds.

GRPO learns only from groups whose rewards differ. A kind the policy always solves, or never does, costs
rollouts and gives no gradient (dynamic sampling drops such groups). `KindCurriculum` keeps each kind's
success rate p over its newest episodes and draws kind k with probability

    explore / K  +  (1 - explore) * p_k (1 - p_k) / sum_j p_j (1 - p_j)

(Foster and Foerster 2025, "Learning to Reason at the Frontier of Learnability": p (1 - p) is the variance of
a Bernoulli reward, the expected signal of a group). A kind without episodes yet counts as p = 0.5. Only the
kind is chosen; the task itself is still a fresh seed of that kind. Deliberately simple: rates are plain
windowed means, not a bandit with confidence bounds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np


class KindCurriculum:
    """Per-env task-kind probabilities from recent success rates (see the module docstring)."""

    def __init__(self, kinds: dict[str, tuple[str, ...]], explore: float = 0.2, window: int = 64):
        if not 0.0 <= explore <= 1.0:
            raise ValueError(f"explore must be in [0, 1], got {explore}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.kinds = {env_id: tuple(ks) for env_id, ks in kinds.items() if ks}
        self.explore = explore
        self.window = window
        self._recent: dict[tuple[str, str], deque[bool]] = {
            (env_id, k): deque(maxlen=window) for env_id, ks in self.kinds.items() for k in ks
        }

    def rate(self, env_id: str, kind: str) -> float | None:
        """The kind's success rate over its newest episodes (None before any)."""
        recent = self._recent[(env_id, kind)]
        return sum(recent) / len(recent) if recent else None

    def probs(self, env_id: str) -> np.ndarray:
        """Draw probabilities of the env's kinds, in `kinds[env_id]` order."""
        ks = self.kinds[env_id]
        rates = [self.rate(env_id, k) for k in ks]
        score = np.array([0.25 if p is None else p * (1.0 - p) for p in rates])
        focus = score / score.sum() if score.sum() > 0 else np.full(len(ks), 1.0 / len(ks))
        return self.explore / len(ks) + (1.0 - self.explore) * focus

    def choose(self, env_id: str, rng: np.random.Generator) -> str | None:
        """A kind for the next group of `env_id` (None for an env without kinds: the env draws)."""
        if env_id not in self.kinds:
            return None
        return self.kinds[env_id][int(rng.choice(len(self.kinds[env_id]), p=self.probs(env_id)))]

    def observe(self, env_id: str, kind: str, successes: list[bool]) -> None:
        """Record a finished group's outcomes (ignored for envs and kinds the curriculum does not choose)."""
        recent = self._recent.get((env_id, kind))
        if recent is not None:
            recent.extend(bool(s) for s in successes)

    def metrics(self) -> dict[str, float]:
        """`curriculum/<env>/<kind>`: each kind's current draw probability, for the step's metrics."""
        return {
            f"curriculum/{env_id}/{k}": float(p)
            for env_id, ks in self.kinds.items()
            for k, p in zip(ks, self.probs(env_id), strict=True)
        }

    def state_dict(self) -> dict[str, Any]:
        """The windows, for a checkpoint (JSON-serialisable)."""
        return {f"{env_id}/{kind}": [int(s) for s in recent] for (env_id, kind), recent in self._recent.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore windows saved by `state_dict` (kinds no longer present are ignored)."""
        for (env_id, kind), recent in self._recent.items():
            recent.clear()
            recent.extend(bool(s) for s in state.get(f"{env_id}/{kind}", []))
