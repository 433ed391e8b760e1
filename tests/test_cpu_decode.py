"""The CPU decode functions equal transformers' fallbacks: each function on random inputs, and a model's logits
over a prefill and several decode steps with them installed and without."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from rollout.engines import cpu_decode
from rollout.engines.transformers_engine import positions

NEMOTRON = importlib.import_module(cpu_decode.MODELING_MODULES[0])


def _reference(name: str):
    """transformers' own function, whether or not an engine in this process installed ours."""
    fn = getattr(NEMOTRON, name)
    return getattr(fn, "original", fn)


@pytest.fixture
def transformers_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers' functions in every modeling module for the test (whether or not an engine installed ours)."""
    for dotted in cpu_decode.MODELING_MODULES:
        module = importlib.import_module(dotted)
        for name in ("mamba2_selective_state_update", "causal_conv1d_update"):
            fn = getattr(module, name)
            monkeypatch.setattr(module, name, getattr(fn, "original", fn))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("expanded", [True, False])
def test_selective_state_update_matches_transformers(groups: int, expanded: bool) -> None:
    g = torch.Generator().manual_seed(groups)
    b, h, p, n = 3, 4, 8, 16
    x, z = torch.randn(b, h, p, generator=g), torch.randn(b, h, p, generator=g)
    B, C = torch.randn(b, groups, n, generator=g), torch.randn(b, groups, n, generator=g)
    if expanded:  # as NemotronHMamba2Mixer passes them: one value per head, expanded
        dt = torch.randn(b, h, 1, generator=g).expand(b, h, p)
        A = -torch.rand(h, 1, 1, generator=g).expand(h, p, n)
        D, dt_bias = torch.rand(h, 1, generator=g).expand(h, p), torch.rand(h, 1, generator=g).expand(h, p)
    else:
        dt, A = torch.randn(b, h, p, generator=g), -torch.rand(h, p, n, generator=g)
        D, dt_bias = torch.rand(h, p, generator=g), torch.rand(h, p, generator=g)
    state = torch.randn(b, h, p, n, generator=g)
    ref = _reference("mamba2_selective_state_update")
    fast = cpu_decode.make_selective_state_update(ref)
    for gate in (None, z):
        want_state, got_state = state.clone(), state.clone()
        want = ref(want_state, x, dt, A, B, C, D, dt_bias=dt_bias, dt_softplus=True, z=gate)
        with cpu_decode.enabled():
            got = fast(got_state, x, dt, A, B, C, D, dt_bias=dt_bias, dt_softplus=True, z=gate)
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        assert torch.allclose(got_state, want_state, atol=1e-5)
        assert not torch.equal(got_state, state)  # the state was updated in place


def test_uncovered_inputs_go_to_transformers() -> None:
    calls = []

    def original(*args, **kwargs):
        calls.append(args[0].dtype)
        return "original"

    state, x = torch.zeros(1, 2, 2, 4), torch.zeros(1, 2, 2)
    A, B = torch.zeros(2, 2, 4), torch.zeros(1, 1, 4)
    fast = cpu_decode.make_selective_state_update(original)
    conv = cpu_decode.make_causal_conv1d_update(original)
    column, conv_state, weight = torch.zeros(1, 3, 1), torch.zeros(1, 3, 4), torch.zeros(3, 4)
    assert fast(state, x, x, A, B, B) == "original"  # outside `enabled()`
    assert conv(column, conv_state, weight) == "original"
    with cpu_decode.enabled():
        assert fast(state.bfloat16(), x, x, A, B, B) == "original"  # another dtype
        assert conv(torch.zeros(1, 3, 2), conv_state, weight) == "original"  # two columns
        assert fast(state, x, x, A, B, B).shape == (1, 2, 2)  # covered
        assert conv(column, conv_state, weight).shape == (1, 3, 1)
    assert calls == [torch.float32, torch.float32, torch.bfloat16, torch.float32]


@pytest.mark.parametrize("activation", [None, "silu"])
def test_causal_conv1d_update_matches_transformers(activation: str | None) -> None:
    g = torch.Generator().manual_seed(0)
    channels, k = 6, 4
    weight, bias = torch.randn(channels, k, generator=g), torch.randn(channels, generator=g)
    state = torch.randn(2, channels, k, generator=g)
    ref = _reference("causal_conv1d_update")
    fast = cpu_decode.make_causal_conv1d_update(ref)
    want_state, got_state = state.clone(), state.clone()
    for _ in range(3):  # several steps: the rolled state feeds the next one
        x = torch.randn(2, channels, 1, generator=g)
        want = ref(x, want_state, weight, bias, activation)
        with cpu_decode.enabled():
            got = fast(x, got_state, weight, bias, activation)
        assert torch.allclose(got, want, atol=1e-6)
        assert torch.equal(got_state, want_state)


