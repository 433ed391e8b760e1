"""Bounded staleness by admission: which groups may start, and which must be in the next batch.

With B groups per optimizer step and bound s, a group may start while the learner is at version V only if
fewer than (V + s + 1) * B + dropped groups have been admitted (dropped: groups discarded by dynamic sampling).
Groups are consumed in the order of the version that generated them: the learner waits for a straggler of
the oldest version rather than training past it (it is never discarded, so long-tailed episodes are not
starved). The groups of versions <= u number at most (u + s + 1) * B (plus dropped ones), so consuming B per
step in version order uses them all up by the step at version u + s. Hence the staleness
V - (version that generated a consumed group) <= s, always; s = 0 is synchronous, exactly on-policy training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StalenessController:
    """Admission and batch-selection rules for `max_staleness` (pure bookkeeping, no Ray)."""

    groups_per_step: int
    max_staleness: int
    admitted: int = 0
    dropped: int = 0
    consumed: int = 0
    staleness_seen: list[int] = field(default_factory=list)

    def can_admit(self, version: int) -> bool:
        """May a new group start now, with the learner (and workers) at `version`?"""
        return self.admitted < (version + self.max_staleness + 1) * self.groups_per_step + self.dropped

    def admit(self) -> None:
        """Record that a group started."""
        self.admitted += 1

    def drop(self) -> None:
        """A finished group was discarded (no learning signal); its slot is free again."""
        self.dropped += 1

    def record_batch(self, gen_versions: list[int], learner_version: int) -> list[int]:
        """Record a trained batch; returns the staleness of each group and checks the bound."""
        st = [learner_version - v for v in gen_versions]
        if any(x > self.max_staleness for x in st):
            raise AssertionError(f"staleness {max(st)} exceeds max_staleness {self.max_staleness}")
        self.consumed += len(gen_versions)
        self.staleness_seen += st
        return st

    def select_batch(
        self, ready: Sequence[tuple[Any, int]], in_flight_versions: Sequence[int], learner_version: int
    ) -> list[Any] | None:
        """Pick the batch to train at `learner_version` from finished groups `ready` ((key, gen_version) pairs,
        in arrival order), or None when the learner must wait.

        Groups are consumed in order of the version that generated them: a group of version v joins a batch only
        when no group of an older version is still unconsumed outside that batch. Within a version, arrival
        order. So the learner waits for a straggler of the oldest version rather than training past it.
        """
        by_version: dict[int, list[Any]] = {}
        for key, v in ready:
            by_version.setdefault(v, []).append(key)
        running = set(in_flight_versions)
        batch: list[Any] = []
        for v in sorted(set(by_version) | running):
            batch += by_version.get(v, [])[: self.groups_per_step - len(batch)]
            if len(batch) == self.groups_per_step:
                return batch
            if v in running:
                return None
        return None
