"""Group-relative advantages: one scalar per episode from the rewards of its group, and the reward they use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def training_reward(trajectory: Any, component_weights: Mapping[str, float]) -> float:
    """The reward advantages are computed from: the env's reward plus weighted `reward_components` (e.g.
    `{"hidden_pass_fraction": 0.5}` gives code episodes partial credit). Success and logged rewards stay the
    env's own; a component an episode does not report counts 0."""
    extra = sum(w * float(trajectory.reward_components.get(k, 0.0)) for k, w in component_weights.items())
    return float(trajectory.reward) + extra


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