class _Attn(torch.nn.Module):
    num_key_value_groups = 4
    is_causal = True


@pytest.mark.parametrize("q_len", [1, 5])
@pytest.mark.parametrize("masked", [True, False])
def test_sdpa_gqa_matches_sdpa(q_len: int, masked: bool) -> None:
    g = torch.Generator().manual_seed(q_len)
    b, kv_heads, kv_len, d = 2, 2, 7, 16
    q = torch.randn(b, kv_heads * 4, q_len, d, generator=g)
    k, v = torch.randn(b, kv_heads, kv_len, d, generator=g), torch.randn(b, kv_heads, kv_len, d, generator=g)
    mask = None
    if masked:  # row 0 left-padded by two, causal over the last q_len positions
        mask = torch.ones(b, 1, q_len, kv_len, dtype=torch.bool).tril(kv_len - q_len)
        mask[0, :, :, :2] = False
    kv = (k, v) if masked or q_len == 1 else (k[:, :, :q_len], v[:, :, :q_len])
    want, _ = sdpa_attention_forward(_Attn(), q, *kv, mask, scaling=0.25)
    got, _ = cpu_decode.sdpa_gqa_attention(_Attn(), q, *kv, mask, scaling=0.25)
    assert got.shape == (b, q_len, kv_heads * 4, d)
    assert torch.allclose(got, want, atol=1e-6)


def test_install_is_idempotent_and_uninstall_restores(transformers_functions: None) -> None:
    before = NEMOTRON.mamba2_selective_state_update
    handle = cpu_decode.install()
    assert NEMOTRON.mamba2_selective_state_update.original is before
    assert len(handle.replaced) == 2 * len(cpu_decode.MODELING_MODULES)
    assert cpu_decode.install().replaced == []  # already there
    handle.uninstall()
    assert NEMOTRON.mamba2_selective_state_update is before


def _greedy_logits(model, prompts: list[list[int]], steps: int) -> torch.Tensor:
    """Prefill left-padded prompts, then `steps` greedy decode steps; the logits of every step stacked."""
    width = max(map(len, prompts))
    ids = torch.zeros((len(prompts), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = torch.tensor(p), 1
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), past_key_values=cache)
    logits = [out.logits[:, -1]]
    for _ in range(steps):
        mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=1)
        nxt = logits[-1].argmax(-1, keepdim=True)
        out = model(input_ids=nxt, attention_mask=mask, position_ids=positions(mask)[:, -1:], past_key_values=cache)
        logits.append(out.logits[:, -1])
    return torch.stack(logits)


@pytest.mark.parametrize("preset", ["nemotron-h-tiny", "granite-hybrid-tiny"])
def test_decode_logits_equal_with_and_without(
    saved_policies: dict[str, Path], preset: str, transformers_functions: None
) -> None:
    model = AutoModelForCausalLM.from_pretrained(saved_policies[preset], local_files_only=True).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger than initial weights, so every layer's state moves the logits
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    prompts = [torch.randint(5, 2000, (n,), generator=g).tolist() for n in (9, 23, 4)]
    handle = cpu_decode.install()
    with torch.no_grad():
        installed_but_off = _greedy_logits(model, prompts, steps=6)
        handle.uninstall()
        want = _greedy_logits(model, prompts, steps=6)
        cpu_decode.install()
        assert cpu_decode.use_fast_attention(model)
        with cpu_decode.enabled():
            got = _greedy_logits(model, prompts, steps=6)
    model.set_attn_implementation("sdpa")
    assert torch.equal(installed_but_off, want)  # outside `enabled()` the installed functions are transformers'
    assert model.config._attn_implementation == "sdpa"
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    assert (want[1:] - want[:-1]).abs().max() > 1e-2  # the decode steps did move the logits


def test_rollout_config_switches_the_engine(saved_policies: dict[str, Path]) -> None:
    from rollout.engines.select import build_engine

    path = saved_policies["nemotron-h-tiny"]
    for on in (True, False):
        engine = build_engine("transformers", path, {"decode_kernels": on})
        try:
            assert engine.decode_kernels is on
            assert engine.model.config._attn_implementation == (cpu_decode.ATTENTION if on else "sdpa")
        finally:
            engine.close()
