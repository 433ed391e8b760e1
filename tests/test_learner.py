"""The Learner in-process (no Ray): a step moves the policy along the advantage, options do what they say."""

from __future__ import annotations

from pathlib import Path

import torch

from rl.learner import LearnerImpl, micro_batches, pad_batch
from rl.logprobs import token_logprobs
from rollout.trajectory import Trajectory


def _traj(tokens: list[int], gen_from: int, logprob: float = -2.0) -> Trajectory:
    t = Trajectory(env_id="x", seed=0)
    t.append(tokens[:gen_from], generated=False)
    t.append(tokens[gen_from:], generated=True, logprobs=[logprob] * (len(tokens) - gen_from), version=0)
    return t


def _batch() -> list[Trajectory]:
    g = torch.Generator().manual_seed(0)
    return [_traj(torch.randint(10, 200, (30 + 5 * i,), generator=g).tolist(), 20) for i in range(4)]


def _seq_logprob(learner: LearnerImpl, traj: Trajectory) -> float:
    b = pad_batch([traj])
    with torch.no_grad():
        lp, _ = token_logprobs(learner.model, b["input_ids"], b["attention_mask"], 1.0)
    return float((lp * b["mask"]).sum())


def test_a_step_raises_the_likelihood_of_positive_advantage_sequences(saved_policies: dict[str, Path]) -> None:
    learner = LearnerImpl(saved_policies["nemotron-h-tiny"], {"lr": 3e-3, "micro_batch_sequences": 2}, {})
    trajs = _batch()
    before = [_seq_logprob(learner, t) for t in trajs]
    stats = learner.step(trajs, [1.0, -1.0, 1.0, -1.0])
    after = [_seq_logprob(learner, t) for t in trajs]
    assert stats["version"] == 1 and learner.version == 1
    assert after[0] > before[0] and after[2] > before[2]
    assert after[1] < before[1] and after[3] < before[3]
    assert stats["sequences"] == 4 and stats["tokens"] == sum(sum(t.loss_mask) for t in trajs)
    assert 0 < stats["moe/entropy_mean"] <= stats["moe/entropy_max_possible"] + 1e-6


def test_freeze_router_keeps_router_weights(saved_policies: dict[str, Path]) -> None:
    learner = LearnerImpl(saved_policies["nemotron-h-tiny"], {"lr": 1e-2, "freeze_router": True}, {})
    assert learner.frozen and all(".gate." in n for n in learner.frozen)
    routers = {n: p.detach().clone() for n, p in learner.model.named_parameters() if n in learner.frozen}
    learner.step(_batch(), [1.0, -1.0, 0.5, -0.5])
    params = dict(learner.model.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in routers.items())


def test_kl_to_the_reference_is_zero_before_training_and_grows(saved_policies: dict[str, Path]) -> None:
    learner = LearnerImpl(saved_policies["nemotron-h-tiny"], {"lr": 1e-2}, {"kl_beta": 0.1})
    first = learner.step(_batch(), [1.0, -1.0, 1.0, -1.0])
    second = learner.step(_batch(), [1.0, -1.0, 1.0, -1.0])
    assert abs(first["kl"]) < 1e-6 and second["kl"] > 1e-6


def test_save_and_load_restore_weights_optimizer_and_version(saved_policies: dict[str, Path], tmp_path: Path) -> None:
    path = saved_policies["nemotron-h-tiny"]
    a = LearnerImpl(path, {"lr": 1e-2}, {})
    a.step(_batch(), [1.0, -1.0, 1.0, -1.0])
    a.save(tmp_path / "ckpt", path)
    b = LearnerImpl(path, {"lr": 1e-2}, {})
    assert b.load(tmp_path / "ckpt") == 1
    assert abs(a.parameter_checksum() - b.parameter_checksum()) < 1e-6
    # identical next step from identical state
    sa, sb = a.step(_batch(), [1.0, 0.0, -1.0, 0.0]), b.step(_batch(), [1.0, 0.0, -1.0, 0.0])
    assert abs(sa["grad_norm"] - sb["grad_norm"]) < 1e-5
    assert abs(a.parameter_checksum() - b.parameter_checksum()) < 1e-5


def test_updates_per_step_makes_several_updates_on_one_batch_under_the_clip(saved_policies: dict[str, Path]) -> None:
    path = saved_policies["nemotron-h-tiny"]
    one = LearnerImpl(path, {"lr": 1e-3}, {})
    two = LearnerImpl(path, {"lr": 1e-3, "updates_per_step": 2}, {})
    trajs, adv = _batch(), [1.0, -1.0, 1.0, -1.0]
    before = [_seq_logprob(one, t) for t in trajs]
    s1, s2 = one.step(trajs, adv), two.step(trajs, adv)
    assert s1["version"] == s2["version"] == 1  # one policy version per step, however many updates
    adam_steps = {int(st["step"]) for st in two.opt.state.values()}
    assert adam_steps == {2}
    a1, a2 = [_seq_logprob(one, t) for t in trajs], [_seq_logprob(two, t) for t in trajs]
    assert a2[0] > before[0] and a2[1] < before[1] and a2 != a1  # along the advantage, and not where one went
    # the first pass is on the proximal policy itself (ratio 1); the second clips against it
    assert s1["clip_fraction"] == 0.0 and s2["clip_fraction"] > 0.0


def test_micro_batches_never_span_two_groups() -> None:
    trajs = [Trajectory(env_id="x", seed=0, group_id=g) for g in "aaabbbbbc"] + [Trajectory(env_id="x", seed=0)] * 3
    assert micro_batches(trajs, 4) == [[0, 1, 2], [3, 4, 5, 6], [7], [8], [9, 10, 11]]
