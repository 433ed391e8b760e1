"""`RolloutWorker`: a Ray actor owning one engine and its environments, producing GRPO groups.

The actor is asynchronous: every `run_group` call runs as its own task on the actor's event loop, each group's
G episodes run concurrently, and the engine batches across all episodes in flight (whatever turn they are at).
Env steps run on a thread pool, so a blocking step (the code sandbox) never stalls generation. The driver
submits groups and receives each one as soon as it finishes (see `rollout.pool.RolloutPool`).

`RolloutWorkerImpl` is the plain class (usable without Ray); `RolloutWorker` is its Ray actor class.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import environments
from rollout.agent_loop import ChatRenderer, run_episode
from rollout.config import RolloutConfig, SamplingConfig
from rollout.engines.base import Weights
from rollout.engines.select import make_engine
from rollout.trajectory import Trajectory

log = logging.getLogger(__name__)


class EnvThreads(concurrent.futures.Executor):
    """The worker's env-step threads. A step that never returns (a stuck tool) keeps its thread forever, so after
    a group times out the pool is replaced: new steps get fresh threads, the stuck ones are abandoned."""

    def __init__(self, threads: int):
        self.threads = threads
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="env")
        self.replaced = 0

    def submit(self, fn, /, *args, **kwargs):  # noqa: D102 (Executor API)
        return self.pool.submit(fn, *args, **kwargs)

    def replace(self) -> None:
        """Start a fresh pool; the old one finishes what it can and its stuck threads are left behind."""
        old, self.pool = self.pool, concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="env")
        old.shutdown(wait=False, cancel_futures=False)
        self.replaced += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: D102
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class RolloutWorkerImpl:
    """One engine, many concurrent episodes."""

    def __init__(
        self,
        policy_path: str | Path,
        config: RolloutConfig | dict[str, Any],
        worker_index: int = 0,
        dtype: str = "float32",
        seed: int = 0,
    ):
        from transformers import AutoTokenizer

        self.cfg = config if isinstance(config, RolloutConfig) else RolloutConfig.model_validate(config)
        environments.load_env_modules(self.cfg.env_modules)
        self.index = worker_index
        self.engine, self.engine_reason = make_engine(policy_path, self.cfg, dtype=dtype, seed=seed + worker_index)
        self.renderer = ChatRenderer(AutoTokenizer.from_pretrained(policy_path, local_files_only=True))
        self.env_pool = EnvThreads(self.cfg.env_threads)
        self._slots: asyncio.Semaphore | None = None
        self._new_weights: asyncio.Condition | None = None  # notified after each weight update
        self.episodes_done = 0

    def info(self) -> dict[str, Any]:
        """Which engine this worker runs and why, its policy version, and where it lives."""
        node = None
        try:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except Exception:  # used outside Ray
            node = None
        return {
            "node_id": node,
            "index": self.index,
            "engine": self.engine.name,
            "reason": self.engine_reason,
            "version": self.engine.version,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "episodes_done": self.episodes_done,
        }

    @property
    def version(self) -> int:
        """The engine's current policy version."""
        return self.engine.version

    async def get_version(self) -> int:
        """The engine's current policy version (remote-callable)."""
        return self.engine.version

    async def run_episode(
        self,
        env_id: str,
        seed: int,
        sample_seed: int | None = None,
        group_id: str = "",
        sampling: SamplingConfig | None = None,
        options: dict[str, Any] | None = None,
    ) -> Trajectory:
        """Play one episode of `env_id` with task seed `seed` (and reset `options`, e.g. a task kind)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.cfg.max_concurrent_episodes)
        async with self._slots:
            env = environments.make(env_id)
            try:
                traj = await run_episode(
                    self.engine,
                    env,
                    self.renderer,
                    sampling or self.cfg.sampling,
                    env_id,
                    seed,
                    self.env_pool,
                    sample_seed=sample_seed,
                    group_id=group_id,
                    options=options,
                )
            finally:
                env.close()
        self.episodes_done += 1
        return traj

    async def run_group(
        self,
        env_id: str,
        seed: int,
        group_size: int | None = None,
        group_id: str = "",
        sample_seed: int | None = None,
        sampling: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        min_version: int | None = None,
    ) -> list[Trajectory]:
        """A GRPO group: `group_size` episodes of the same task (seed and reset options), sampled independently.
        With `min_version`, the episodes start only once the engine holds weights of at least that version."""
        if min_version is not None and self.engine.version < min_version:
            async with self._weights_condition():
                await self._new_weights.wait_for(lambda: self.engine.version >= min_version)
        g = group_size or self.cfg.group_size
        group_id = group_id or f"{env_id}:{seed}:{time.monotonic_ns()}"
        params = self.cfg.sampling.model_copy(update=sampling) if sampling else self.cfg.sampling
        base = sample_seed if sample_seed is not None else None
        episodes = [
            self.run_episode(env_id, seed, None if base is None else base * 997 + i, group_id, params, options)
            for i in range(g)
        ]
        if self.cfg.episode_timeout_s is None:
            return list(await asyncio.gather(*episodes))
        try:
            return list(await asyncio.wait_for(asyncio.gather(*episodes), timeout=self.cfg.episode_timeout_s))
        except TimeoutError:
            # The episodes are cancelled; an env step stuck in its thread cannot be interrupted: it is abandoned
            # with its thread pool, and new steps get fresh threads.
            self.env_pool.replace()
            raise TimeoutError(
                f"group {group_id} of {env_id} seed {seed} exceeded rollout.episode_timeout_s="
                f"{self.cfg.episode_timeout_s}"
            ) from None

    async def engine_stats(self) -> dict[str, float]:
        """The engine's cumulative counters (the transformers engine's batching; empty for engines without)."""
        return await self.engine.get_stats()

    async def update_weights(self, weights: Weights, version: int) -> int:
        """Load new policy weights (transformers parameter names) and return the new version."""
        await self.engine.update_weights(weights, version)
        async with self._weights_condition():
            self._new_weights.notify_all()
        return self.engine.version

    def _weights_condition(self) -> asyncio.Condition:
        if self._new_weights is None:  # made on the actor's event loop
            self._new_weights = asyncio.Condition()
        return self._new_weights

    def shutdown(self) -> None:
        """Stop the env threads and the engine thread."""
        self.env_pool.shutdown(wait=False, cancel_futures=True)
        self.engine.close()


def remote_worker_class():
    """The Ray actor class of `RolloutWorkerImpl` (created lazily so importing this module needs no Ray)."""
    import ray

    return ray.remote(RolloutWorkerImpl)
