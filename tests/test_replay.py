"""SFT-data replay (`algo.replay`): demonstrations rendered like rollouts, drawn per step, and the learner's term."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import environments
from rl.config.run import RunConfig
from rl.grpo.config import ReplayConfig
from rl.grpo.replay import ReplaySeedError, build_replay
from rl.learner import LearnerImpl
from rl.logprobs import token_logprobs
from rollout.trajectory import Trajectory


def _replay(saved_policies: dict[str, Path], **kw):
    cfg = ReplayConfig(envs={"tools-calculator-easy": 3.0, "basic-copy-result": 1.0}, demos=6, **kw)
    return build_replay(cfg, saved_policies["nemotron-h-tiny"], seed=5)


def test_demonstrations_are_rendered_with_the_assistant_mask_a_rollout_has(saved_policies: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    from sft.data import oracle_demo

    replay = _replay(saved_policies)
    assert {e: len(s) for e, s in replay.sequences.items()} == {"tools-calculator-easy": 6, "basic-copy-result": 6}
    tok = AutoTokenizer.from_pretrained(saved_policies["nemotron-h-tiny"])
    ids, mask = replay.sequences["tools-calculator-easy"][2]
    demo = oracle_demo("tools-calculator-easy", 2)
    assert len(ids) == len(mask)
    # the loss tokens are exactly the assistant turns: the oracle's tool call and answer, each ending the turn
    loss_text = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert demo.messages[-1]["content"] in loss_text and "<|tool_call|>" in loss_text
    assert loss_text.count("<|end|>") == sum(m["role"] == "assistant" for m in demo.messages)
    # prompts and tool results carry no loss
    prompt_text = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert demo.messages[0]["content"] in prompt_text and "<|assistant|>" not in loss_text


def test_the_draw_follows_the_weights_and_repeats_for_the_same_step(saved_policies: dict[str, Path]) -> None:
    replay = _replay(saved_policies, sequences_per_step=400)
    first = replay.draw(7)
    assert first == replay.draw(7) and first != replay.draw(8)
    calc = {tuple(i) for i, _ in replay.sequences["tools-calculator-easy"]}
    share = sum(tuple(i) in calc for i, _ in first) / len(first)
    assert 0.68 < share < 0.82  # weight 3 of 4
    assert "4 per step" in _replay(saved_policies).describe()


def test_unknown_env_and_seeds_overlapping_the_eval_are_refused(saved_policies: dict[str, Path]) -> None:
    path = saved_policies["nemotron-h-tiny"]
    with pytest.raises(environments.UnknownEnvError, match=r"algo.replay.envs: unknown environment id 'tools-calc'"):
        build_replay(ReplayConfig(envs={"tools-calc": 1.0}), path)
    cfg = RunConfig.model_validate({"eval": {"envs": ["tools"], "seed_offset": 100, "num_seeds": 10}})
    with pytest.raises(ReplaySeedError, match=r"tools-calculator-easy \[0, 128\) overlap .* \[100, 110\)"):
        build_replay(ReplayConfig(envs={"tools-calculator-easy": 1.0}, demos=128), path, cfg.eval)
    # below the held-out seeds, or an env the eval does not play, is fine
    assert build_replay(ReplayConfig(envs={"tools-calculator-easy": 1.0}, demos=100), path, cfg.eval) is not None
    assert build_replay(ReplayConfig(envs={"basic-copy-result": 1.0}, demos=128), path, cfg.eval) is not None
    assert build_replay(ReplayConfig(), path) is None
    with pytest.raises(ValueError, match=r"algo.replay.envs: weights must be > 0, got \{'tools-calculator-easy': 0.0"):
        ReplayConfig(envs={"tools-calculator-easy": 0.0})


def _nll(learner: LearnerImpl, seqs) -> float:
    with torch.no_grad():
        return float(learner.replay_loss(seqs)) / learner.algo.replay.coef


def test_the_replay_term_lowers_the_demonstrations_nll_and_leaves_the_policy_terms(
    saved_policies: dict[str, Path],
) -> None:
    replay = _replay(saved_policies)
    seqs = replay.sequences["tools-calculator-easy"][:4]
    algo = {"lr": 3e-3, "replay": {"envs": {"tools-calculator-easy": 1.0}, "coef": 1.0}}
    with_replay = LearnerImpl(saved_policies["nemotron-h-tiny"], algo, {})
    # a batch with zero advantages: the policy term has no gradient, so only the replay term moves the weights
    trajs = []
    for tokens, loss_mask in replay.sequences["basic-copy-result"][:2]:
        t = Trajectory(env_id="basic-copy-result", seed=0)
        start = loss_mask.index(1)
        t.append(tokens[:start], generated=False)
        t.append(tokens[start:], generated=True, logprobs=[-1.0] * (len(tokens) - start), version=0)
        trajs.append(t)
    before = _nll(with_replay, seqs)
    stats = with_replay.step(trajs, [0.0] * len(trajs), seqs)
    assert _nll(with_replay, seqs) < before
    assert stats["replay/nll"] == pytest.approx(before, rel=1e-4)
    # without replay sequences the same step changes nothing and reports no replay term
    plain = LearnerImpl(saved_policies["nemotron-h-tiny"], algo, {})
    checksum = plain.parameter_checksum()
    stats = plain.step(trajs, [0.0] * len(trajs))
    assert "replay/nll" not in stats and plain.parameter_checksum() == pytest.approx(checksum, abs=1e-9)
    # the term is a token mean of the demonstrations' logprobs under the model, times coef
    ids = torch.tensor([seqs[0][0]])
    mask = torch.tensor([seqs[0][1]], dtype=torch.float32)
    with torch.no_grad():
        lp, _ = token_logprobs(plain.model, ids, torch.ones_like(ids), 1.0, mask=mask)
    assert _nll(plain, seqs[:1]) == pytest.approx(float(-(lp * mask).sum() / mask.sum()), rel=1e-5)
