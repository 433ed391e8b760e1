"""Group-relative advantages: one scalar per episode from the rewards of its group."""

from __future__ import annotations

import torch


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
