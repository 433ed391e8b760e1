"""`model-info` numbers against a hand count from the config."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rl.cli import app
from rl.policy.build import build_config, load_policy
from rl.policy.config import PolicyConfig
from rl.policy.model_info import model_info


def hand_count_nemotron_h(c) -> tuple[int, int]:
    """(total, active) parameters of a NemotronH config, counted by hand from its fields."""
    h, v = c.hidden_size, c.vocab_size
    inner = c.mamba_num_heads * c.mamba_head_dim
    conv_dim = inner + 2 * c.n_groups * c.ssm_state_size
    mamba = h * (inner + conv_dim + c.mamba_num_heads) + conv_dim * c.conv_kernel + conv_dim
    mamba += 3 * c.mamba_num_heads + inner + inner * h
    attn = h * c.num_attention_heads * c.head_dim * 2 + h * c.num_key_value_heads * c.head_dim * 2
    latent = c.moe_latent_size
    experts = c.n_routed_experts * 2 * latent * c.moe_intermediate_size
    moe_dense = c.n_routed_experts * h + 2 * h * c.moe_shared_expert_intermediate_size + 2 * h * latent
    mixers = {"linear_attention": mamba, "full_attention": attn, "moe": experts + moe_dense}
    total = 2 * v * h + h  # embeddings, lm head, final norm
    total += sum(mixers[t] + h for t in c.layers_block_type)  # + one norm per block
    n_moe = c.layers_block_type.count("moe")
    inactive = n_moe * experts * (c.n_routed_experts - c.num_experts_per_tok) // c.n_routed_experts
    return total, total - inactive


def test_nemotron_h_tiny_matches_the_hand_count() -> None:
    config, _ = build_config(PolicyConfig(name_or_path="nemotron-h-tiny"))
    info = model_info(config)
    total, active = hand_count_nemotron_h(config)
    assert info.total_params == total
    assert info.active_params == active
    assert info.layer_pattern == "".join(
        {"linear_attention": "M", "moe": "E", "full_attention": "*"}[t] for t in config.layers_block_type
    )
    assert (info.experts_total, info.experts_active, info.moe_latent_size) == (16, 4, 64)
    # and the meta-device count equals the materialised model's
    model, _ = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny"))
    assert sum(p.numel() for p in model.parameters()) == total


def test_granite_counts_match_the_real_model() -> None:
    config, _ = build_config(PolicyConfig(name_or_path="granite-hybrid-tiny"))
    info = model_info(config)
    model, _ = load_policy(PolicyConfig(name_or_path="granite-hybrid-tiny"))
    assert info.total_params == sum(p.numel() for p in model.parameters())
    per_layer_experts = sum(p.numel() for n, p in model.named_parameters() if "layers.0.block_sparse_moe.experts" in n)
    inactive = config.num_hidden_layers * per_layer_experts * 6 // 8
    assert info.active_params == info.total_params - inactive
    assert info.layer_pattern == "MM*MMM*M"


def test_cli_model_info_json_and_directory(saved_policies) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["model-info", "nemotron-h-tiny", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    config, _ = build_config(PolicyConfig(name_or_path="nemotron-h-tiny"))
    assert (data["total_params"], data["active_params"]) == hand_count_nemotron_h(config)
    by_dir = runner.invoke(app, ["model-info", str(saved_policies["nemotron-h-tiny"]), "--json"])
    assert json.loads(by_dir.stdout)["total_params"] == data["total_params"]
    bad = runner.invoke(app, ["model-info", "no-such-model"])
    assert bad.exit_code == 2 and "no-such-model" in bad.stderr
