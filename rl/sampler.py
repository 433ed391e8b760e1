"""Multi-environment task sampling: which (env id, task seed) each group trains on.

Env ids and family names in `algo.env_mix` get weights (a family's weight is split evenly over its configs).
The n-th task is a pure function of (seed, n), so resuming at position n continues the exact sequence; with a
curriculum (`rl.curriculum`), the task kind also depends on the curriculum's state, which checkpoints keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import environments
from rl.curriculum import KindCurriculum


@dataclass
class Task:
    """One group to train on."""

    env_id: str
    seed: int
    index: int
    task_kind: str | None = None
    """The kind the curriculum chose (None: the env draws one)."""

    @property
    def options(self) -> dict[str, Any] | None:
        """The env's reset options for this task."""
        return None if self.task_kind is None else {"task_kind": self.task_kind}


class TaskSampler:
    """Deterministic weighted sampling of env configs and fresh task seeds."""

    def __init__(
        self,
        env_mix: dict[str, float],
        seed: int = 0,
        seed_offset: int = 0,
        position: int = 0,
        curriculum: KindCurriculum | None = None,
    ):
        ids, weights = [], []
        fams = set(environments.families())
        for name, weight in env_mix.items():
            if weight < 0:
                raise ValueError(f"algo.env_mix[{name!r}]: weights must be >= 0")
            members = [s.id for s in environments.list_envs(name)] if name in fams else [environments.spec(name).id]
            for m in members:
                ids.append(m)
                weights.append(weight / len(members))
        total = sum(weights)
        if not ids or total <= 0:
            raise ValueError("algo.env_mix: needs at least one env with a positive weight")
        self.env_ids = ids
        self.probs = np.array(weights) / total
        self.seed = seed
        self.seed_offset = seed_offset
        self.position = position
        self.curriculum = curriculum

    def describe(self) -> str:
        """The resolved mix as the run samples it, e.g. `code-fn-easy 75%, tools-calculator-easy 25%` (envs
        at weight 0 left out), so a mix merged from inherited config files can be checked at a glance."""
        shares = sorted(((p, e) for e, p in zip(self.env_ids, self.probs, strict=True) if p > 0), reverse=True)
        return ", ".join(f"{e} {p:.0%}" for p, e in shares)

    def active_env_ids(self) -> list[str]:
        """The env configs this sampler can draw (weight above 0)."""
        return [e for e, p in zip(self.env_ids, self.probs, strict=True) if p > 0]

    def task(self, n: int) -> Task:
        """The n-th task (independent of any other call; its kind depends on the curriculum's state)."""
        rng = np.random.default_rng([self.seed, n])
        env_id = self.env_ids[int(rng.choice(len(self.env_ids), p=self.probs))]
        kind = self.curriculum.choose(env_id, rng) if self.curriculum is not None else None
        return Task(env_id=env_id, seed=self.seed_offset + n, index=n, task_kind=kind)

    def next(self) -> Task:
        """The task at the current position, then advance."""
        t = self.task(self.position)
        self.position += 1
        return t


def env_task_kinds(env_ids: list[str]) -> dict[str, tuple[str, ...]]:
    """The task kinds of each env config (`AgentEnv.task_kinds()`; empty for envs without kinds)."""
    kinds = {}
    for env_id in env_ids:
        env = environments.make(env_id)
        try:
            unwrapped = env.unwrapped
            kinds[env_id] = tuple(unwrapped.task_kinds()) if hasattr(unwrapped, "task_kinds") else ()
        finally:
            env.close()
    return kinds
