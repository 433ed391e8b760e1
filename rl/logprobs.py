"""Per-token logprobs (and entropies) of token sequences under a causal LM, computed only where the loss needs them.

- Only the columns from the first loss token on get the vocabulary projection (the model's `logits_to_keep`):
  the prompt columns before it, most of a sequence, need none.
- Rows that share a prefix before their first loss token (the samples of a GRPO group, which share their prompt)
  run it once. The prefix is forwarded for one row with a cache, the cache is copied to every row, and the rows
  continue from it. Gradients reach the shared forward from every row, so the result equals one full forward per
  row up to float rounding (tests/test_learner.py compares both, logprobs and gradients).

Deliberately simplified: one shared prefix per batch (the longest common prefix of all rows), so a batch that
mixes prompts runs in full; the learner's micro-batches never span two groups (`rl.learner.micro_batches`).
Models whose cache holds other layer types than attention and Mamba layers (e.g. sliding-window attention)
always run in full.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from rollout.engines.transformers_engine import mergeable

MIN_SHARED_PREFIX = 8
"""Shorter shared prefixes run in full: the second forward pass would cost more than it saves."""


def first_loss_column(mask: torch.Tensor) -> int:
    """The first column (>= 1) where any row has a loss token; the last column when none has."""
    used = mask[:, 1:].sum(0).nonzero()
    return 1 + int(used[0]) if len(used) else mask.shape[1] - 1


def shared_prefix_length(ids: torch.Tensor, attn: torch.Tensor, limit: int) -> int:
    """Length of the token prefix every row has in common, at most `limit` and within every row's real tokens."""
    n = min(int(attn.sum(1).min()), limit)
    differs = (ids[:, :n] != ids[:1, :n]).any(0).nonzero()
    return int(differs[0]) if len(differs) else n


def _shared_prefix_logits(model, ids: torch.Tensor, attn: torch.Tensor, prefix: int, start: int):
    """Logits predicting tokens start..width-1, with the first `prefix` tokens forwarded once; None when the
    model's cache cannot be copied across rows."""
    rows, width = ids.shape
    head = model(
        input_ids=ids[:1, :prefix],
        past_key_values=DynamicCache(config=model.config),
        use_cache=True,
        logits_to_keep=1,
    )
    cache = head.past_key_values
    if not mergeable(cache):
        return None
    cache.reorder_cache(torch.zeros(rows, dtype=torch.long, device=ids.device))  # one copy of the prefix per row
    # the tail predicts tokens prefix+1..width; the head's last position predicts token `prefix`
    keep = width - prefix if start == prefix else width - start + 1
    tail = model(
        input_ids=ids[:, prefix:], attention_mask=attn, past_key_values=cache, use_cache=True, logits_to_keep=keep
    ).logits[:, :-1]
    if start == prefix:
        return torch.cat([head.logits.expand(rows, -1, -1), tail], dim=1)
    return tail


def token_logprobs(
    model,
    ids: torch.Tensor,
    attn: torch.Tensor,
    temperature: float,
    with_entropy: bool = False,
    mask: torch.Tensor | None = None,
    share_prefix: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token logprobs aligned to tokens (position 0 gets 0) and optionally per-token entropies ([B, T]).

    With a loss `mask`, columns before the first loss token come back as 0 (no vocabulary projection there), and
    with `share_prefix` a prefix common to every row before that column is forwarded once (module docstring).
    Right padding (`attn` 0 after a row's tokens) never affects real positions."""
    rows, width = ids.shape
    start = first_loss_column(mask) if mask is not None else 1
    logits = None
    if share_prefix and mask is not None and rows > 1:
        prefix = shared_prefix_length(ids, attn, start)
        if prefix >= MIN_SHARED_PREFIX:
            logits = _shared_prefix_logits(model, ids, attn, prefix, start)
    if logits is None:
        out = model(input_ids=ids, attention_mask=attn, use_cache=False, logits_to_keep=width - start + 1)
        logits = out.logits[:, :-1]
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    lp = logp_all.gather(-1, ids[:, start:, None])[..., 0]
    lp = torch.cat([lp.new_zeros(rows, start), lp], dim=1)
    if not with_entropy:
        return lp, None
    ent = -(logp_all.exp() * logp_all).sum(-1)
    return lp, torch.cat([ent.new_zeros(rows, start), ent], dim=1)
