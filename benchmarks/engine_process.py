"""The rollout worker's engine on a thread of its process (`rollout.engine_process: false`) against in its own
process (`true`, the shipped default), in one run.

    .venv/bin/python benchmarks/engine_process.py [--policy runs/sft-tiny/checkpoint] [--groups 16] [--repeats 2]

One `RolloutWorkerImpl` (no Ray), like grpo-tiny's: one engine thread, groups of 8 over grpo-tiny's env mix
(code-fn-easy 6 : tools-calculator-easy 1 : plan-blocksworld-3 1), all groups in flight at once. The two
settings alternate `--repeats` times. Reported: episodes/s, the engine's mean decode step (its forward pass
plus sampling share the GIL with the agent loops when on a thread) and the speedup of the process. Random init
(the default) writes to the token budget in every turn; an SFT checkpoint (`--policy`) gives a trained policy's
turn lengths and code that runs in the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import policy_dir, print_table, write_result

from rollout.config import RolloutConfig
from rollout.worker import RolloutWorkerImpl

MIX = ["code-fn-easy"] * 6 + ["tools-calculator-easy", "plan-blocksworld-3"]


async def play(worker: RolloutWorkerImpl, groups: int, offset: int) -> list:
    runs = [worker.run_group(MIX[i % len(MIX)], 5000 + offset + i, sample_seed=i) for i in range(groups)]
    return [t for group in await asyncio.gather(*runs) for t in group]


def measure(path: str, process: bool, groups: int, offset: int) -> dict:
    cfg = RolloutConfig(
        engine="transformers",
        engine_process=process,
        engine_threads=1,
        group_size=8,
        sampling={"temperature": 1.0, "max_new_tokens": 160, "max_total_tokens": 1536},
    )
    worker = RolloutWorkerImpl(path, cfg)

    async def timed() -> tuple[dict, float, list, dict]:
        await play(worker, 1, 10_000)  # warm-up: first forward passes, sandbox start
        before = await worker.engine_stats()
        t0 = time.perf_counter()
        trajs = await play(worker, groups, offset)
        return before, time.perf_counter() - t0, trajs, await worker.engine_stats()

    try:
        before, dt, trajs, stats = asyncio.run(timed())
    finally:
        worker.shutdown()
    steps = stats["decode_steps"] - before["decode_steps"]
    return {
        "engine": "own process" if process else "worker thread",
        "seconds": dt,
        "episodes_per_s": len(trajs) / dt,
        "gen_tokens_per_s": sum(t.generated_tokens for t in trajs) / dt,
        "decode_ms_per_step": 1000 * (stats["decode_s"] - before["decode_s"]) / max(1, steps),
        "mean_rows_per_step": (stats["row_steps"] - before["row_steps"]) / max(1, steps),
        "env_s_per_episode": sum(t.env_s for t in trajs) / len(trajs),
        "mean_reward": sum(t.reward for t in trajs) / len(trajs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default=None, help="checkpoint directory (default: random-init nemotron-h-tiny)")
    parser.add_argument("--groups", type=int, default=16, help="groups of 8 episodes per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    path = str(policy_dir(args.policy))
    rows = []
    for r in range(args.repeats):
        for process in (False, True):
            rows.append(measure(path, process, args.groups, 1000 * r))
            print(rows[-1], flush=True)
    thread = [x for x in rows if x["engine"] == "worker thread"]
    proc = [x for x in rows if x["engine"] == "own process"]
    summary = {
        "speedup_episodes_per_s": sum(p["episodes_per_s"] for p in proc) / sum(t["episodes_per_s"] for t in thread),
        "decode_step_ratio_thread_over_process": sum(t["decode_ms_per_step"] for t in thread)
        / sum(p["decode_ms_per_step"] for p in proc),
    }
    print_table("rollout worker: engine on a thread vs in its own process", rows)
    print(summary)
    out = write_result(
        "engine_process",
        {"policy": str(args.policy or "random-init nemotron-h-tiny"), "groups": args.groups, "mix": MIX},
        {"rows": rows, **summary},
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
