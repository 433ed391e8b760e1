"""Faster single-token decode for the hybrid Mamba/attention presets on CPU, as exact re-implementations of the
torch fallbacks transformers uses when `mamba_ssm` and `causal_conv1d` (CUDA-only packages) are absent.

A decode step of nemotron-h-tiny (32 rows, 250-token prompts, one thread) spent 9.3 ms of its 21 ms in the three
Mamba mixers and 4.7 ms in attention. Three fallbacks do more work than one token needs:

- `mamba2_selective_state_update` gets `dt`, `A`, `D` and `dt_bias` expanded to (heads, head_dim[, state]) and
  exponentiates `dt * A` over every state element, although both are per head; its read-out is a batched matmul
  of tiny matrices. `selective_state_update` exponentiates once per head and reads out with a multiply-sum.
- `causal_conv1d_update` concatenates the conv state with the new column and runs a grouped `conv1d` over the
  window; `causal_conv1d_update` here shifts the state in place and takes one weighted sum.
- SDPA with grouped-query attention: transformers repeats the key/value heads on CPU whenever a mask is given
  (`use_gqa_in_sdpa`); torch's CPU kernel takes `enable_gqa=True` with a mask and gives the same output.
  `sdpa_gqa_attention` is registered as the attention implementation `agentrl_sdpa_gqa`.

`install()` puts the two Mamba functions into the modeling modules of the presets (module globals that their
mixers look up per call) and returns a handle whose `uninstall()` restores them. They act only on a thread inside
`enabled()` (the engine's serving thread) and hand everything else to the original: other threads, another
device or dtype, several tokens. So another model in the same process computes exactly what it did, and an
engine with `decode_kernels=False` really runs transformers' functions. The engine also sets its own model's
attention implementation (`use_fast_attention`). `rollout.decode_kernels: false` keeps
transformers' functions; the tests check that both give the same logits and that each function matches its
reference, and benchmarks/decode_kernels.py measures the decode step both ways.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.activations import ACT2FN
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

MODELING_MODULES = (
    "transformers.models.nemotron_h.modeling_nemotron_h",
    "transformers.models.granitemoehybrid.modeling_granitemoehybrid",
)
"""Modeling modules whose Mamba mixers call the two functions by these module-global names."""

ATTENTION = "agentrl_sdpa_gqa"
"""Name under which `sdpa_gqa_attention` is registered with transformers' attention interface."""


