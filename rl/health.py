"""Training-health checks over a GRPO run's step records: a policy whose rollouts drift towards random text.

Without a KL term (`loss.kl_beta: 0`) and with one update per batch, nothing in a GRPO step bounds how far the
policy moves: the clip never binds because the proximal policy is the current one. A run can then drift into
ever more random samples, its per-token entropy rising several-fold while its answers degenerate (measured in
docs/training.md: 0.12 -> 0.69 over 142 steps, code pass@1 0.57 -> 0.40). `entropy_rise` names that from the
logged `entropy` metric, so the run can warn while it happens and the quickstart report can say so at the end.
The thresholds are deliberately simple (a ratio and an absolute rise between the first and the latest window),
set from the measured runs: healthy ones moved between 0.05 and 0.15.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rl.metrics import series, trend_window

ENTROPY_RATIO = 2.0
"""The latest window's mean entropy must be at least this many times the first window's..."""
ENTROPY_MIN_RISE = 0.15
"""...and at least this much higher (nats per token), so that small entropies doubling is not flagged."""


@dataclass(frozen=True)
class EntropyRise:
    """The rollouts' mean per-token entropy at the start and at the latest steps of a run."""

    first: float
    latest: float
    window: int
    """Steps in each window."""
    step: int
    """The latest step looked at."""

    def message(self) -> str:
        """A warning for the log and the report."""
        return (
            f"the policy's per-token entropy rose from {self.first:.2f} (first {self.window} steps) to "
            f"{self.latest:.2f} (the {self.window} steps to step {self.step}): its samples are drifting towards "
            "random text, which has cost held-out pass@1 in measured runs; a KL term (loss.kl_beta, e.g. 0.05-0.1) "
            "or a lower algo.lr bounds how far each step moves the policy (docs/training.md)"
        )


def entropy_rise(
    history: Sequence[dict[str, Any]],
    ratio: float = ENTROPY_RATIO,
    min_rise: float = ENTROPY_MIN_RISE,
) -> EntropyRise | None:
    """The entropy rise of a run, or None while its latest window stays within `ratio` and `min_rise` of its first.

    `history` holds the step records in order (as in `metrics.jsonl`); records without an `entropy` value are
    skipped. Each window is `rl.metrics.trend_window` of the steps so far; fewer than two windows give None."""
    steps, values = series(list(history), "entropy")
    window = trend_window(len(values))
    if len(values) < 2 * window:
        return None
    first = sum(values[:window]) / window
    latest = sum(values[-window:]) / window
    if latest >= ratio * first and latest - first >= min_rise:
        return EntropyRise(first=first, latest=latest, window=window, step=int(steps[-1]))
    return None
