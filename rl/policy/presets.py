"""Policy presets: tiny hybrid Mamba/attention MoE models built from a config with random init.

One registry (`PRESETS`, filled by `@register_preset`) is the extension point for new presets.

- `nemotron-h-tiny`: transformers `NemotronHForCausalLM` laid out like Nemotron 3 Super at toy scale:
  three Mamba-2 (`linear_attention`) / attention / LatentMoE (`moe` with `moe_latent_size`) blocks; 16 small
  non-gated relu2 experts, 4 routed per token, plus a shared expert.
  vLLM's CPU build refuses these MoE layers, so on CPU this preset rolls out with the transformers engine.
- `granite-hybrid-tiny`: `GraniteMoeHybridForCausalLM` (Mamba-2 + attention + gated MoE), which vLLM's CPU
  build serves; it is how the real vLLM rollout path runs on a machine without a GPU.

Both use the local byte-level BPE tokenizer of `rl.policy.tokenizer` (digits split, 2048 tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformers import GraniteMoeHybridConfig, NemotronHConfig, PretrainedConfig, PreTrainedTokenizerBase

from rl.policy.tokenizer import build_bpe_tokenizer


@dataclass(frozen=True)
class Preset:
    """A named policy architecture."""

    name: str
    description: str
    build_config: Callable[[PreTrainedTokenizerBase, dict[str, Any]], PretrainedConfig]
    """(tokenizer, overrides) -> the Hugging Face model config."""
    vllm_on_cpu: bool
    """Whether vLLM's CPU build can serve this architecture."""
    config_class: type[PretrainedConfig]
    """The Hugging Face config class (its fields are what `policy.overrides` may set)."""
    build_tokenizer: Callable[[], PreTrainedTokenizerBase] = build_bpe_tokenizer


PRESETS: dict[str, Preset] = {}


def register_preset(
    name: str, description: str, *, config_class: type[PretrainedConfig], vllm_on_cpu: bool
) -> Callable[[Callable[..., PretrainedConfig]], Callable[..., PretrainedConfig]]:
    """Decorator registering a config builder `(tokenizer, overrides) -> PretrainedConfig` as a preset."""

    def wrap(fn: Callable[..., PretrainedConfig]) -> Callable[..., PretrainedConfig]:
        if name in PRESETS:
            raise ValueError(f"policy preset {name!r} is already registered")
        PRESETS[name] = Preset(
            name=name,
            description=description,
            build_config=fn,
            vllm_on_cpu=vllm_on_cpu,
            config_class=config_class,
        )
        return fn

    return wrap


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a KeyError that lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown policy preset {name!r}; known presets: {', '.join(sorted(PRESETS))}") from None


def config_fields(cls: type[PretrainedConfig]) -> set[str]:
    """Names a Hugging Face config class accepts (its fields and attribute aliases)."""
    return set(cls().to_dict()) | set(getattr(cls, "attribute_map", {})) | {"hybrid_override_pattern"}


def check_overrides(preset: Preset, overrides: dict[str, Any]) -> None:
    """Raise ValueError naming any override key the preset's config class does not have."""
    import difflib

    fields = config_fields(preset.config_class)
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown {preset.config_class.__name__} field(s) for preset {preset.name}: {', '.join(hints)}"
        )


def _token_ids(tok: PreTrainedTokenizerBase) -> dict[str, Any]:
    return {
        "vocab_size": len(tok),  # exact: the policy cannot sample ids the tokenizer lacks
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }


def _apply(base: dict[str, Any], overrides: dict[str, Any], cls: type[PretrainedConfig]) -> PretrainedConfig:
    return cls(**{**base, **overrides})


# Nemotron 3 Super interleaves mostly Mamba-2/LatentMoE pairs with attention at a few depths. At toy scale the
# policy must first learn to copy operands from its prompt, and that needs attention early and often: three
# Mamba-2 / attention / LatentMoE blocks. Attention right after the first Mamba-2 layer copies 94% of held-out
# prompts after 400 steps of a prompt-copy task against 0% with it at depth 5; these 9 layers copy 93% after 400
# steps, which take 55 s against 100 s for the 14-layer "M*EMEMEMEMEM*E" (99%): the CPU Mamba-2 scan dominates a
# step (benchmarks/layout_copy.py; docs/sft.md "Measured").
NEMOTRON_H_TINY_PATTERN = "M*EM*EM*E"


@register_preset(
    "nemotron-h-tiny",
    "NemotronH: Mamba-2 + attention + LatentMoE (16 experts, 4 active), Super-like layout, ~2.1M params (1.5M active)",
    config_class=NemotronHConfig,
    vllm_on_cpu=False,
)
def nemotron_h_tiny(tok: PreTrainedTokenizerBase, overrides: dict[str, Any]) -> PretrainedConfig:
    """The NemotronH tiny config."""
    base = {
        **_token_ids(tok),
        "hidden_size": 128,
        "hybrid_override_pattern": NEMOTRON_H_TINY_PATTERN,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "max_position_embeddings": 4096,
        "intermediate_size": 256,
        "mamba_num_heads": 8,
        "mamba_head_dim": 32,
        "ssm_state_size": 32,
        "n_groups": 2,
        "conv_kernel": 4,
        "chunk_size": 32,  # CPU reference scan: as fast as 64 at 180 tokens, 1.12x at 583 (benchmarks/mamba_chunk.py)
        "n_routed_experts": 16,
        "num_experts_per_tok": 4,
        "moe_intermediate_size": 128,
        "moe_shared_expert_intermediate_size": 256,
        "moe_latent_size": 64,
        "n_group": 1,
        "topk_group": 1,
        "norm_topk_prob": True,
        "routed_scaling_factor": 1.0,
        "tie_word_embeddings": False,
        "rescale_prenorm_residual": True,
        "residual_in_fp32": False,
    }
    if "layers_block_type" in overrides:
        base.pop("hybrid_override_pattern")
    return _apply(base, overrides, NemotronHConfig)


@register_preset(
    "granite-hybrid-tiny",
    "GraniteMoeHybrid: Mamba-2 + attention + gated MoE (8 experts, 2 active), vLLM-CPU servable, ~3.6M (2.5M active)",
    config_class=GraniteMoeHybridConfig,
    vllm_on_cpu=True,
)
def granite_hybrid_tiny(tok: PreTrainedTokenizerBase, overrides: dict[str, Any]) -> PretrainedConfig:
    """The GraniteMoeHybrid tiny config."""
    m, a = "linear_attention", "full_attention"
    base = {
        **_token_ids(tok),
        "hidden_size": 128,
        "layer_types": [m, m, a, m, m, m, a, m],
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "position_embedding_type": "rope",
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "intermediate_size": 64,
        "shared_intermediate_size": 256,
        "mamba_n_heads": 8,
        "mamba_d_head": 32,
        "mamba_n_groups": 1,
        "mamba_d_state": 32,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
        "mamba_chunk_size": 64,
        "tie_word_embeddings": False,
    }
    return _apply(base, overrides, GraniteMoeHybridConfig)
