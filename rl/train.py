"""`agentrl train`: asynchronous GRPO with a Learner actor and N RolloutWorker actors on Ray.

The driver orchestrates and never holds the model: it samples tasks across env configs, admits groups under
the staleness bound (`rl.staleness`), drops groups without learning signal (dynamic sampling), computes group
advantages, sends each batch to the Learner, broadcasts the new weights to the workers by object-store
reference, logs metrics, writes atomic checkpoints and, at the end, the training curves as PNG (`rl.plots`).
Workers keep generating while the learner trains, up to `max_staleness` versions ahead.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl.budget import warn_token_budget
from rl.checkpoint import commit, latest_checkpoint, read_state, tmp_dir
from rl.cluster import init_ray
from rl.config.loader import dump_config
from rl.config.run import RunConfig
from rl.curriculum import KindCurriculum
from rl.grpo.advantages import check_reward_components, group_advantages, training_reward
from rl.grpo.replay import build_replay
from rl.health import EntropyRise, entropy_rise
from rl.metrics import MetricsWriter, read_metrics
from rl.plots import CURVES_FILE, training_curves
from rl.sampler import TaskSampler, env_task_kinds
from rl.staleness import StalenessController
from rollout.pool import WORKER_ENV, GroupResult, GroupTask, RolloutPool
from rollout.trajectory import Trajectory

log = logging.getLogger(__name__)
INITIAL_POLICY = "initial_policy"


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (it has checkpoints and --resume was not given, or vice versa)."""


@dataclass
class TrainResult:
    """What a training run left behind."""

    run_dir: Path
    final_checkpoint: Path
    steps: int
    version: int
    history: list[dict[str, Any]] = field(default_factory=list)
    start_position: int = 0
    """Task-sampler position the run (or the resumed part of it) started from."""
    engine: str = ""
    """The rollout engine the workers chose, and why."""
    curves: Path | None = None
    """PNG of the run's training curves (`rl.plots`), over all of metrics.jsonl."""
    warnings: list[str] = field(default_factory=list)
    """Training-health warnings (`rl.health`): e.g. the rollouts' entropy rising several-fold."""


def _materialize(policy: dict[str, Any], target: str) -> str:
    from rl.policy.build import load_policy, save_policy
    from rl.policy.config import PolicyConfig

    cfg = PolicyConfig.model_validate(policy)
    model, tok = load_policy(cfg)
    save_policy(model, tok, target, metadata={"preset": cfg.name_or_path, "init_seed": cfg.init_seed})
    return target


def materialize_policy(cfg: RunConfig, run_dir: Path) -> Path:
    """The policy as a checkpoint directory: a preset is built once (in a Ray task, not the driver) and saved
    into the run folder; a checkpoint directory is used as it is."""
    import ray

    if not cfg.policy.is_preset:
        return Path(cfg.policy.name_or_path)
    target = run_dir / INITIAL_POLICY
    if not (target / "config.json").is_file():
        tmp = run_dir / f".{INITIAL_POLICY}.tmp"
        ray.get(ray.remote(_materialize).remote(cfg.policy.model_dump(mode="json"), str(tmp)))
        tmp.rename(target)
    return target


def _overlong_filtered(t: Trajectory) -> Trajectory:
    """A copy of `t` carrying no loss (cut by the token budget)."""
    from dataclasses import replace

    return replace(t, loss_mask=[0] * len(t.loss_mask))


