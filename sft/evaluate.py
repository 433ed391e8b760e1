"""Pass@1 of a checkpoint directory on held-out seeds, through the rollout path (agent loop + transformers engine).

    report = evaluate_checkpoint("runs/x/checkpoint", ["tools-calculator-easy"], range(1_000_000, 1_000_032))

Per env config: pass@1 (fraction of episodes with `success`), mean reward, parse-error rate (assistant turns whose
tool calls did not parse / all assistant turns), the fraction of episodes with any parse error, mean turns and
generated tokens, and how episodes ended. Per family: the same, pooled over its env configs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rollout.config import SamplingConfig
from rollout.trajectory import Trajectory


def summarize(trajs: list[Trajectory]) -> dict[str, Any]:
    """Metrics of a set of episodes."""
    n = len(trajs)
    turns = sum(t.turns for t in trajs)
    return {
        "episodes": n,
        "pass@1": sum(t.success for t in trajs) / n if n else 0.0,
        "mean_reward": sum(t.reward for t in trajs) / n if n else 0.0,
        "parse_error_rate": sum(t.parse_errors for t in trajs) / turns if turns else 0.0,
        "episodes_with_parse_error": sum(t.parse_errors > 0 for t in trajs) / n if n else 0.0,
        "mean_turns": turns / n if n else 0.0,
        "mean_generated_tokens": sum(t.generated_tokens for t in trajs) / n if n else 0.0,
        "tool_calls_per_episode": sum(t.tool_calls for t in trajs) / n if n else 0.0,
        "finish": dict(Counter(t.finish or "error" for t in trajs)),
    }


async def _play_all(path: Path, jobs: list[tuple[str, int]], sampling: SamplingConfig, batch: int) -> list[Trajectory]:
    import environments
    from rl.policy.build import load_tokenizer
    from rollout.agent_loop import ChatRenderer, run_episode
    from rollout.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(path, max_batch=batch)
    renderer = ChatRenderer(load_tokenizer(path))
    gate = asyncio.Semaphore(batch)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sft-eval-env")

    async def one(env_id: str, seed: int) -> Trajectory:
        async with gate:
            env = environments.make(env_id)
            return await run_episode(engine, env, renderer, sampling, env_id, seed, env_pool=pool, sample_seed=seed)

    try:
        return list(await asyncio.gather(*(one(e, s) for e, s in jobs)))
    finally:
        engine.close()
        pool.shutdown(wait=False, cancel_futures=True)


def evaluate_checkpoint(
    path: str | Path,
    env_ids: Iterable[str],
    seeds: Iterable[int],
    sampling: SamplingConfig | None = None,
    batch: int = 32,
) -> dict[str, Any]:
    """Play every (env, seed) episode with the checkpoint at `path`; return per-env and per-family metrics."""
    import environments

    env_ids, seeds = list(env_ids), list(seeds)
    sampling = sampling or SamplingConfig(temperature=0.01)
    jobs = [(e, s) for e in env_ids for s in seeds]
    t0 = time.perf_counter()
    trajs = asyncio.run(_play_all(Path(path), jobs, sampling, batch))
    by_env: dict[str, list[Trajectory]] = defaultdict(list)
    by_family: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        by_env[t.env_id].append(t)
        by_family[environments.spec(t.env_id).family].append(t)
    return {
        "checkpoint": str(path),
        "seeds": {"first": seeds[0], "count": len(seeds)} if seeds else {"count": 0},
        "sampling": sampling.model_dump(),
        "envs": {e: summarize(by_env[e]) for e in env_ids},
        "families": {f: summarize(ts) for f, ts in sorted(by_family.items())},
        "overall": summarize(trajs),
        "seconds": round(time.perf_counter() - t0, 2),
        "examples": {e: _example(by_env[e][0]) for e in env_ids if by_env[e]},
    }


def _example(t: Trajectory) -> dict[str, Any]:
    """The transcript of one episode, trimmed (to see what the policy writes)."""
    msgs = [{k: (str(v)[:400] if k == "content" else v) for k, v in m.items()} for m in t.messages[-4:]]
    return {"seed": t.seed, "success": t.success, "reward": t.reward, "last_messages": msgs}
