"""The tiny hybrid MoE presets: training step, cached generation, saving and reloading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rl.policy.build import build_config, load_policy
from rl.policy.config import PolicyConfig
from rl.policy.presets import PRESETS

PRESET_NAMES = sorted(PRESETS)
PROMPT = [{"role": "user", "content": "Call add with a=2 and b=3."}]

# parameter-name fragments that must receive gradient: one per kind of block
KEY_PARAMS = {
    "nemotron-h-tiny": [
        "embeddings",
        "mixer.in_proj",
        "mixer.q_proj",
        "experts.up_proj",
        "fc1_latent_proj",
        "lm_head",
    ],
    "granite-hybrid-tiny": [
        "embed_tokens",
        "mamba.in_proj",
        "self_attn.q_proj",
        "experts.gate_up_proj",
        "lm_head",
    ],
}


@pytest.fixture(scope="module", params=PRESET_NAMES)
def policy(request):
    model, tok = load_policy(PolicyConfig(name_or_path=request.param))
    model.eval()
    return request.param, model, tok


def _prompt_ids(tok) -> torch.Tensor:
    enc = tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=True, return_dict=True)
    return torch.tensor([list(enc["input_ids"])])


def test_presets_are_hybrid_moe_in_the_size_range() -> None:
    from rl.policy.model_info import model_info

    for name in PRESET_NAMES:
        info = model_info(build_config(PolicyConfig(name_or_path=name))[0])
        assert 1_000_000 <= info.total_params <= 5_000_000, (name, info.total_params)
        assert "M" in info.layer_pattern and "*" in info.layer_pattern
        assert info.experts_total >= 8 and info.experts_active >= 2
        assert info.active_params < info.total_params


def test_nemotron_h_tiny_is_laid_out_like_super() -> None:
    config, _ = build_config(PolicyConfig(name_or_path="nemotron-h-tiny"))
    types = config.layers_block_type
    assert types.count("linear_attention") >= 3 and types.count("moe") >= 3
    assert 1 <= types.count("full_attention") <= len(types) // 3
    assert config.moe_latent_size is not None and config.moe_latent_size < config.hidden_size
    assert config.n_routed_experts >= 16 and config.num_experts_per_tok >= 4


def test_forward_backward(policy) -> None:
    name, model, tok = policy
    model.train()
    ids = torch.randint(0, len(tok), (2, 48), generator=torch.Generator().manual_seed(0))
    out = model(input_ids=ids, labels=ids)
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for frag in KEY_PARAMS[name]:
        hits = [n for n in grads if frag in n]
        assert hits, f"no parameter matches {frag}"
        assert any(grads[n] is not None and grads[n].abs().sum() > 0 for n in hits), f"no gradient reaches {frag}"
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    model.zero_grad(set_to_none=True)
    model.eval()


@torch.no_grad()
def test_cached_generation_equals_uncached_greedy(policy) -> None:
    _, model, tok = policy
    ids = _prompt_ids(tok)
    n_new = 12
    gen = model.generate(
        ids,
        max_new_tokens=n_new,
        min_new_tokens=n_new,
        do_sample=False,
        use_cache=True,
        output_logits=True,
        return_dict_in_generate=True,
    )
    cached_tokens = gen.sequences[0, ids.shape[1] :].tolist()
    seq = ids
    for step in range(n_new):
        logits = model(input_ids=seq, use_cache=False).logits[0, -1]
        torch.testing.assert_close(gen.logits[step][0], logits, rtol=1e-4, atol=1e-4)
        nxt = int(logits.argmax())
        assert nxt == cached_tokens[step]
        seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, _ = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny", init_seed=1))
    b, _ = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny", init_seed=1))
    c, _ = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny", init_seed=2))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_overrides_change_the_architecture() -> None:
    small, _ = build_config(PolicyConfig(name_or_path="nemotron-h-tiny", overrides={"hidden_size": 64}))
    assert small.hidden_size == 64
    with pytest.raises(ValueError, match=r"'hiden_size' \(did you mean 'hidden_size'\?\)"):
        PolicyConfig(name_or_path="nemotron-h-tiny", overrides={"hiden_size": 64})


@pytest.mark.parametrize("name", PRESET_NAMES)
@torch.no_grad()
def test_saved_directory_reloads_in_transformers(name: str, saved_policies: dict[str, Path]) -> None:
    path = saved_policies[name]
    for f in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ):
        assert (path / f).is_file(), f
    original, tok = load_policy(PolicyConfig(name_or_path=name))
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    tok2 = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert tok2.chat_template == tok.chat_template and len(tok2) == len(tok)
    ids = _prompt_ids(tok2)
    torch.testing.assert_close(model(input_ids=ids).logits, original.eval()(input_ids=ids).logits)
    # and through agentrl's own loader, by path
    again, _ = load_policy(PolicyConfig(name_or_path=str(path)))
    torch.testing.assert_close(again.eval()(input_ids=ids).logits, model(input_ids=ids).logits)


def test_overrides_on_a_checkpoint_directory_are_refused(saved_policies: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="presets only"):
        PolicyConfig(name_or_path=str(saved_policies["nemotron-h-tiny"]), overrides={"hidden_size": 8})
