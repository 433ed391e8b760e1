"""What a policy is made of: layer pattern, total and active parameters per token, experts, latent size.

Active parameters per token (the figure the Nemotron 3 reports lead with) counts every parameter a token
passes through: all dense weights, embeddings and LM head included, plus only `experts_active` of each MoE
layer's routed experts. The model is instantiated on the meta device, so a 120B checkpoint costs no memory.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PretrainedConfig

LAYER_SYMBOLS = {
    "linear_attention": "M",
    "mamba": "M",
    "moe": "E",
    "full_attention": "*",
    "attention": "*",
    "mlp": "-",
}
_EXPERT_LIST = re.compile(r"\.experts\.(\d+)\.")


@dataclass
class ModelInfo:
    """Size and shape of a policy."""

    architecture: str
    model_type: str
    layer_pattern: str
    """One symbol per layer: M Mamba-2, * attention, E MoE, - dense MLP (each layer's FFN noted separately)."""
    ffn_per_layer: str | None
    """For architectures where every layer also has an MoE FFN (Granite hybrid), says so."""
    num_layers: int
    hidden_size: int
    vocab_size: int
    total_params: int
    active_params: int
    embedding_params: int
    routed_expert_params: int
    experts_total: int
    experts_active: int
    shared_experts: int
    moe_latent_size: int | None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly)."""
        return asdict(self)


def _experts(config: PretrainedConfig) -> tuple[int, int, int]:
    total = getattr(config, "n_routed_experts", None) or getattr(config, "num_local_experts", None) or 0
    active = getattr(config, "num_experts_per_tok", None) or 0
    if hasattr(config, "n_shared_experts"):
        shared = int(config.n_shared_experts or 0)
    else:
        shared = 1 if (getattr(config, "shared_intermediate_size", 0) or 0) > 0 and total else 0
    return int(total), int(active), shared


def model_info(config: PretrainedConfig) -> ModelInfo:
    """Count parameters of the architecture described by `config` (no weights are materialised)."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n_experts, k_active, n_shared = _experts(config)
    total = 0
    routed = 0
    for name, p in model.named_parameters():
        n = p.numel()
        total += n
        if n_experts and ".experts." in name:
            if _EXPERT_LIST.search(name) or (p.dim() == 3 and p.shape[0] == n_experts):
                routed += n
    active = total - routed + (routed * k_active // n_experts if n_experts else 0)
    embedding = model.get_input_embeddings().weight.numel()
    out = model.get_output_embeddings()
    if out is not None and out.weight is not model.get_input_embeddings().weight:
        embedding += out.weight.numel()

    layer_types = list(getattr(config, "layers_block_type", None) or getattr(config, "layer_types", None) or [])
    pattern = "".join(LAYER_SYMBOLS.get(t, "?") for t in layer_types)
    ffn = None
    if config.model_type == "granitemoehybrid" and n_experts:
        ffn = f"every layer: MoE FFN ({n_experts} experts, {k_active} active, {n_shared} shared)"
    return ModelInfo(
        architecture=(config.architectures or [type(model).__name__])[0],
        model_type=config.model_type,
        layer_pattern=pattern,
        ffn_per_layer=ffn,
        num_layers=len(layer_types) or int(getattr(config, "num_hidden_layers", 0)),
        hidden_size=int(config.hidden_size),
        vocab_size=int(config.vocab_size),
        total_params=total,
        active_params=active,
        embedding_params=embedding,
        routed_expert_params=routed,
        experts_total=n_experts,
        experts_active=k_active,
        shared_experts=n_shared,
        moe_latent_size=getattr(config, "moe_latent_size", None),
    )
