"""Build, load and save policies: a preset with random init or a local Hugging Face checkpoint directory.

Saved directories are standard Hugging Face checkpoints (config, safetensors weights, tokenizer files, chat
template, generation config) that `AutoModelForCausalLM.from_pretrained`, `AutoTokenizer.from_pretrained` and
vLLM load as they are. Nothing is ever fetched from a model hub: loading uses `local_files_only=True`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from rl.policy.config import PolicyConfig
from rl.policy.presets import get_preset

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
METADATA_FILE = "agentrl_policy.json"


def build_config(cfg: PolicyConfig) -> tuple[PretrainedConfig, PreTrainedTokenizerBase]:
    """The model config and tokenizer of a policy, without building weights."""
    if cfg.is_preset:
        preset = get_preset(cfg.name_or_path)
        tok = preset.build_tokenizer()
        return preset.build_config(tok, dict(cfg.overrides)), tok
    path = Path(cfg.name_or_path).expanduser()
    return AutoConfig.from_pretrained(path, local_files_only=True), load_tokenizer(path)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a checkpoint directory (local files only)."""
    return AutoTokenizer.from_pretrained(Path(path).expanduser(), local_files_only=True)


def load_policy(cfg: PolicyConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Build a preset with seeded random init, or load a checkpoint directory. Returns (model, tokenizer)."""
    dtype = DTYPES[cfg.dtype]
    if cfg.is_preset:
        config, tok = build_config(cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    else:
        path = Path(cfg.name_or_path).expanduser()
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        tok = load_tokenizer(path)
    model.generation_config = _generation_config(model.config, tok)
    return model, tok


def _generation_config(config: PretrainedConfig, tok: PreTrainedTokenizerBase) -> GenerationConfig:
    return GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id if tok.eos_token_id is not None else config.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else config.pad_token_id,
    )


def save_policy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    path: str | Path,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a standard Hugging Face checkpoint directory (plus agentrl metadata) and return its path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    if metadata is not None:
        (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path
