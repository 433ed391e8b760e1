"""`RolloutPool`: the driver's handle on N rollout worker actors.

Submits groups to the least-loaded worker, yields each group as soon as it finishes (`ray.wait`), and broadcasts
weights through Ray's object store (one `ray.put`, every worker reads the same object), either waiting for every
worker to load them (`update_weights`) or in the background (`start_weight_update`: the caller goes on, and
groups submitted with `min_version` start once their worker holds that version). Workers are placed with
the Ray resources from `rollout.worker_resources`, so on a cluster they land on GPU nodes or labelled nodes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from rollout.config import RolloutConfig
from rollout.engines.base import Weights, weight_items
from rollout.trajectory import Trajectory
from rollout.worker import remote_worker_class

WORKER_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
}


@dataclass
class GroupTask:
    """One group to roll out."""

    env_id: str
    seed: int
    group_size: int | None = None
    sample_seed: int | None = None
    tag: Any = None
    """Anything the caller wants back with the result (e.g. the learner version at submission)."""
    sampling: dict[str, Any] | None = None
    """Fields of rollout.sampling to replace for this group (e.g. an eval temperature)."""
    group_id: str | None = None
    """The group's id in its trajectories (default: a fresh unique id)."""
    options: dict[str, Any] | None = None
    """The env's reset options, e.g. `{"task_kind": "caesar"}` (a curriculum's choice of task kind)."""
    min_version: int | None = None
    """The worker starts the group only once it holds weights of at least this policy version (a broadcast
    started with `start_weight_update` may still be loading when the group is submitted)."""


@dataclass
class GroupResult:
    """A finished group (or a lost one: its worker died or it exceeded the episode timeout)."""

    task: GroupTask
    trajectories: list[Trajectory]
    worker: int
    seconds: float
    error: str | None = None
    """Why the group was lost; None for a finished group. Lost groups have no trajectories."""

    @property
    def lost(self) -> bool:
        """True when the group produced nothing usable."""
        return self.error is not None


