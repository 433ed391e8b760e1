"""Rollout engines behind one protocol: vLLM (CPU build or GPU) and transformers."""

from rollout.engines.base import Engine, Generation, GenParams, weight_items
from rollout.engines.select import EngineChoiceError, choose_engine, make_engine, vllm_can_serve

__all__ = [
    "Engine",
    "EngineChoiceError",
    "GenParams",
    "Generation",
    "choose_engine",
    "make_engine",
    "vllm_can_serve",
    "weight_items",
]