def _group_stats(groups: list[GroupResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    by_env: dict[str, list[Trajectory]] = defaultdict(list)
    for g in groups:
        by_env[g.task.env_id] += g.trajectories
    all_t = [t for ts in by_env.values() for t in ts]
    out["reward/mean"] = float(np.mean([t.reward for t in all_t]))
    out["reward/std"] = float(np.std([t.reward for t in all_t]))
    out["success_rate"] = float(np.mean([t.success for t in all_t]))
    out["episode/turns_mean"] = float(np.mean([t.turns for t in all_t]))
    out["episode/parse_error_rate"] = float(np.mean([t.parse_errors > 0 for t in all_t]))
    out["episode/overlong_fraction"] = float(np.mean([t.finish == "max_tokens" for t in all_t]))
    for env_id, ts in by_env.items():
        out[f"reward/{env_id}"] = float(np.mean([t.reward for t in ts]))
        out[f"success/{env_id}"] = float(np.mean([t.success for t in ts]))
    return out


def engine_step_stats(before: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """The rollout engines' batching over one step, from their cumulative counters (none for engines without):
    rows advanced per decode step, requests that joined a running batch, requests whose prompt another request's
    prefill computed, and prefill/decode forward seconds."""
    if "decode_steps" not in now:
        return {}
    keys = ("decode_steps", "row_steps", "joined_running_batch", "shared_prefill_rows", "prefill_s", "decode_s")
    d = {k: now.get(k, 0) - before.get(k, 0) for k in keys}
    return {
        "engine/rows_per_decode_step": d["row_steps"] / max(1, d["decode_steps"]),
        "engine/joined_running_batch": float(d["joined_running_batch"]),
        "engine/shared_prefill_rows": float(d["shared_prefill_rows"]),
        "time/engine_prefill_s": d["prefill_s"],
        "time/engine_decode_s": d["decode_s"],
    }


def check_engine_fit(cfg: RunConfig) -> str:
    """The engine the workers will use and why; EngineChoiceError (before anything starts) if the configured
    engine cannot serve the policy on this device."""
    from rollout.engines.select import choose_engine

    if cfg.policy.is_preset:
        from rl.policy.build import build_config

        name, why = choose_engine(build_config(cfg.policy)[0].to_dict(), cfg.rollout.engine)
    else:
        name, why = choose_engine(cfg.policy.name_or_path, cfg.rollout.engine)
    return f"{name} ({why})"


def train(
    cfg: RunConfig,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Run GRPO as configured; with `resume`, continue from the run folder's latest checkpoint.
    `on_step(step, record, handles)` is called after each step's checkpoint, with handles {"pool", "learner"}
    (tests inject faults with it); by then the workers hold that step's weights."""
    import ray

    import environments
    from rl.learner import remote_learner_class

    run_dir = cfg.run.folder
    environments.load_env_modules(cfg.rollout.env_modules)
    check_engine_fit(cfg)
    check_reward_components(cfg.algo.reward_components, TaskSampler(cfg.algo.env_mix).active_env_ids())
    existing = latest_checkpoint(run_dir)
    if existing is not None and not resume:
        raise RunFolderError(
            f"{run_dir} already holds checkpoints ({existing.name}); pass --resume to continue it "
            "or set run.name to start a new run"
        )
    if resume and existing is None:
        raise RunFolderError(f"--resume: {run_dir} has no complete checkpoint to resume from")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ("config.resumed.yaml" if resume else "config.yaml")).write_text(dump_config(cfg))

    init_ray(cfg.ray, env_vars=WORKER_ENV)
    policy_path = materialize_policy(cfg, run_dir)
    algo, loss_cfg, sampling = cfg.algo, cfg.loss, cfg.rollout.sampling
    res = cfg.ray.learner
    learner = (
        remote_learner_class()
        .options(
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            resources=dict(res.resources) or None,
            runtime_env={"env_vars": WORKER_ENV},
        )
        .remote(
            str(policy_path),
            algo.model_dump(),
            loss_cfg.model_dump(),
            sampling.temperature,
            loss_cfg.constant_normalizer or sampling.max_total_tokens,
            cfg.run.seed,
            "float32",
            max(1, int(res.num_cpus)),
        )
    )
    replay = build_replay(algo.replay, policy_path, cfg.eval, seed=cfg.run.seed)
    pool = RolloutPool(policy_path, cfg.rollout, seed=cfg.run.seed)

    step, version, position, dropped_total, lost_total = 0, 0, 0, 0, 0
    if resume:
        state = read_state(existing)
        version = ray.get(learner.load.remote(str(existing)))
        step, position, dropped_total = state["step"], state["sampler_position"], state.get("dropped_groups", 0)
        if version != state["version"]:
            raise RuntimeError(f"checkpoint {existing} is inconsistent: learner version {version} != {state}")
    pool.update_weights(learner.weights.remote(), version)
    sampler = TaskSampler(algo.env_mix, seed=cfg.run.seed, seed_offset=algo.train_seed_offset, position=position)
    curriculum = None
    if algo.curriculum == "learnability":
        kinds = env_task_kinds(sampler.active_env_ids())
        curriculum = KindCurriculum(kinds, algo.curriculum_explore, algo.curriculum_window)
        if resume:
            curriculum.load_state_dict(read_state(existing).get("curriculum", {}))
        sampler.curriculum = curriculum
        log.info("curriculum over task kinds: %s", {e: list(k) for e, k in curriculum.kinds.items()} or "none")
    engine, mix = f"{pool.infos[0]['engine']} ({pool.infos[0]['reason']})", sampler.describe()
    if replay is not None:
        mix += f"; SFT-data replay: {replay.describe()}"
    log.info("rollout engine: %s; env mix: %s", engine, mix)
    if progress:
        from rich.console import Console

        Console(stderr=True).print(f"rollout engine: {engine}\nenv mix: {mix}", highlight=False)
    warn_token_budget(sampler.active_env_ids(), policy_path, sampling, "rollout.sampling", progress)
    B = algo.groups_per_step
    ctrl = StalenessController(B, algo.max_staleness, admitted=version * B, consumed=version * B)
    writer = MetricsWriter(run_dir)
    ready: list[GroupResult] = []
    dropped_this_step = 0
    anchors: list[list[Trajectory]] = []  # samples of dropped groups, for the KL term (algo.kl_anchor_samples)
    history: list[dict[str, Any]] = []
    last_ckpt = existing
    t_idle = 0.0
    rise: EntropyRise | None = None  # warned once, when the rollouts' entropy first rises several-fold
    engine_before = pool.engine_stats()
    t_step_start = t_begin = time.perf_counter()
    bar = _progress(progress, algo.steps, step)
    out_of_time = False
    try:
        while step < algo.steps and not out_of_time:
            while ctrl.can_admit(version):
                task = sampler.next()
                pool.submit(
                    GroupTask(
                        task.env_id,
                        task.seed,
                        cfg.rollout.group_size,
                        sample_seed=cfg.run.seed * 1_000_003 + task.index,
                        tag=version,
                        options=task.options,
                        # with the broadcast overlapped, the worker starts it once it holds this version
                        min_version=version if algo.overlap_weight_sync else None,
                    )
                )
                ctrl.admit()
            in_flight = pool.in_flight_tags()
            keys = ctrl.select_batch([(i, g.task.tag) for i, g in enumerate(ready)], in_flight, version)
            if keys is None:
                t0 = time.perf_counter()
                result = pool.next_finished(timeout=60.0)
                t_idle += time.perf_counter() - t0
                if result is None:
                    continue
                if result.lost:  # worker died or the group timed out: its slot is free again, it is counted
                    ctrl.drop()
                    lost_total += 1
                    log.warning("group %s:%s lost: %s", result.task.env_id, result.task.seed, result.error)
                    continue
                if curriculum is not None and result.trajectories:
                    kind = result.trajectories[0].task_kind
                    curriculum.observe(result.task.env_id, kind, [t.success for t in result.trajectories])
                rewards = [training_reward(t, algo.reward_components) for t in result.trajectories]
                if (
                    algo.dynamic_sampling
                    and len(set(rewards)) == 1
                    and len(rewards) > 1
                    and dropped_this_step < algo.dynamic_sampling_max_rounds * B
                ):
                    ctrl.drop()
                    dropped_total += 1
                    dropped_this_step += 1
                    if algo.kl_anchor_samples:  # no advantage, but the KL term still sees these tokens
                        anchors.append(result.trajectories[: algo.kl_anchor_samples])
                    continue
                ready.append(result)
                continue
            batch = [ready[k] for k in keys]
            ready = [g for i, g in enumerate(ready) if i not in set(keys)]
            dropped_this_step = 0
            staleness = ctrl.record_batch([g.task.tag for g in batch], version)
            trajs, advs = [], []
            for g in batch:
                shaped = [training_reward(t, algo.reward_components) for t in g.trajectories]
                trajs += g.trajectories
                advs += group_advantages(torch.tensor(shaped), algo.advantage).tolist()
            # the anchors of this step's dropped groups, at most one batch's worth (the newest), with no advantage
            anchor_trajs = [t for group in anchors[-B:] for t in group]
            anchors = []
            trajs += anchor_trajs
            advs += [0.0] * len(anchor_trajs)
            if algo.overlong_filter:
                trajs = [_overlong_filtered(t) if t.finish == "max_tokens" else t for t in trajs]
            t0 = time.perf_counter()
            replayed = replay.draw(step) if replay is not None else None
            stats = ray.get(learner.step.remote(trajs, advs, replayed))
            t_train = time.perf_counter() - t0
            version = int(stats["version"])
            step += 1
            if algo.overlap_weight_sync:  # the workers load while the learner takes the next step
                t_sync = pool.start_weight_update(learner.weights.remote(), version)
            else:
                t_sync = pool.update_weights(learner.weights.remote(), version)
            now = time.perf_counter()
            gen_tokens = sum(t.generated_tokens for g in batch for t in g.trajectories)
            engine_now = pool.engine_stats()
            record = {
                **stats,
                **_group_stats(batch),
                "step": step,
                "sampler/position": float(sampler.position),
                "advantage/mean": float(np.mean(advs)),
                "advantage/std": float(np.std(advs)),
                "advantage/abs_mean": float(np.mean(np.abs(advs))),
                "groups/dropped_total": float(dropped_total),
                "groups/kl_anchor_sequences": float(len(anchor_trajs)),
                "groups/lost_total": float(lost_total),
                "workers/restarts": float(pool.restarts),
                "staleness/mean": float(np.mean(staleness)),
                "staleness/max": float(max(staleness)),
                **{f"staleness/count_{k}": float(v) for k, v in Counter(staleness).items()},
                "time/train_s": t_train,
                "time/sync_s": t_sync,
                "time/idle_s": t_idle,
                "time/step_s": now - t_step_start,
                "time/generation_s": float(sum(t.generation_s for g in batch for t in g.trajectories)),
                "time/env_s": float(sum(t.env_s for g in batch for t in g.trajectories)),
                "throughput/generated_tokens_per_s": gen_tokens / max(1e-9, now - t_step_start),
                **engine_step_stats(engine_before, engine_now),
                **(curriculum.metrics() if curriculum is not None else {}),
            }
            writer.write(step, record)
            history.append(record)
            if rise is None and (rise := entropy_rise(history)) is not None:
                log.warning(rise.message())
            t_idle, t_step_start, engine_before = 0.0, now, engine_now
            if bar is not None:
                bar.update(step, reward=record["reward/mean"], success=record["success_rate"], version=version)
            out_of_time = algo.time_budget_s is not None and now - t_begin >= algo.time_budget_s
            last = step == algo.steps or out_of_time
            if last or (algo.checkpoint_every and step % algo.checkpoint_every == 0):
                tmp = tmp_dir(run_dir, step)
                ray.get(learner.save.remote(str(tmp), str(policy_path)))
                last_ckpt = commit(
                    tmp,
                    run_dir,
                    step,
                    {
                        "step": step,
                        "version": version,
                        "sampler_position": sampler.position,
                        "unconsumed_groups_at_save": pool.in_flight + len(ready),
                        "dropped_groups": dropped_total,
                        "env_mix": algo.env_mix,
                        "seed": cfg.run.seed,
                        **({"curriculum": curriculum.state_dict()} if curriculum is not None else {}),
                    },
                    algo.keep_checkpoints,
                )
            every = cfg.eval.every_steps
            if every and (step % every == 0 or last):
                t0 = time.perf_counter()
                pool.finish_weight_update()  # evaluate this step's weights
                evaluation = run_eval(cfg, pool, step, run_dir)
                scalars = {**evaluation.scalars("eval"), "time/eval_s": time.perf_counter() - t0}
                writer.write(step, scalars)
                record.update(scalars)
            if on_step is not None:
                pool.finish_weight_update()
                on_step(step, record, {"pool": pool, "learner": learner})
    finally:
        if bar is not None:
            bar.close()
        writer.close()
        pool.shutdown()
        try:
            ray.kill(learner)
        except Exception:  # already dead
            pass
    records = read_metrics(run_dir)
    curves = training_curves(records, run_dir / "plots" / CURVES_FILE) if records else None
    log.info("training curves: %s", curves)
    # over the whole run (resumed parts included); else the rise warned during this part, if it fell back since
    final_rise = entropy_rise(records) or rise
    warnings = [final_rise.message()] if final_rise is not None else []
    return TrainResult(
        run_dir=run_dir,
        final_checkpoint=last_ckpt,
        steps=step,
        version=version,
        history=history,
        start_position=position,
        engine=engine,
        curves=curves,
        warnings=warnings,
    )


def run_eval(cfg: RunConfig, pool: RolloutPool, step: int, run_dir: Path):
    """Evaluate the workers' current weights (the learner's, just synced) on the eval section's held-out seeds,
    reusing the training workers; the report goes to RUN/eval/step-NNNNNN/."""
    from rl.eval.report import write_report
    from rl.eval.runner import evaluate_config

    result = evaluate_config(pool, cfg.eval, cfg.rollout, name=f"step-{step}")
    write_report({f"step-{step}": result}, run_dir / "eval" / f"step-{step:06d}", plots=False)
    return result


class _Bar:
    def __init__(self, total: int, start: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(
            TextColumn("[bold]GRPO"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
        )
        self.p.start()
        self.task = self.p.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, **info: float) -> None:
        text = " ".join(f"{k} {v:.3g}" for k, v in info.items())
        self.p.update(self.task, completed=step, info=text)

    def close(self) -> None:
        self.p.stop()


def _progress(enabled: bool, total: int, start: int) -> _Bar | None:
    return _Bar(total, start) if enabled else None