class RolloutPool:
    """N RolloutWorker actors behind one submit/stream API."""

    def __init__(
        self,
        policy_path: str | Path,
        cfg: RolloutConfig,
        *,
        dtype: str = "float32",
        seed: int = 0,
        runtime_env: dict[str, Any] | None = None,
    ):
        if not ray.is_initialized():
            raise RuntimeError("ray.init() must be called before creating a RolloutPool")
        self.cfg = cfg
        self._actor = remote_worker_class()
        self._args = (str(policy_path), cfg.model_dump(), dtype, seed)
        self._env = {"env_vars": {**WORKER_ENV, **((runtime_env or {}).get("env_vars", {}))}}
        self.workers = [self._start(i) for i in range(cfg.workers)]
        self.infos = ray.get([w.info.remote() for w in self.workers])
        self.restarts = 0
        self._weights: ray.ObjectRef | None = None
        self._version = 0
        self._acked = [0] * len(self.workers)  # the version each worker has confirmed loading
        self._sync: dict[ray.ObjectRef, int] = {}  # a background broadcast's pending loads -> worker index
        self._load = [0] * len(self.workers)
        self._inflight: dict[ray.ObjectRef, tuple[GroupTask, int, float]] = {}
        self._ids = itertools.count()

    def _start(self, i: int):
        res = self.cfg.worker_resources
        path, cfg, dtype, seed = self._args
        return self._actor.options(
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            resources=dict(res.resources) or None,
            runtime_env=self._env,
            max_concurrency=1000,
        ).remote(path, cfg, i, dtype, seed)

    def _restart(self, i: int) -> None:
        """Replace dead worker i; it gets the current weights before producing again."""
        self.workers[i] = self._start(i)
        self.infos[i] = ray.get(self.workers[i].info.remote())
        if self._weights is not None:
            ray.get(self.workers[i].update_weights.remote(self._weights, self._version))
        self._acked[i] = self._version
        self.restarts += 1

    def submit(self, task: GroupTask) -> ray.ObjectRef:
        """Start a group on the least-loaded worker."""
        i = min(range(len(self.workers)), key=lambda k: self._load[k])
        group_id = task.group_id or f"g{next(self._ids)}:{task.env_id}:{task.seed}"
        ref = self.workers[i].run_group.remote(
            task.env_id,
            task.seed,
            task.group_size,
            group_id,
            task.sample_seed,
            task.sampling,
            task.options,
            task.min_version,
        )
        self._load[i] += 1
        self._inflight[ref] = (task, i, time.perf_counter())
        return ref

    @property
    def in_flight(self) -> int:
        """Groups submitted and not yet collected."""
        return len(self._inflight)

    def in_flight_tags(self) -> list[Any]:
        """The tags of the groups submitted and not yet collected."""
        return [task.tag for task, _, _ in self._inflight.values()]

    def next_finished(
        self, timeout: float | None = None, among: Collection[ray.ObjectRef] | None = None
    ) -> GroupResult | None:
        """Wait for the next finished group (None on timeout or when nothing is in flight). With `among`, only
        those submissions are waited for, so two callers (training and in-training eval) can share the pool."""
        refs = list(self._inflight) if among is None else [r for r in among if r in self._inflight]
        if not refs:
            return None
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not done:
            return None
        ref = done[0]
        task, i, t0 = self._inflight.pop(ref)
        self._load[i] -= 1
        try:
            return GroupResult(task, ray.get(ref), i, time.perf_counter() - t0)
        except ray.exceptions.RayActorError as exc:  # the worker died: restart it (once per death), lose the group
            if not self._alive(i):
                self._restart(i)
            return GroupResult(task, [], i, time.perf_counter() - t0, error=f"worker died: {type(exc).__name__}")
        except ray.exceptions.RayTaskError as exc:  # e.g. the group exceeded rollout.episode_timeout_s
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            return GroupResult(task, [], i, time.perf_counter() - t0, error=f"{type(cause).__name__}: {cause}")

    def _alive(self, i: int) -> bool:
        try:
            ray.get(self.workers[i].get_version.remote(), timeout=30)
            return True
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return False

    def run(
        self, tasks: Iterable[GroupTask], max_in_flight: int | None = None, retries: int = 1
    ) -> Iterator[GroupResult]:
        """Roll out all `tasks`, yielding groups in completion order. A lost group is retried up to `retries`
        times (same task, so the same seeds), then yielded as lost."""
        limit = max_in_flight or 4 * len(self.workers)
        pending = [(t, 0) for t in tasks][::-1]
        attempts: dict[int, int] = {}
        while pending or self._inflight:
            while pending and len(self._inflight) < limit:
                task, tries = pending.pop()
                attempts[id(task)] = tries
                self.submit(task)
            result = self.next_finished()
            if result is None:
                continue
            tries = attempts.get(id(result.task), 0)
            if result.lost and tries < retries:
                pending.append((result.task, tries + 1))
                continue
            yield result

    def update_weights(self, weights: Weights | ray.ObjectRef, version: int) -> float:
        """Broadcast weights to every worker through the object store and wait until each has loaded them;
        returns the seconds it took.

        `weights` may be an object reference (e.g. the learner's `weights.remote()`), which the workers then read
        directly from the object store without passing through the driver. This is the CPU/any-cluster path; a
        GPU deployment would swap in an NCCL broadcast (vLLM's weight-transfer API) behind this same method."""
        t0 = time.perf_counter()
        self.start_weight_update(weights, version)
        self.finish_weight_update()
        return time.perf_counter() - t0

    def start_weight_update(self, weights: Weights | ray.ObjectRef, version: int) -> float:
        """Start broadcasting weights and return without waiting for the workers to load them; a broadcast
        still in flight is finished first. Returns the seconds spent here (mostly that wait). Until every
        worker has loaded `version`, `synced_version` stays at the previous one; a group submitted with
        `min_version=version` waits on its worker for them, and a worker restarted meanwhile starts with them."""
        t0 = time.perf_counter()
        self.finish_weight_update()
        ref = weights if isinstance(weights, ray.ObjectRef) else ray.put(weight_items(weights))
        self._weights, self._version = ref, version
        self._sync = {w.update_weights.remote(ref, version): i for i, w in enumerate(self.workers)}
        return time.perf_counter() - t0

    def finish_weight_update(self) -> float:
        """Wait until every worker has loaded the latest broadcast weights; returns the seconds waited."""
        t0 = time.perf_counter()
        while self._sync:
            done, _ = ray.wait(list(self._sync), num_returns=1)
            self._settle_sync(done[0])
        return time.perf_counter() - t0

    @property
    def synced_version(self) -> int:
        """The newest policy version every worker has loaded (behind the latest broadcast while one is loading)."""
        return min(self._acked, default=self._version)

    def _settle_sync(self, ref: ray.ObjectRef) -> None:
        i = self._sync.pop(ref)
        try:
            ray.get(ref)
            self._acked[i] = self._version
        except ray.exceptions.RayActorError:
            if not self._alive(i):
                self._restart(i)  # a dead worker comes back with these weights
            self._acked[i] = self._version

    def engine_stats(self) -> dict[str, float]:
        """The workers' engine counters, summed (see `RolloutWorkerImpl.engine_stats`). A dead worker counts
        nothing: it is restarted where its groups are collected, not here."""
        total: dict[str, float] = {}
        for ref in [w.engine_stats.remote() for w in self.workers]:
            try:
                stats = ray.get(ref)
            except ray.exceptions.RayActorError:
                continue
            for k, v in stats.items():
                total[k] = total.get(k, 0) + v
        return total

    def versions(self) -> list[int]:
        """Each worker's policy version."""
        return ray.get([w.get_version.remote() for w in self.workers])

    def shutdown(self) -> None:
        """Kill the worker actors."""
        for w in self.workers:
            ray.kill(w)
        self.workers = []
