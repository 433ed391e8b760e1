"""The inference-engine protocol every rollout engine implements.

An engine generates from prompt token ids (never text) and returns the completion ids, the behaviour logprob of
each generated token (under the tempered sampling distribution), a finish reason and the policy version that
produced them; it takes new weights by name with a version number. In a `ThreadEngine` all calls into the
underlying library run on one dedicated thread, so the asyncio loop of a rollout worker stays free to advance
other episodes and env steps while a batch is being generated; `rollout.engines.engine_process` moves a whole
engine into its own process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

Weights = Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters of one request."""

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class Generation:
    """What the engine produced for one request."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str
    """'stop' (end-of-turn token generated) or 'length' (max_new_tokens reached)."""
    version: int
    """Policy version of the engine when the request started."""


def weight_items(weights: Weights) -> list[tuple[str, torch.Tensor]]:
    """Named tensors as a list, whatever mapping or iterable they came in."""
    return list(weights.items()) if isinstance(weights, Mapping) else list(weights)


class Engine(ABC):
    """The async API a rollout worker drives: generate, take weights, report counters, close."""

    name: str = "engine"

    def __init__(self) -> None:
        self.version = 0

    @abstractmethod
    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        """Generate one completion for `prompt_ids`."""

    async def update_weights(self, weights: Weights, version: int) -> None:
        """Load new weights (Hugging Face parameter names) and set the policy version, between engine steps."""
        raise NotImplementedError(f"the {self.name} engine does not take weights")

    async def get_stats(self) -> dict[str, float]:
        """The engine's cumulative counters (empty for engines without)."""
        return dict(getattr(self, "stats", {}))

    def close(self) -> None:  # noqa: B027 (engines without resources need no close)
        """Release what the engine holds."""


class ThreadEngine(Engine):
    """An engine whose library calls all run on one dedicated thread."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-engine")

    async def _on_engine_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    @abstractmethod
    def _load_weights(self, items: list[tuple[str, torch.Tensor]]) -> None:
        """Copy named tensors into the served model (runs on the engine thread)."""

    async def update_weights(self, weights: Weights, version: int) -> None:  # noqa: D102 (Engine API)
        items = weight_items(weights)
        await self._on_engine_thread(self._load_weights, items)
        self.version = int(version)

    def close(self) -> None:
        """Release the engine thread."""
        self._thread.shutdown(wait=False, cancel_futures=True)
