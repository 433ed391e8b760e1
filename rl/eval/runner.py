"""Run an evaluation: every (env config, held-out seed) task played n times through the rollout path.

    result = evaluate("runs/sft/checkpoint", ["tools", "plan-maze-5"], range(1_000_000, 1_000_016), n=4, k=2)

`target` is what plays the episodes:
- a checkpoint directory: a `RolloutPool` of Ray rollout workers is started for it (engine auto: vLLM where it
  can serve the policy, transformers otherwise) and shut down afterwards (Ray is started locally if needed);
- a running `RolloutPool` (e.g. the trainer's): its workers play the eval groups next to whatever else they
  are doing, with the eval sampling parameters, without touching the pool's own in-flight bookkeeping;
- any object with the rollout worker's async `run_group` (e.g. a `RolloutWorkerImpl`): played in-process, no Ray.

`evaluate_checkpoints` evaluates several checkpoints of one architecture (a run's stages) on one pool, loading
each next checkpoint's weights the way a weight sync does in training, instead of starting a pool per checkpoint.

Each task seed is one group of n samples with a sampling seed derived from (sample_seed, env id, seed), so a
rerun asks the engine for the same samples (the transformers engine honours per-request seeds; vLLM's CPU build
ignores them).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rl.eval.metrics import Episode, kind_pass1, summarize
from rollout.config import RolloutConfig, SamplingConfig


@runtime_checkable
class GroupRunner(Protocol):
    """Plays a group of episodes in-process (the protocol of `rollout.worker.RolloutWorkerImpl.run_group`)."""

    async def run_group(
        self,
        env_id: str,
        seed: int,
        group_size: int | None = None,
        group_id: str = "",
        sample_seed: int | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Return `group_size` trajectories of task `seed` of `env_id`."""
        ...


@dataclass
class EvalResult:
    """The evaluation of one checkpoint."""

    name: str
    checkpoint: str
    env_ids: list[str]
    seeds: list[int]
    n: int
    k: int
    sampling: dict[str, Any]
    envs: dict[str, dict[str, Any]]
    """Metrics per env config (see `rl.eval.metrics.summarize`)."""
    families: dict[str, dict[str, Any]]
    """Metrics per family, pooled over its env configs."""
    overall: dict[str, Any]
    """Metrics over everything."""
    seconds: float
    engines: list[dict[str, Any]] = field(default_factory=list)
    """What served the policy (per rollout worker: engine, reason)."""
    policy_versions: list[int] = field(default_factory=list)
    """The rollout workers' policy versions (in-training evaluation)."""
    kinds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """pass@1 per task kind, for env configs whose tasks come in kinds: env id -> kind -> tasks, episodes,
    successes, pass@1 (see `rl.eval.metrics.kind_pass1`)."""
    episodes: list[Episode] = field(default_factory=list)
    """Every episode with its transcript, in (env, seed, sample) order."""

    def as_dict(self, episodes: bool = False) -> dict[str, Any]:
        """JSON-friendly form (without the episode transcripts unless asked)."""
        out = {
            "name": self.name,
            "checkpoint": self.checkpoint,
            "env_ids": self.env_ids,
            "seeds": self.seeds,
            "n": self.n,
            "k": self.k,
            "sampling": self.sampling,
            "envs": self.envs,
            "families": self.families,
            "overall": self.overall,
            "seconds": round(self.seconds, 3),
            "engines": self.engines,
            "policy_versions": self.policy_versions,
            "kinds": self.kinds,
        }
        if episodes:
            from dataclasses import asdict

            out["episodes"] = [asdict(e) for e in self.episodes]
        return out

    def scalars(self, prefix: str = "eval") -> dict[str, float]:
        """Flat scalars for a metrics logger (TensorBoard, JSONL): pass@1, pass@k, reward per env/family/all."""
        out: dict[str, float] = {}
        groups = [("all", self.overall), *self.families.items(), *self.envs.items()]
        for key, m in groups:
            for metric in ("pass@1", "pass@k", "mean_reward", "parse_error_rate", "mean_turns"):
                if m.get(metric) is not None:
                    out[f"{prefix}/{key}/{metric.replace('@k', f'@{self.k}')}"] = float(m[metric])
        return out


