"""The policy-gradient loss on padded per-token tensors ([B, T]); pure function, no model inside.

Inputs: `logprobs` (current policy, with grad), `old_logprobs` (the policy the ratio is taken against: the
learner's proximal logprobs under decoupled PPO, else the engine's behaviour logprobs), `advantages` ([B]),
`mask` ([B, T], 1 on tokens that carry loss), optional `weights` ([B, T], off-policy importance weights,
already truncated and detached), `ref_logprobs` (for the KL term) and `entropy` (for the bonus).

Loss types, matching TRL's GRPOTrainer where both implement them (tests/test_grpo_loss.py checks this):
ppo_clip with token_mean = TRL "bnpo"/"dapo", with seq_mean_token_mean = TRL "grpo", with constant = TRL
"dr_grpo"; ratio_level sequence = TRL importance_sampling_level "sequence" (GSPO); cispo = TRL "cispo".
"""

from __future__ import annotations

import torch

from rl.grpo.config import LossConfig


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: str, constant: int | None = None) -> torch.Tensor:
    """Reduce masked per-token values to a scalar."""
    if how == "token_mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    if how == "seq_mean_token_mean":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if how == "constant":
        if constant is None:
            raise ValueError("aggregation 'constant' needs constant_normalizer")
        return (per_token * mask).sum() / (per_token.shape[0] * constant)
    raise ValueError(f"unknown aggregation {how!r}")


def kl_term(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token KL(pi || ref) estimate."""
    log_r = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r**2
    if estimator == "k3":
        return torch.exp(log_r) - log_r - 1
    raise ValueError(f"unknown KL estimator {estimator!r}")


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: LossConfig,
    *,
    weights: torch.Tensor | None = None,
    ref_logprobs: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    constant_normalizer: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The scalar loss and its parts (floats, for logging)."""
    mask = mask.to(logprobs.dtype)
    adv = advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages
    log_ratio = logprobs - old_logprobs
    if cfg.ratio_level == "sequence":
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    ratio = torch.exp(log_ratio)
    if cfg.type == "cispo":
        per_token = -torch.clamp(ratio, max=cfg.cispo_max_ratio).detach() * adv * logprobs
        clipped = (ratio > cfg.cispo_max_ratio).to(mask.dtype).expand_as(mask)
    else:
        clamped = torch.clamp(ratio, 1 - cfg.clip_low, 1 + cfg.clip_high)
        per_token = -torch.min(ratio * adv, clamped * adv)
        clipped = ((ratio * adv) > (clamped * adv)).to(mask.dtype).expand_as(mask)
    if weights is not None:
        per_token = per_token * weights
    stats: dict[str, float] = {}
    if cfg.kl_beta > 0:
        if ref_logprobs is None:
            raise ValueError("kl_beta > 0 needs ref_logprobs")
        kl = kl_term(logprobs, ref_logprobs, cfg.kl_estimator)
        per_token = per_token + cfg.kl_beta * kl
        stats["kl"] = float(aggregate(kl.detach(), mask, "token_mean"))
    normalizer = constant_normalizer if constant_normalizer is not None else cfg.constant_normalizer
    loss = aggregate(per_token, mask, cfg.aggregation, normalizer)
    stats["policy_loss"] = float(loss.detach())
    if cfg.entropy_coef > 0:
        if entropy is None:
            raise ValueError("entropy_coef > 0 needs entropy")
        ent = (entropy * mask).sum() / mask.sum().clamp(min=1.0)
        loss = loss - cfg.entropy_coef * ent
        stats["entropy_bonus"] = float(ent.detach())
    stats["clip_fraction"] = float(aggregate(clipped, mask, "token_mean"))
    stats["ratio_mean"] = float(aggregate(ratio.detach().expand_as(mask), mask, "token_mean"))
    return loss, stats


def offpolicy_weights(
    proximal: torch.Tensor, behaviour: torch.Tensor, mask: torch.Tensor, cfg: LossConfig
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Importance weights proximal/behaviour (truncated at tis_cap) and the mask with out-of-bounds tokens or
    sequences removed. Returns (weights, new_mask, stats)."""
    mask = mask.to(proximal.dtype)
    log_w = (proximal - behaviour) * mask
    w = torch.exp(log_w)
    keep = torch.ones_like(mask)
    if cfg.mask_level == "sequence":
        seq = torch.exp(log_w.sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(mask)
        test = seq
    else:
        test = w
    if cfg.mask_low > 0:
        keep = keep * (test >= cfg.mask_low).to(keep.dtype)
    if cfg.mask_high is not None:
        keep = keep * (test <= cfg.mask_high).to(keep.dtype)
    new_mask = mask * keep
    weights = torch.clamp(w, max=cfg.tis_cap) if cfg.tis_cap is not None else w
    diff = (proximal - behaviour).abs() * mask
    n = mask.sum().clamp(min=1.0)
    stats = {
        "offpolicy/masked_tokens": float((mask - new_mask).sum()),
        "offpolicy/masked_fraction": float((mask - new_mask).sum() / n),
        "offpolicy/weight_mean": float((w * mask).sum() / n),
        "offpolicy/truncated_fraction": float(((w > cfg.tis_cap) * mask).sum() / n) if cfg.tis_cap else 0.0,
        "engine_vs_learner/logprob_abs_diff_mean": float(diff.sum() / n),
        "engine_vs_learner/logprob_abs_diff_max": float(diff.max()) if diff.numel() else 0.0,
    }
    return weights.detach(), new_mask, stats