_thread = threading.local()


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Within this block, on this thread, the installed functions compute (elsewhere they call the original)."""
    _thread.depth = getattr(_thread, "depth", 0) + 1
    try:
        yield
    finally:
        _thread.depth -= 1


def _covered(*tensors: torch.Tensor) -> bool:
    on = getattr(_thread, "depth", 0) > 0
    return on and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def _per_head(t: torch.Tensor, dims: int) -> bool:
    """Whether `t` was expanded from one value per head over its last `dims` dimensions (stride 0)."""
    return all(s == 0 for s in t.stride()[-dims:])


def make_selective_state_update(original: Callable) -> Callable:
    """Mamba-2's recurrent update of one token, with `original` (transformers' fallback) for uncovered inputs.

    Shapes as the fallback takes them: state (b, h, p, n), x/dt/z (b, h, p), A (h, p, n), B/C (b, g, n),
    D/dt_bias (h, p)."""

    def selective_state_update(
        state: torch.Tensor,
        hidden_states: torch.Tensor,
        dt: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        D: torch.Tensor | None = None,
        dt_bias: torch.Tensor | None = None,
        dt_softplus: bool = False,
        z: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        if hidden_states.dim() != 3 or not _covered(state, hidden_states, dt, A, B, C):
            return original(state, hidden_states, dt, A, B, C, D, dt_bias, dt_softplus, z, **kwargs)
        heads = hidden_states.shape[1]
        groups = B.shape[1]
        per_head = _per_head(dt, 1) and _per_head(A, 2) and (dt_bias is None or _per_head(dt_bias, 1))
        if per_head:  # the mixers pass per-head values expanded over head_dim: compute them once per head
            dt, A = dt[..., :1], A[:, :1, :1]
            dt_bias = None if dt_bias is None else dt_bias[:, :1]
        if dt_bias is not None:
            dt = dt + dt_bias
        if dt_softplus:
            dt = F.softplus(dt)
        dA = torch.exp(dt[..., None] * A)  # (b, h, p or 1, n or 1)
        if groups == 1:
            B_h, C_h = B[:, :, None, :], C[:, :, None, :]  # (b, 1, 1, n), broadcast over heads
        else:
            B_h = B.repeat_interleave(heads // groups, dim=1)[:, :, None, :]  # (b, h, 1, n)
            C_h = C.repeat_interleave(heads // groups, dim=1)[:, :, None, :]
        state.mul_(dA).add_((dt * hidden_states)[..., None] * B_h)
        out = (state * C_h).sum(-1)
        if D is not None:
            out = out + hidden_states * D
        if z is not None:
            out = out * F.silu(z)
        return out

    selective_state_update.original = original
    return selective_state_update


def make_causal_conv1d_update(original: Callable) -> Callable:
    """The depthwise causal convolution of one new column (b, channels, 1) against the rolling `conv_state`
    (b, channels, state_len), updated in place; `original` for several columns or uncovered inputs."""

    def causal_conv1d_update(
        hidden_states: torch.Tensor,
        conv_state: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None = None,
        activation: str | None = None,
    ) -> torch.Tensor:
        if hidden_states.shape[-1] != 1 or not _covered(hidden_states, conv_state, weight):
            return original(hidden_states, conv_state, weight, bias, activation)
        conv_state.copy_(torch.cat([conv_state[:, :, 1:], hidden_states], dim=-1))
        window = conv_state[:, :, -weight.shape[-1] :]
        out = (window * weight).sum(-1, keepdim=True)
        if bias is not None:
            out = out + bias[:, None]
        if activation is not None:
            out = ACT2FN[activation](out)
        return out

    causal_conv1d_update.original = original
    return causal_conv1d_update


def sdpa_gqa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, but with a mask, grouped-query heads go to torch as `enable_gqa=True` on CPU
    instead of being repeated. Without a mask transformers already passes `enable_gqa` (and handles causal
    alignment), so that case, like any other (position bias, paged cache, another device, no grouping), is
    transformers'."""
    if (
        attention_mask is None
        or getattr(module, "num_key_value_groups", 1) == 1
        or query.device.type != "cpu"
        or kwargs.get("position_bias") is not None
        or kwargs.get("cache") is not None
        or kwargs.get("output_attentions", False)
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    out = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        enable_gqa=True,
    )
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, sdpa_gqa_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)

_MAKERS = {
    "mamba2_selective_state_update": make_selective_state_update,
    "causal_conv1d_update": make_causal_conv1d_update,
}


@dataclass
class Installed:
    """What `install` replaced: (module, name, original function) triples; `uninstall` puts them back."""

    replaced: list[tuple[object, str, Callable]] = field(default_factory=list)

    def uninstall(self) -> None:
        for module, name, original in reversed(self.replaced):
            setattr(module, name, original)
        self.replaced.clear()


def install(modules: tuple[str, ...] = MODELING_MODULES) -> Installed:
    """Put the decode functions into `modules` (idempotent: a module already holding them is left alone)."""
    done = Installed()
    for dotted in modules:
        module = importlib.import_module(dotted)
        for name, make in _MAKERS.items():
            current = getattr(module, name, None)
            if current is None or hasattr(current, "original"):
                continue
            setattr(module, name, make(current))
            done.replaced.append((module, name, current))
    return done


def use_fast_attention(model: torch.nn.Module) -> bool:
    """Switch `model` from transformers' SDPA to `sdpa_gqa_attention` (same results); False if it does not use
    SDPA (then it is left as it is)."""
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    model.set_attn_implementation(ATTENTION)
    return True
