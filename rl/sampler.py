"""Multi-environment task sampling: which (env id, task seed) each group trains on.

Env ids and family names in `algo.env_mix` get weights (a family's weight is split evenly over its configs).
The n-th task is a pure function of (seed, n), so resuming at position n continues the exact sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import environments


@dataclass
class Task:
    """One group to train on."""

    env_id: str
    seed: int
    index: int


class TaskSampler:
    """Deterministic weighted sampling of env configs and fresh task seeds."""

    def __init__(self, env_mix: dict[str, float], seed: int = 0, seed_offset: int = 0, position: int = 0):
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

    def describe(self) -> str:
        """The resolved mix as the run samples it, e.g. `code-fn-easy 75%, tools-calculator-easy 25%` (envs
        at weight 0 left out), so a mix merged from inherited config files can be checked at a glance."""
        shares = sorted(((p, e) for e, p in zip(self.env_ids, self.probs, strict=True) if p > 0), reverse=True)
        return ", ".join(f"{e} {p:.0%}" for p, e in shares)

    def active_env_ids(self) -> list[str]:
        """The env configs this sampler can draw (weight above 0)."""
        return [e for e, p in zip(self.env_ids, self.probs, strict=True) if p > 0]

    def task(self, n: int) -> Task:
        """The n-th task (independent of any other call)."""
        rng = np.random.default_rng([self.seed, n])
        env_id = self.env_ids[int(rng.choice(len(self.env_ids), p=self.probs))]
        return Task(env_id=env_id, seed=self.seed_offset + n, index=n)

    def next(self) -> Task:
        """The task at the current position, then advance."""
        t = self.task(self.position)
        self.position += 1
        return t
