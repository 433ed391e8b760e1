"""Atomic checkpoints: written to a temporary folder, then renamed; the last K are kept.

A checkpoint folder `checkpoints/step-000012/` is a Hugging Face model directory (loadable by transformers,
vLLM and `agentrl eval`) plus `learner_state.pt` (optimizer, scheduler, RNG states, version) and
`training_state.json` (step, version, sampler position, counters). A folder only gets its final name once
everything in it is written, so a crash mid-write leaves the previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

TRAINING_STATE = "training_state.json"
PREFIX = "step-"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Final folder of the checkpoint at `step`."""
    return run_dir / "checkpoints" / f"{PREFIX}{step:06d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / TRAINING_STATE).is_file()]
    return sorted(done, key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def tmp_dir(run_dir: Path, step: int) -> Path:
    """A fresh temporary folder for writing the checkpoint at `step`."""
    tmp = run_dir / "checkpoints" / f".tmp-{PREFIX}{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit(tmp: Path, run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write the training state into `tmp`, rename it into place, delete checkpoints beyond the last `keep`."""
    (tmp / TRAINING_STATE).write_text(json.dumps(state, indent=2, sort_keys=True))
    with open(tmp / TRAINING_STATE, "rb") as f:
        os.fsync(f.fileno())
    final = checkpoint_dir(run_dir, step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in (run_dir / "checkpoints").glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def read_state(ckpt: Path) -> dict[str, Any]:
    """The training state of a checkpoint."""
    return json.loads((ckpt / TRAINING_STATE).read_text())
