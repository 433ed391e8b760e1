"""GRPO math: our loss equals TRL's GRPOTrainer loss computed by TRL's own code; advantages by hand."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl.trainer.grpo_trainer import GRPOTrainer

from rl.grpo.advantages import (
    RewardComponentError,
    check_reward_components,
    group_advantages,
    reported_components,
    training_reward,
)
from rl.grpo.config import LossConfig
from rl.grpo.loss import offpolicy_weights, policy_loss

B, T, MAX_LEN = 4, 7, 12


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logps = (-torch.rand(B, T, generator=g) * 3).requires_grad_(True)
    old = logps.detach() + 0.3 * torch.randn(B, T, generator=g)
    ref = logps.detach() + 0.2 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, generator=g)
    mask = torch.ones(B, T)
    mask[0, 5:] = 0
    mask[2, 3:] = 0
    mask[3, :1] = 0
    return logps, old, ref, adv, mask


class _Accel:
    num_processes = 1

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss(loss_type: str, logps, old, ref, adv, mask, *, eps_low=0.2, eps_high=0.28, level="token", beta=0.0):
    """TRL's own `_compute_loss`, fed our per-token tensors through a stand-in trainer object."""
    fake = SimpleNamespace(
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level=level,
        beta=beta,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
        loss_type=loss_type,
        epsilon_low=eps_low,
        epsilon_high=eps_high,
        use_vllm=False,
        model=SimpleNamespace(training=False),
        current_gradient_accumulation_steps=1,
        max_completion_length=MAX_LEN,
        accelerator=_Accel(),
        _entropy_bonus_enabled=False,
        aux_loss_enabled=False,
        _metrics={"eval": defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(logps), None),
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
        "prompt_mask": torch.ones(B, 1),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": adv,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    return GRPOTrainer._compute_loss(fake, None, inputs)


CASES = [
    # (our config, TRL loss type, TRL kwargs)
    (dict(aggregation="seq_mean_token_mean"), "grpo", {}),
    (dict(aggregation="token_mean"), "bnpo", {}),
    (dict(aggregation="token_mean"), "dapo", {}),
    (dict(aggregation="constant", constant_normalizer=MAX_LEN), "dr_grpo", {}),
    (
        dict(aggregation="seq_mean_token_mean", ratio_level="sequence", clip_low=3e-4, clip_high=4e-4),
        "grpo",
        dict(level="sequence", eps_low=3e-4, eps_high=4e-4),
    ),
    (dict(type="cispo", cispo_max_ratio=1.2, aggregation="token_mean"), "cispo", dict(eps_high=1.2)),
    (dict(aggregation="seq_mean_token_mean", kl_beta=0.04, kl_estimator="k3"), "grpo", dict(beta=0.04)),
    (dict(aggregation="token_mean", clip_low=0.1, clip_high=0.1), "bnpo", dict(eps_low=0.1, eps_high=0.1)),
]


@pytest.mark.parametrize(("ours", "trl_type", "trl_kwargs"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_loss_equals_trl(ours: dict, trl_type: str, trl_kwargs: dict) -> None:
    for seed in range(3):
        logps, old, ref, adv, mask = _batch(seed)
        cfg = LossConfig(**ours)
        ours_loss, _ = policy_loss(logps, old, adv, mask, cfg, ref_logprobs=ref)
        (ours_grad,) = torch.autograd.grad(ours_loss, logps)
        theirs = trl_loss(trl_type, logps, old, ref, adv, mask, **trl_kwargs)
        (their_grad,) = torch.autograd.grad(theirs, logps)
        torch.testing.assert_close(ours_loss, theirs, rtol=0, atol=1e-6)
        torch.testing.assert_close(ours_grad, their_grad, rtol=0, atol=1e-6)


def test_advantages_by_hand() -> None:
    r = torch.tensor([1.0, 0.0, 0.0, 1.0])
    # mean 0.5, sample std sqrt(1/3)
    torch.testing.assert_close(
        group_advantages(r, "grpo"), torch.tensor([0.8660254, -0.8660254, -0.8660254, 0.8660254]), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(group_advantages(r, "dr_grpo"), torch.tensor([0.5, -0.5, -0.5, 0.5]))
    # leave-one-out: 1 - (1/3), 0 - (2/3)
    torch.testing.assert_close(group_advantages(r, "rloo"), torch.tensor([2 / 3, -2 / 3, -2 / 3, 2 / 3]))
    assert torch.equal(group_advantages(torch.tensor([1.0, 1.0, 1.0]), "grpo"), torch.zeros(3))
    assert torch.equal(group_advantages(torch.tensor([0.7]), "rloo"), torch.zeros(1))
    with pytest.raises(ValueError):
        group_advantages(r, "ppo")


def test_offpolicy_weights_truncate_and_mask() -> None:
    behaviour = torch.log(torch.tensor([[0.5, 0.5, 0.5, 0.5]]))
    proximal = torch.log(torch.tensor([[0.5, 1.0, 0.1, 0.9]]))  # ratios 1, 2, 0.2, 1.8
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    cfg = LossConfig(tis_cap=1.5, mask_low=0.5, mask_high=3.0)
    w, new_mask, stats = offpolicy_weights(proximal, behaviour, mask, cfg)
    torch.testing.assert_close(w[0, :3], torch.tensor([1.0, 1.5, 0.2]))
    assert new_mask.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    assert stats["offpolicy/masked_tokens"] == 1.0
    seq_cfg = LossConfig(mask_low=0.9, mask_level="sequence")  # geometric mean ratio (1*2*0.2)^(1/3) = 0.74
    _, seq_mask, _ = offpolicy_weights(proximal, behaviour, mask, seq_cfg)
    assert seq_mask.sum() == 0


def test_on_policy_ppo_gradient_is_the_policy_gradient() -> None:
    logps, _, _, adv, mask = _batch(1)
    loss, stats = policy_loss(logps, logps.detach(), adv, mask, LossConfig(aggregation="token_mean"))
    (grad,) = torch.autograd.grad(loss, logps)
    expected = -adv[:, None] * mask / mask.sum()
    torch.testing.assert_close(grad, expected)
    assert stats["clip_fraction"] == 0.0


def test_loss_config_rejects_incompatible_options() -> None:
    with pytest.raises(ValueError, match="mask_high"):
        LossConfig(mask_low=2.0, mask_high=1.0)
    with pytest.raises(ValueError, match="cispo"):
        LossConfig(type="cispo", ratio_level="sequence")


def test_reward_shaping_adds_weighted_components_and_gives_partial_credit_a_signal() -> None:
    from rollout.trajectory import Trajectory

    def episode(reward: float, **components: float) -> Trajectory:
        t = Trajectory(env_id="code-fn-easy", seed=0)
        t.reward, t.reward_components = reward, dict(components)
        return t

    group = [episode(0.0, hidden_pass_fraction=0.5), episode(0.0, hidden_pass_fraction=0.0), episode(0.0)]
    assert [training_reward(t, {}) for t in group] == [0.0, 0.0, 0.0]  # no shaping: no signal in this group
    shaped = [training_reward(t, {"hidden_pass_fraction": 0.5}) for t in group]
    assert shaped == [0.25, 0.0, 0.0]
    adv = group_advantages(torch.tensor(shaped))
    assert adv[0] > 0 > adv[1] and adv[1] == adv[2]
    assert training_reward(episode(1.0, hidden_pass_fraction=1.0), {"hidden_pass_fraction": 0.5}) == 1.5


def test_reward_components_must_be_reported_by_an_env_of_the_mix() -> None:
    assert "goal_fraction" in reported_components("plan-blocksworld-3")
    assert "hidden_pass_fraction" in reported_components("code-fn-easy")
    mix = ["code-fn-easy", "plan-blocksworld-3"]
    check_reward_components({"hidden_pass_fraction": 0.25, "goal_fraction": 0.25}, mix)
    check_reward_components({}, ["no-such-env"])  # nothing to check, nothing played
    with pytest.raises(RewardComponentError, match=r"goal_fracton .*plan-blocksworld-3: .*goal_fraction"):
        check_reward_components({"goal_fracton": 0.25}, mix)
    with pytest.raises(RewardComponentError, match="goal_fraction"):  # reported, but not by this mix
        check_reward_components({"goal_fraction": 0.25}, ["code-fn-easy"])
