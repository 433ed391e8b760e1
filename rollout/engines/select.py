"""`engine: auto`: vLLM wherever it can serve the policy on this device, otherwise transformers, with the reason."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rollout.config import RolloutConfig
from rollout.engines.base import Engine

log = logging.getLogger(__name__)


class EngineChoiceError(ValueError):
    """The requested engine cannot serve this policy on this device."""


def vllm_can_serve(policy: str | Path | Mapping[str, Any], cuda: bool | None = None) -> tuple[bool, str]:
    """Whether vLLM can serve a policy here, and why (or why not). `policy` is a checkpoint directory or its
    Hugging Face config as a dict (for a preset not yet written to disk)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if importlib.util.find_spec("vllm") is None:
        return False, "vLLM is not installed"
    if isinstance(policy, Mapping):
        config = dict(policy)
    else:
        config_file = Path(policy) / "config.json"
        if not config_file.is_file():
            return False, f"{policy} has no config.json"
        config = json.loads(config_file.read_text())
    if cuda:
        return True, "a CUDA GPU is present"
    layers = config.get("layers_block_type") or config.get("layer_types") or []
    pattern = config.get("hybrid_override_pattern") or ""
    if config.get("model_type") == "nemotron_h" and ("moe" in layers or "E" in pattern):
        return False, "vLLM's CPU build refuses Nemotron-H MoE layers (non-gated relu2 experts)"
    return True, f"vLLM's CPU build serves {config.get('model_type')}"


def choose_engine(
    policy: str | Path | Mapping[str, Any], requested: str = "auto", cuda: bool | None = None
) -> tuple[str, str]:
    """(engine name, reason) for a checkpoint directory or a config dict. Raises EngineChoiceError when
    `requested` cannot serve the policy."""
    ok, why = vllm_can_serve(policy, cuda)
    path = policy.get("model_type", "the policy") if isinstance(policy, Mapping) else policy
    if requested == "transformers":
        return "transformers", "requested in the config"
    if requested == "vllm":
        if not ok:
            raise EngineChoiceError(f"rollout.engine=vllm cannot serve {path}: {why}; use engine: auto or transformers")
        return "vllm", f"requested in the config ({why})"
    if requested != "auto":
        raise EngineChoiceError(f"unknown engine {requested!r}; expected auto, vllm or transformers")
    return ("vllm", why) if ok else ("transformers", f"{why}, so the transformers engine")


def build_engine(
    name: str, path: str | Path, cfg: RolloutConfig | Mapping[str, Any], dtype: str = "float32", seed: int = 0
) -> Engine:
    """The engine `name` ('vllm' or 'transformers') for checkpoint `path`, in this process."""
    cfg = cfg if isinstance(cfg, RolloutConfig) else RolloutConfig.model_validate(cfg)
    if name == "vllm":
        from rollout.engines.vllm_engine import VllmEngine

        return VllmEngine(path, cfg.vllm, dtype=dtype, seed=seed)
    from rollout.engines.transformers_engine import TransformersEngine

    if cfg.engine_threads:
        torch.set_num_threads(cfg.engine_threads)
    return TransformersEngine(
        path,
        dtype=dtype,
        max_batch=cfg.max_concurrent_episodes,
        seed=seed,
        update_in_flight=cfg.update_in_flight,
        decode_kernels=cfg.decode_kernels,
    )


def make_engine(path: str | Path, cfg: RolloutConfig, dtype: str = "float32", seed: int = 0) -> tuple[Engine, str]:
    """Build the engine `cfg.engine` asks for, in its own process when `cfg.engine_process`; returns (engine,
    reason) and logs the choice."""
    name, reason = choose_engine(path, cfg.engine)
    if cfg.engine_process:
        from rollout.engines.engine_process import EngineProcess, EngineSpec

        reason += "; in its own process"
        engine: Engine = EngineProcess(EngineSpec(name, str(path), cfg.model_dump(), dtype, seed))
    else:
        engine = build_engine(name, path, cfg, dtype, seed)
    log.info("rollout engine: %s (%s)", name, reason)
    return engine, reason
