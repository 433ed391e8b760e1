"""Logprobs from the first loss column, with a shared prompt forwarded once, equal a full forward per row:
values, entropies and gradients, for both hybrid presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rl.learner import pad_batch
from rl.logprobs import first_loss_column, shared_prefix_length, token_logprobs
from rollout.trajectory import Trajectory


def _traj(prompt: list[int], completion: list[int]) -> Trajectory:
    t = Trajectory(env_id="x", seed=0)
    t.append(prompt, generated=False)
    t.append(completion, generated=True, logprobs=[-1.0] * len(completion), version=0)
    return t


def _model(path: Path, seed: int):
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # larger than initial weights, so every layer's state moves the logits
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.train()


def _loss_and_grads(model, b, **kw):
    model.zero_grad(set_to_none=True)
    lp, ent = token_logprobs(model, b["input_ids"], b["attention_mask"], 0.8, True, **kw)
    ((lp * b["mask"]).sum() + 0.1 * (ent * b["mask"]).sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return lp.detach(), ent.detach(), grads


def _group(g: torch.Generator, prompt_len: int, lengths: tuple[int, ...], extra_turn: bool = False):
    prompt = torch.randint(5, 2000, (prompt_len,), generator=g).tolist()
    trajs = []
    for n in lengths:
        t = _traj(prompt, torch.randint(5, 2000, (n,), generator=g).tolist())
        if extra_turn:  # a tool result, then a second generated turn
            t.append(torch.randint(5, 2000, (4,), generator=g).tolist(), generated=False)
            t.append(torch.randint(5, 2000, (3,), generator=g).tolist(), generated=True, logprobs=[-1.0] * 3, version=0)
        trajs.append(t)
    return trajs


@pytest.mark.parametrize("preset", ["nemotron-h-tiny", "granite-hybrid-tiny"])
def test_a_shared_prompt_forwarded_once_gives_the_full_forwards_logprobs_and_gradients(
    saved_policies: dict[str, Path], preset: str
) -> None:
    model = _model(saved_policies[preset], seed=0)
    g = torch.Generator().manual_seed(1)
    b = pad_batch(_group(g, 37, (9, 21, 14, 1), extra_turn=True))
    assert shared_prefix_length(b["input_ids"], b["attention_mask"], first_loss_column(b["mask"])) == 37
    full_lp, full_ent, full_grads = _loss_and_grads(model, b, share_prefix=False)
    lp, ent, grads = _loss_and_grads(model, b, mask=b["mask"])
    m = b["mask"].bool()
    assert torch.allclose(lp[m], full_lp[m], atol=1e-5), (lp[m] - full_lp[m]).abs().max()
    assert torch.allclose(ent[m], full_ent[m], atol=1e-5)
    assert (lp[:, :37] == 0).all() and (full_lp[:, 1:37] != 0).all()  # no vocabulary projection on the prompt
    assert grads.keys() == full_grads.keys()
    for name, want in full_grads.items():
        assert torch.allclose(grads[name], want, rtol=1e-3, atol=1e-5), name


def test_rows_of_different_prompts_run_in_full_from_the_first_loss_column(saved_policies: dict[str, Path]) -> None:
    model = _model(saved_policies["nemotron-h-tiny"], seed=2)
    g = torch.Generator().manual_seed(3)
    b = pad_batch(_group(g, 20, (6, 11)) + _group(g, 12, (8,)))
    start = first_loss_column(b["mask"])
    assert start == 12 and shared_prefix_length(b["input_ids"], b["attention_mask"], start) < 8
    full_lp, full_ent, full_grads = _loss_and_grads(model, b, share_prefix=False)
    lp, ent, grads = _loss_and_grads(model, b, mask=b["mask"])
    m = b["mask"].bool()
    assert torch.allclose(lp[m], full_lp[m], atol=1e-5) and torch.allclose(ent[m], full_ent[m], atol=1e-5)
    assert (lp[:, :12] == 0).all()
    for name, want in full_grads.items():
        assert torch.allclose(grads[name], want, rtol=1e-3, atol=1e-5), name
