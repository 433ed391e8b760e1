"""Group-relative advantages: one scalar per episode from the rewards of its group, and the reward they use."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

log = logging.getLogger(__name__)


def training_reward(trajectory: Any, component_weights: Mapping[str, float]) -> float:
    """The reward advantages are computed from: the env's reward plus weighted `reward_components` (e.g.
    `{"hidden_pass_fraction": 0.5}` gives code episodes partial credit). Success and logged rewards stay the
    env's own; a component an episode does not report counts 0."""
    extra = sum(w * float(trajectory.reward_components.get(k, 0.0)) for k, w in component_weights.items())
    return float(trajectory.reward) + extra


class RewardComponentError(ValueError):
    """An `algo.reward_components` name that no env of the mix reports."""


def reported_components(env_id: str, seed: int = 0) -> set[str]:
    """The reward component names `env_id` reports, from its oracle episode on `seed` (`sft.data.oracle_demo`)."""
    from sft.data import oracle_demo

    return set(oracle_demo(env_id, seed).reward_components)


def check_reward_components(component_weights: Mapping[str, float], env_ids: list[str]) -> None:
    """Raise `RewardComponentError` for a shaping component none of `env_ids` reports (a misspelt name would
    otherwise add nothing to any reward, silently). Each env plays its oracle once; an env whose oracle fails
    cannot be checked, and then nothing is reported as missing."""
    if not component_weights:
        return
    by_env: dict[str, set[str]] = {}
    for env_id in env_ids:
        try:
            by_env[env_id] = reported_components(env_id)
        except Exception as exc:  # an env without a working oracle: its components are unknown
            log.info("reward components: %s not checked (%s)", env_id, exc)
            return
    known = {name for names in by_env.values() for name in names}
    missing = sorted(set(component_weights) - known)
    if missing:
        reported = "; ".join(f"{e}: {', '.join(sorted(n)) or 'none'}" for e, n in by_env.items())
        raise RewardComponentError(
            f"algo.reward_components: {', '.join(missing)} is reported by no env in algo.env_mix "
            f"(the envs report: {reported})"
        )


def group_advantages(rewards: torch.Tensor, kind: str = "grpo", eps: float = 1e-6) -> torch.Tensor:
    """Advantages of one group's rewards (shape [G]).

    - grpo: (r - mean) / (std + eps), std with Bessel's correction as in GRPO/TRL;
    - dr_grpo: r - mean (no std normalisation, Dr.GRPO);
    - rloo: r - mean of the other G-1 rewards (leave-one-out baseline).
    """
    r = rewards.to(torch.float64)
    g = r.numel()
    if g == 1:
        return torch.zeros_like(rewards, dtype=torch.float32)
    mean = r.mean()
    if kind == "grpo":
        adv = (r - mean) / (r.std(unbiased=True) + eps)
    elif kind == "dr_grpo":
        adv = r - mean
    elif kind == "rloo":
        adv = r - (r.sum() - r) / (g - 1)
    else:
        raise ValueError(f"unknown advantage kind {kind!r}")
    return adv.to(torch.float32)
