"""Training metrics: one record per step to JSONL and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class MetricsWriter:
    """Appends `metrics.jsonl` and writes TensorBoard scalars under `tensorboard/`."""

    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / "metrics.jsonl"
        self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, step: int, record: dict[str, Any]) -> None:
        """Log one step."""
        clean = {k: v for k, v in record.items() if isinstance(v, int | float | str | bool)}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        for k, v in clean.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                self.tb.add_scalar(k, v, step)
        self.tb.flush()

    def close(self) -> None:
        """Flush and close TensorBoard."""
        self.tb.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of a run's metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


ROLLING = 5
"""Fewest steps a run's trend window spans (`trend_window`)."""


def trend_window(n_steps: int) -> int:
    """Steps a trend over a run of `n_steps` averages: a tenth of the run, at least `ROLLING`, since one step holds
    only a few groups (the reward plot's rolling mean, `rl.health`'s entropy windows)."""
    return max(ROLLING, n_steps // 10)


def series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of `key` over the records that log it as a number."""
    pts = [(r["step"], float(r[key])) for r in records if key in r and isinstance(r[key], int | float)]
    return [s for s, _ in pts], [v for _, v in pts]
