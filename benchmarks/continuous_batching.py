"""Continuous batching in the transformers engine: the same episodes with requests joining the running batch
(`continuous=True`, the shipped default) and with every new request waiting until the batch has drained
(`continuous=False`, micro-batching), in one run.

    .venv/bin/python benchmarks/continuous_batching.py [--policy runs/sft-tiny/checkpoint] [--episodes 256]

The episodes are grpo-tiny's mix (code-fn-easy 6 : tools-calculator-easy 1 : plan-blocksworld-3 1) at its
sampling settings, 64 in flight on one engine thread, like one rollout worker. Random init (the default policy)
writes until the token budget in every turn, so the lengths a trained policy varies are best seen with an SFT
checkpoint (`--policy`); docs/training.md records that run.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import time

import torch
from common import policy_dir, print_table, write_result
from transformers import AutoTokenizer

import environments
from rollout.agent_loop import ChatRenderer, run_episode
from rollout.config import SamplingConfig
from rollout.engines.transformers_engine import TransformersEngine

SAMPLING = SamplingConfig(temperature=1.0, max_new_tokens=160, max_total_tokens=1536)
MIX = ["code-fn-easy"] * 6 + ["tools-calculator-easy", "plan-blocksworld-3"]
IN_FLIGHT = 64


async def play(engine: TransformersEngine, renderer: ChatRenderer, n: int, pool) -> list:
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int):
        env_id = MIX[i % len(MIX)]
        async with slots:
            env = environments.make(env_id)
            try:
                return await run_episode(engine, env, renderer, SAMPLING, env_id, 1000 + i, pool, sample_seed=i)
            finally:
                env.close()

    return await asyncio.gather(*[one(i) for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default=None, help="checkpoint directory (default: random-init nemotron-h-tiny)")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--max-batch", type=int, nargs="+", default=[64, 32], help="engine batch limits to compare")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = policy_dir(args.policy)
    renderer = ChatRenderer(AutoTokenizer.from_pretrained(path, local_files_only=True))
    pool = concurrent.futures.ThreadPoolExecutor(8)
    rows = []
    for continuous, max_batch in [(c, b) for b in args.max_batch for c in (False, True)]:
        engine = TransformersEngine(path, max_batch=max_batch, continuous=continuous)
        t0 = time.perf_counter()
        trajs = asyncio.run(play(engine, renderer, args.episodes, pool))
        dt = time.perf_counter() - t0
        tokens = sum(t.generated_tokens for t in trajs)
        s = engine.stats
        rows.append(
            {
                "batching": "continuous" if continuous else "drain first",
                "max_batch": max_batch,
                "seconds": dt,
                "episodes_per_s": len(trajs) / dt,
                "gen_tokens_per_s": tokens / dt,
                "mean_rows_per_step": s["row_steps"] / max(1, s["decode_steps"]),
                "decode_steps": s["decode_steps"],
                "prefill_s": s["prefill_s"],
                "decode_s": s["decode_s"],
                "mean_reward": sum(t.reward for t in trajs) / len(trajs),
            }
        )
        print(rows[-1], flush=True)
        engine.close()
    for drain, cont in zip(rows[::2], rows[1::2], strict=True):
        cont["speedup_vs_drain_first"] = drain["seconds"] / cont["seconds"]
    print_table("transformers engine: continuous batching vs drain first", rows)
    out = write_result(
        "continuous_batching",
        {"policy": str(args.policy or "random-init nemotron-h-tiny"), "episodes": args.episodes, "mix": MIX},
        rows,
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
