"""Trainer callbacks of the SFT stage: loss curves to JSONL and TensorBoard, and a wall-clock training budget.

Under data-parallel training every process runs these callbacks; only the first process writes curves, and the
budget's clock is agreed on by all processes after every step (the slowest one's), so they stop at the same step
and follow the same learning-rate schedule.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class MetricsCallback(TrainerCallback):
    """Append every log (loss, learning rate, grad norm per logged step) to a JSONL file and to TensorBoard."""

    def __init__(self, jsonl_path: str | Path, tensorboard_dir: str | Path | None = None):
        self.jsonl_path = Path(jsonl_path)
        self.tensorboard_dir = Path(tensorboard_dir) if tensorboard_dir is not None else None
        self._writer: Any = None
        self._t0 = time.perf_counter()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._t0 = time.perf_counter()
        if not state.is_world_process_zero:
            return
        self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
        self.jsonl_path.write_text("")
        if self.tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.tensorboard_dir))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        logs = dict(logs or {})
        record = {
            "step": state.global_step,
            "epoch": state.epoch,
            "elapsed_s": round(time.perf_counter() - self._t0, 3),
        }
        record.update({k: v for k, v in logs.items() if isinstance(v, int | float | str)})
        with self.jsonl_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in logs.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    self._writer.add_scalar(f"sft/{key}", value, state.global_step)
            self._writer.flush()

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _world_max(value: float, device: Any) -> float:
    """The largest `value` over the processes of a data-parallel run (the value itself in a single process)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


class TimeBudgetCallback(TrainerCallback):
    """Stop training once `budget_s` seconds have passed since the first step began (checked after each step)."""

    def __init__(self, budget_s: float | None):
        self.budget_s = budget_s
        self.start: float | None = None
        self.stopped_early = False
        self._agreed: float | None = None

    def elapsed(self) -> float:
        """Seconds since training began (0 before it does). In a data-parallel run: the seconds all processes
        agreed on after the last step, so every process sees the same value."""
        if self._agreed is not None:
            return self._agreed
        return 0.0 if self.start is None else time.perf_counter() - self.start

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self.start = time.perf_counter()
        self._agreed = 0.0 if args.world_size > 1 else None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if args.world_size > 1:
            self._agreed = _world_max(time.perf_counter() - (self.start or time.perf_counter()), args.device)
        if self.budget_s is not None and self.elapsed() >= self.budget_s:
            self.stopped_early = state.global_step < state.max_steps
            control.should_training_stop = True
