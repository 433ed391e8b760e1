"""Rollout throughput: episodes/s and generated tokens/s per engine, single- vs multi-turn, 1 vs 2 workers,
and per-episode asynchronous scheduling vs lock-step per-turn batching, all in one run.

    .venv/bin/python benchmarks/rollout_throughput.py [--episodes 16] [--skip-vllm]

- engines: transformers on nemotron-h-tiny, vLLM (CPU build here) on granite-hybrid-tiny, random init;
- single-turn: tools-calculator-easy; multi-turn: plan-maze-5 (non-move replies get feedback, so episodes run
  until the token budget);
- async: every episode advances on its own (what RolloutWorker does); lock-step: all episodes generate turn t
  together, then all env steps run, then turn t+1 (a synchronous rollout loop);
- 1 vs 2 workers: Ray RolloutWorker actors through RolloutPool (async scheduling).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import tempfile
import time
from pathlib import Path

from common import print_table, write_result

import environments
from rl.policy.build import load_policy, save_policy
from rl.policy.config import PolicyConfig
from rollout.agent_loop import ChatRenderer, run_episode, to_action
from rollout.config import RolloutConfig, SamplingConfig, VllmOptions
from rollout.engines.base import GenParams

SAMPLING = SamplingConfig(max_new_tokens=32, max_total_tokens=1100)
ENVS = {"single-turn": "tools-calculator-easy", "multi-turn": "plan-maze-5"}


async def run_async(engine, renderer, env_id: str, n: int, pool) -> list:
    return await asyncio.gather(
        *[
            run_episode(engine, environments.make(env_id), renderer, SAMPLING, env_id, s, pool, sample_seed=s)
            for s in range(n)
        ]
    )


async def run_lockstep(engine, renderer, env_id: str, n: int, pool) -> list[int]:
    """All episodes take turn t together; returns generated tokens per episode."""
    loop = asyncio.get_running_loop()
    envs = [environments.make(env_id) for _ in range(n)]
    starts = await asyncio.gather(
        *[loop.run_in_executor(pool, lambda e=e, s=s: e.reset(seed=s)) for s, e in enumerate(envs)]
    )
    state = []
    for obs, info in starts:
        hist = list(obs)
        state.append(
            {
                "hist": hist,
                "tools": info["tools"],
                "ids": renderer.prompt_ids(hist, info["tools"]),
                "done": False,
                "gen": 0,
            }
        )
    while True:
        active = [s for s in state if not s["done"]]
        if not active:
            return [s["gen"] for s in state]
        gens = await asyncio.gather(
            *[
                engine.generate(
                    s["ids"],
                    GenParams(max_new_tokens=min(SAMPLING.max_new_tokens, SAMPLING.max_total_tokens - len(s["ids"]))),
                )
                for s in active
            ]
        )
        steps = []
        for s, g in zip(active, gens, strict=True):
            s["ids"] = s["ids"] + g.token_ids
            s["gen"] += len(g.token_ids)
            action, message, _ = to_action(renderer.decode(g.token_ids))
            s["hist"].append(message)
            steps.append(loop.run_in_executor(pool, envs[state.index(s)].step, action))
        results = await asyncio.gather(*steps)
        for s, (obs, _r, term, trunc, _i) in zip(active, results, strict=True):
            if term or trunc:
                s["done"] = True
                continue
            more = renderer.observation_ids(s["hist"], obs, s["tools"])
            s["hist"] += obs
            s["ids"] = s["ids"] + more
            if len(s["ids"]) + 1 >= SAMPLING.max_total_tokens:
                s["done"] = True


def bench_engine(name: str, engine, tok, n: int) -> list[dict]:
    renderer = ChatRenderer(tok)
    pool = concurrent.futures.ThreadPoolExecutor(4)
    rows = []
    for kind, env_id in ENVS.items():
        for mode in ("async", "lock-step"):
            t0 = time.perf_counter()
            if mode == "async":
                trajs = asyncio.run(run_async(engine, renderer, env_id, n, pool))
                tokens = sum(t.generated_tokens for t in trajs)
            else:
                tokens = sum(asyncio.run(run_lockstep(engine, renderer, env_id, n, pool)))
            dt = time.perf_counter() - t0
            rows.append(
                {
                    "engine": name,
                    "episodes": kind,
                    "scheduling": mode,
                    "workers": 1,
                    "seconds": dt,
                    "episodes_per_s": n / dt,
                    "gen_tokens_per_s": tokens / dt,
                }
            )
            print(rows[-1], flush=True)
    return rows


def bench_workers(path: Path, n: int) -> list[dict]:
    import ray

    from rollout.pool import GroupTask, RolloutPool

    rows = []
    for workers in (1, 2):
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
        cfg = RolloutConfig(workers=workers, group_size=4, sampling=SAMPLING, engine="transformers")
        pool = RolloutPool(path, cfg)
        for kind, env_id in ENVS.items():
            t0 = time.perf_counter()
            results = list(pool.run([GroupTask(env_id, s) for s in range(n // 4)]))
            dt = time.perf_counter() - t0
            tokens = sum(t.generated_tokens for r in results for t in r.trajectories)
            rows.append(
                {
                    "engine": "transformers",
                    "episodes": kind,
                    "scheduling": "async (Ray)",
                    "workers": workers,
                    "seconds": dt,
                    "episodes_per_s": n / dt,
                    "gen_tokens_per_s": tokens / dt,
                }
            )
            print(rows[-1], flush=True)
        pool.shutdown()
        ray.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    from rollout.engines.transformers_engine import TransformersEngine

    tmp = Path(tempfile.mkdtemp())
    paths = {}
    for preset in ("nemotron-h-tiny", "granite-hybrid-tiny"):
        model, tok = load_policy(PolicyConfig(name_or_path=preset))
        paths[preset] = save_policy(model, tok, tmp / preset)
    rows = bench_engine("transformers", TransformersEngine(paths["nemotron-h-tiny"]), tok, args.episodes)
    if not args.skip_vllm:
        from rollout.engines.vllm_engine import VllmEngine

        rows += bench_engine(
            "vllm", VllmEngine(paths["granite-hybrid-tiny"], VllmOptions(max_model_len=2048)), tok, args.episodes
        )
    rows += bench_workers(paths["nemotron-h-tiny"], args.episodes)
    print_table("rollout throughput (random-init policies)", rows)
    path = write_result(
        "rollout_throughput", {"episodes": args.episodes, "sampling": SAMPLING.model_dump(), "envs": ENVS}, rows
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