def sample_seed_for(base: int, env_id: str, seed: int) -> int:
    """The sampling seed of task (env_id, seed): distinct per env and seed, small enough for the engines'
    derived per-sample, per-turn seeds."""
    return ((base * 100_003 + zlib.crc32(env_id.encode()) % 100_003) * 10_000_000 + seed) % (1 << 40)


def _sampling_dict(rollout_cfg: RolloutConfig, sampling: SamplingConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(sampling, SamplingConfig):
        return sampling.model_dump()
    merged = rollout_cfg.sampling.model_copy(update=dict(sampling or {}))
    return SamplingConfig.model_validate(merged.model_dump()).model_dump()


def evaluate(
    target: Any,
    env_ids: Iterable[str],
    seeds: Iterable[int],
    n: int,
    k: int,
    rollout_cfg: RolloutConfig | None = None,
    *,
    sampling: SamplingConfig | Mapping[str, Any] | None = None,
    sample_seed: int = 0,
    name: str | None = None,
    dtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Evaluate `target` (a checkpoint directory, a running RolloutPool, or a GroupRunner) on every env id or
    family in `env_ids` and every task seed in `seeds`, n samples per task; returns metrics and transcripts.

    `sampling` replaces fields of `rollout_cfg.sampling` (e.g. {"temperature": 0.7}); `rollout_cfg` defaults to
    the pool's (or worker's) own config, else `RolloutConfig()`. `progress(done, total)` is called as task groups
    finish. Raises UnknownEnvError for an unknown env id or family."""
    import environments

    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    ids = environments.resolve_ids(list(env_ids))
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no eval seeds")
    from rollout.pool import RolloutPool

    own_cfg = getattr(target, "cfg", None) if isinstance(target, RolloutPool | GroupRunner) else None
    cfg = rollout_cfg or (own_cfg if isinstance(own_cfg, RolloutConfig) else RolloutConfig())
    params = _sampling_dict(cfg, sampling)
    tasks = [(e, s) for e in ids for s in seeds]
    t0 = time.perf_counter()
    engines: list[dict[str, Any]] = []
    versions: list[int] = []
    if isinstance(target, RolloutPool):
        groups = _run_on_pool(target, tasks, n, params, sample_seed, progress)
        engines, versions = list(target.infos), target.versions()
        label = name or "policy"
        where = f"rollout pool (policy versions {versions})"
    elif isinstance(target, GroupRunner):
        groups = asyncio.run(_run_local(target, tasks, n, params, sample_seed, progress))
        info = getattr(target, "info", None)
        engines = [info()] if callable(info) else []
        label = name or type(target).__name__
        where = label
    else:
        path = Path(target)
        groups, engines, versions = _run_on_new_pool(path, cfg, tasks, n, params, sample_seed, dtype, progress)
        label = name or path.name
        where = str(path)
    episodes = [Episode.from_trajectory(traj, i) for e, s in tasks for i, traj in enumerate(groups[(e, s)])]
    return build_result(label, where, ids, seeds, n, k, params, episodes, time.perf_counter() - t0, engines, versions)


def episodes_by_family(episodes: Iterable[Episode]) -> dict[str, list[Episode]]:
    """Episodes grouped by their env config's family."""
    import environments

    out: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        out[environments.spec(e.env_id).family].append(e)
    return dict(out)


def paired_changes(before: EvalResult, after: EvalResult) -> dict[str, dict[str, dict[str, Any]]]:
    """`after`'s pass@1 minus `before`'s, per env config and per family, paired over the held-out tasks both
    played (`rl.eval.metrics.paired_difference`): {"envs": {id: change}, "families": {name: change}}, each change
    {"tasks", "difference", "ci95"}. Envs or families only one side played are left out."""
    from rl.eval.metrics import paired_difference

    out: dict[str, dict[str, dict[str, Any]]] = {"envs": {}, "families": {}}
    for part, group in (("envs", _episodes_by_env), ("families", episodes_by_family)):
        a, b = group(before.episodes), group(after.episodes)
        for key in sorted(set(a) & set(b)):
            change = paired_difference(a[key], b[key])
            if change["tasks"]:
                out[part][key] = change
    return out


def _episodes_by_env(episodes: Iterable[Episode]) -> dict[str, list[Episode]]:
    out: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        out[e.env_id].append(e)
    return dict(out)


def build_result(
    name: str,
    checkpoint: str,
    env_ids: list[str],
    seeds: list[int],
    n: int,
    k: int,
    sampling: dict[str, Any],
    episodes: list[Episode],
    seconds: float = 0.0,
    engines: list[dict[str, Any]] | None = None,
    policy_versions: list[int] | None = None,
) -> EvalResult:
    """Aggregate episodes into per-env, per-family and overall metrics."""

    by_env = defaultdict(list, _episodes_by_env(episodes))
    return EvalResult(
        name=name,
        checkpoint=checkpoint,
        env_ids=list(env_ids),
        seeds=list(seeds),
        n=n,
        k=k,
        sampling=sampling,
        envs={e: summarize(by_env[e], k) for e in env_ids},
        families={f: summarize(es, k) for f, es in sorted(episodes_by_family(episodes).items())},
        overall=summarize(episodes, k),
        seconds=seconds,
        engines=list(engines or []),
        policy_versions=list(policy_versions or []),
        kinds={e: kind_pass1(by_env[e]) for e in env_ids if any(x.task_kind for x in by_env[e])},
        episodes=episodes,
    )


def _group_id(env_id: str, seed: int) -> str:
    return f"eval:{env_id}:{seed}"


async def _run_local(
    runner: GroupRunner,
    tasks: list[tuple[str, int]],
    n: int,
    params: dict[str, Any],
    base: int,
    progress: Callable[[int, int], None] | None,
) -> dict[tuple[str, int], list[Any]]:
    done = 0

    async def one(env_id: str, seed: int) -> list[Any]:
        nonlocal done
        trajs = await runner.run_group(
            env_id, seed, n, _group_id(env_id, seed), sample_seed_for(base, env_id, seed), params
        )
        done += 1
        if progress:
            progress(done, len(tasks))
        return trajs

    results = await asyncio.gather(*(one(e, s) for e, s in tasks))
    return dict(zip(tasks, results, strict=True))


def _run_on_pool(
    pool: Any,
    tasks: list[tuple[str, int]],
    n: int,
    params: dict[str, Any],
    base: int,
    progress: Callable[[int, int], None] | None,
) -> dict[tuple[str, int], list[Any]]:
    """Play the groups on the pool's workers, waiting only for our own submissions (a trainer may have its own
    groups in flight on the same pool). A group lost to a dead worker is an error."""
    from rollout.pool import GroupTask

    limit = max(1, pool.cfg.max_concurrent_episodes // n) * len(pool.workers)
    mine: dict[Any, GroupTask] = {}
    pending = list(tasks)[::-1]
    out: dict[tuple[str, int], list[Any]] = {}
    while pending or mine:
        while pending and len(mine) < limit:
            env_id, seed = pending.pop()
            task = GroupTask(
                env_id, seed, n, sample_seed_for(base, env_id, seed), sampling=params, group_id=_group_id(env_id, seed)
            )
            mine[pool.submit(task)] = task
        result = pool.next_finished(among=list(mine))
        mine = {ref: t for ref, t in mine.items() if t is not result.task}
        if result.lost:
            raise RuntimeError(f"evaluation group {result.task.env_id}:{result.task.seed} lost: {result.error}")
        out[(result.task.env_id, result.task.seed)] = result.trajectories
        if progress:
            progress(len(out), len(tasks))
    return out


def _run_on_new_pool(
    path: Path,
    cfg: RolloutConfig,
    tasks: list[tuple[str, int]],
    n: int,
    params: dict[str, Any],
    base: int,
    dtype: str,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[tuple[str, int], list[Any]], list[dict[str, Any]], list[int]]:
    import ray

    from rollout.pool import RolloutPool

    started = False
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    pool = RolloutPool(path, cfg, dtype=dtype)
    try:
        groups = _run_on_pool(pool, tasks, n, params, base, progress)
        return groups, list(pool.infos), pool.versions()
    finally:
        pool.shutdown()
        if started:
            ray.shutdown()


def checkpoint_weights(path: str | Path, dtype: str = "float32") -> list[tuple[str, Any]]:
    """A checkpoint directory's named parameters (transformers' in-memory names), as the learner sends them."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from rl.policy.build import DTYPES

    dt = DTYPES[dtype]
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per stage between the evaluations' own output
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, local_files_only=True)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return [(n, p.detach()) for n, p in model.named_parameters()]


def _stored_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a checkpoint directory's safetensors files (read from their headers)."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise ValueError(f"{path}: no *.safetensors weights in this checkpoint directory")
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():  # noqa: SIM118 (safe_open is not a mapping)
                shapes[name] = tuple(st.get_slice(name).get_shape())
    return shapes


def evaluate_checkpoints(
    checkpoints: Mapping[str, str | Path],
    env_ids: Iterable[str],
    seeds: Iterable[int],
    n: int,
    k: int,
    rollout_cfg: RolloutConfig,
    *,
    sampling: SamplingConfig | Mapping[str, Any] | None = None,
    sample_seed: int = 0,
    dtype: str = "float32",
) -> dict[str, EvalResult]:
    """Evaluate checkpoints of one architecture (name -> directory), in order, on one rollout pool: it starts
    from the first, and every next checkpoint's weights are loaded into the running workers (a pool start costs
    ~14 s for nemotron-h-tiny on CPU: Ray, the worker actor, the engine process). Before anything starts, raises
    ValueError naming a checkpoint whose stored tensors differ from the first one's in names or shapes (evaluate
    such checkpoints one by one with `evaluate`)."""
    import ray

    from rollout.pool import RolloutPool

    items = [(name, Path(path)) for name, path in checkpoints.items()]
    if not items:
        raise ValueError("no checkpoints to evaluate")
    first = _stored_shapes(items[0][1])
    for _, path in items[1:]:
        other = _stored_shapes(path)
        if other != first:
            differ = sorted(set(other) ^ set(first)) or sorted(t for t in first if first[t] != other[t])
            raise ValueError(
                f"{path}: its weights differ from {items[0][1]}'s ({', '.join(differ[:3])}); checkpoints "
                "evaluated on one pool must share one architecture"
            )
    started = False
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    results: dict[str, EvalResult] = {}
    pool = RolloutPool(items[0][1], rollout_cfg, dtype=dtype)
    try:
        for version, (name, path) in enumerate(items):
            t0 = time.perf_counter()
            if version:
                pool.update_weights(checkpoint_weights(path, dtype), version)
            res = evaluate(pool, env_ids, seeds, n, k, rollout_cfg, sampling=sampling, sample_seed=sample_seed)
            res.name, res.checkpoint, res.seconds = name, str(path), time.perf_counter() - t0
            results[name] = res
    finally:
        pool.shutdown()
        if started:
            ray.shutdown()
    return results


def evaluate_config(
    target: Any,
    eval_cfg: Any,
    rollout_cfg: RolloutConfig | None = None,
    *,
    name: str | None = None,
    dtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """`evaluate` with the envs, seeds, n, k and sampling of an `eval` config section (`rl.eval.EvalConfig`).

    With `eval_cfg.deterministic` and a checkpoint directory, the workers run one episode at a time."""
    cfg = rollout_cfg or RolloutConfig()
    if eval_cfg.deterministic and not isinstance(target, GroupRunner):
        cfg = cfg.model_copy(update={"max_concurrent_episodes": 1})
    return evaluate(
        target,
        eval_cfg.env_ids(),
        eval_cfg.seeds(),
        eval_cfg.n,
        eval_cfg.k,
        cfg,
        sampling=eval_cfg.sampling_overrides(),
        sample_seed=eval_cfg.sample_seed,
        name=name,
        dtype=dtype,
        progress=progress,
    )
