"""Asynchronous vs synchronous GRPO: the same config with max_staleness 0 and 2, side by side in one run, and
max_staleness 2 once more with the weight broadcast not overlapped with the next step (`algo.overlap_weight_sync`).

    .venv/bin/python benchmarks/async_vs_sync.py [--steps 4] [--policy DIR] [--workers 1]

Reports wall-clock for N steps, the reward at step N, and where the time goes (train, weight sync, waiting for
rollouts) for each setting, plus the speed ratios. The env mix includes the code sandbox, whose latency is what
asynchronous rollouts hide. `--policy` defaults to the random-init nemotron-h-tiny preset; pass an SFT
checkpoint for rewards that mean something.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import print_table, write_result

from rl.config.run import RunConfig
from rl.train import train

ENV_MIX = {"code-fn-easy": 1.0, "tools-calculator-easy": 1.0, "plan-blocksworld-3": 1.0}


def config(out: str, staleness: int, steps: int, policy: str, workers: int, overlap: bool = True) -> RunConfig:
    return RunConfig.model_validate(
        {
            "run": {
                "name": f"staleness{staleness}-{'overlap' if overlap else 'blocking'}",
                "output_dir": out,
                "seed": 0,
            },
            "policy": {"name_or_path": policy},
            "rollout": {
                "workers": workers,
                "group_size": 4,
                "sampling": {"max_new_tokens": 48, "max_total_tokens": 1024},
            },
            "algo": {
                "steps": steps,
                "groups_per_step": 4,
                "env_mix": ENV_MIX,
                "max_staleness": staleness,
                "overlap_weight_sync": overlap,
                "lr": 2e-5,
                "dynamic_sampling": False,
                "micro_batch_sequences": 8,
            },
            "ray": {"num_cpus": 4},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--policy", default="nemotron-h-tiny")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    import ray

    out = tempfile.mkdtemp()
    rows = []
    for staleness, overlap in ((0, True), (2, True), (2, False)):
        cfg = config(out, staleness, args.steps, args.policy, args.workers, overlap)
        t0 = time.perf_counter()
        result = train(cfg, progress=False)
        wall = time.perf_counter() - t0
        ray.shutdown()
        h = result.history
        rows.append(
            {
                "max_staleness": staleness,
                "weight_sync": "overlapped" if overlap else "blocking",
                "steps": len(h),
                "wall_s": wall,
                "step_s_mean": sum(r["time/step_s"] for r in h) / len(h),
                "train_s": sum(r["time/train_s"] for r in h),
                "sync_s": sum(r["time/sync_s"] for r in h),
                "idle_s": sum(r["time/idle_s"] for r in h),
                "reward_at_N": h[-1]["reward/mean"],
                "staleness_max": max(r["staleness/max"] for r in h),
            }
        )
        print(rows[-1], flush=True)
    ratio = rows[0]["wall_s"] / rows[1]["wall_s"]
    overlap_ratio = rows[2]["wall_s"] / rows[1]["wall_s"]
    print_table("async (max_staleness 2) vs sync (max_staleness 0); overlapped vs blocking weight sync", rows)
    print(
        f"speed-up of async over sync: {ratio:.2f}x; of the overlapped weight sync over the blocking one: "
        f"{overlap_ratio:.2f}x"
    )
    path = write_result(
        "async_vs_sync",
        {"steps": args.steps, "policy": args.policy, "workers": args.workers, "env_mix": ENV_MIX},
        {"rows": rows, "sync_over_async_wall": ratio, "blocking_over_overlapped_wall": overlap_ratio},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
