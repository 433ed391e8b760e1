"""`RolloutPool`: the driver's handle on N rollout worker actors.

Submits groups to the least-loaded worker, yields each group as soon as it finishes (`ray.wait`), and broadcasts
weights through Ray's object store (one `ray.put`, every worker reads the same object). Workers are placed with
the Ray resources from `rollout.worker_resources`, so on a cluster they land on GPU nodes or labelled nodes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
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


@dataclass
class GroupResult:
    """A finished group."""

    task: GroupTask
    trajectories: list[Trajectory]
    worker: int
    seconds: float


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
        actor = remote_worker_class()
        res = cfg.worker_resources
        env = {"env_vars": {**WORKER_ENV, **((runtime_env or {}).get("env_vars", {}))}}
        self.workers = [
            actor.options(
                num_cpus=res.num_cpus,
                num_gpus=res.num_gpus,
                resources=dict(res.resources) or None,
                runtime_env=env,
                max_concurrency=1000,
            ).remote(str(policy_path), cfg.model_dump(), i, dtype, seed)
            for i in range(cfg.workers)
        ]
        self.infos = ray.get([w.info.remote() for w in self.workers])
        self._load = [0] * len(self.workers)
        self._inflight: dict[ray.ObjectRef, tuple[GroupTask, int, float]] = {}
        self._ids = itertools.count()

    def submit(self, task: GroupTask) -> ray.ObjectRef:
        """Start a group on the least-loaded worker."""
        i = min(range(len(self.workers)), key=lambda k: self._load[k])
        ref = self.workers[i].run_group.remote(
            task.env_id, task.seed, task.group_size, f"g{next(self._ids)}:{task.env_id}:{task.seed}", task.sample_seed
        )
        self._load[i] += 1
        self._inflight[ref] = (task, i, time.perf_counter())
        return ref

    @property
    def in_flight(self) -> int:
        """Groups submitted and not yet collected."""
        return len(self._inflight)

    def next_finished(self, timeout: float | None = None) -> GroupResult | None:
        """Wait for the next finished group (None on timeout or when nothing is in flight)."""
        if not self._inflight:
            return None
        done, _ = ray.wait(list(self._inflight), num_returns=1, timeout=timeout)
        if not done:
            return None
        ref = done[0]
        task, i, t0 = self._inflight.pop(ref)
        self._load[i] -= 1
        return GroupResult(task, ray.get(ref), i, time.perf_counter() - t0)

    def run(self, tasks: Iterable[GroupTask], max_in_flight: int | None = None) -> Iterator[GroupResult]:
        """Roll out all `tasks`, yielding groups in completion order."""
        limit = max_in_flight or 4 * len(self.workers)
        pending = list(tasks)[::-1]
        while pending or self._inflight:
            while pending and len(self._inflight) < limit:
                self.submit(pending.pop())
            result = self.next_finished()
            if result is not None:
                yield result

    def update_weights(self, weights: Weights | ray.ObjectRef, version: int) -> float:
        """Broadcast weights to every worker through the object store; returns the seconds it took.

        `weights` may be an object reference (e.g. the learner's `weights.remote()`), which the workers then read
        directly from the object store without passing through the driver. This is the CPU/any-cluster path; a
        GPU deployment would swap in an NCCL broadcast (vLLM's weight-transfer API) behind this same method."""
        t0 = time.perf_counter()
        ref = weights if isinstance(weights, ray.ObjectRef) else ray.put(weight_items(weights))
        ray.get([w.update_weights.remote(ref, version) for w in self.workers])
        return time.perf_counter() - t0

    def versions(self) -> list[int]:
        """Each worker's policy version."""
        return ray.get([w.get_version.remote() for w in self.workers])

    def shutdown(self) -> None:
        """Kill the worker actors."""
        for w in self.workers:
            ray.kill(w)
        self.workers = []
