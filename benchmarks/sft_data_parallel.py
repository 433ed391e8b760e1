"""Sequences per second of SFT in one process against `sft.num_processes` data-parallel processes, same cores.

    .venv/bin/python benchmarks/sft_data_parallel.py [--seconds 40] [--config configs/sft-tiny.yaml]

Trains `configs/sft-tiny.yaml` for `--seconds` of optimisation three ways, one after another: one process on
every core (threads), `--processes` DDP processes with cores/processes threads each at the same per-process
batch (so a step sees processes x more sequences), and the same processes at batch / processes (the same
sequences per step as one process). Reports steps, sequences and sequences per second, with each variant's
ratio to the single process. No evaluation: this measures throughput only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from common import ROOT, print_table, write_result


def run(config: str, seconds: float, processes: int, threads: int, batch: int) -> dict[str, Any]:
    """One time-budgeted SFT run; its throughput."""
    from rl.config.loader import load_config
    from sft.trainer import run_sft

    work = tempfile.mkdtemp(prefix="agentrl-sft-dp-")
    overrides = [
        f"run.output_dir={work}",
        "sft.eval_seeds=0",
        f"sft.time_budget_s={seconds}",
        f"sft.num_processes={processes}",
        f"sft.torch_threads={threads}",
        f"sft.batch_size={batch}",
    ]
    cfg = load_config(config, overrides)
    t0 = time.perf_counter()
    result = run_sft(cfg, log=lambda _: None)
    sequences = result.steps * batch * processes * cfg.sft.grad_accum
    return {
        "processes": processes,
        "threads_each": threads,
        "batch_each": batch,
        "steps": result.steps,
        "sequences": sequences,
        "train_s": round(result.train_s, 1),
        "sequences_per_s": sequences / result.train_s,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "sft-tiny.yaml"))
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    from rl.config.loader import load_config

    batch = load_config(args.config).sft.batch_size
    cores = os.cpu_count() or 1
    each = max(1, cores // args.processes)
    rows = [run(args.config, args.seconds, 1, cores, batch)]
    rows.append(run(args.config, args.seconds, args.processes, each, batch))
    if batch % args.processes == 0:
        rows.append(run(args.config, args.seconds, args.processes, each, batch // args.processes))
    base = rows[0]["sequences_per_s"]
    for row in rows:
        row["vs_one_process"] = row["sequences_per_s"] / base
    print_table("SFT throughput: one process vs data-parallel processes", rows)
    path = write_result("sft_data_parallel", vars(args), {"rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
