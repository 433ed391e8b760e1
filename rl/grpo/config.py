"""The `loss` and `algo` config sections of GRPO training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rl.config.base import Section


class LossConfig(Section):
    """The policy-gradient loss and its corrections."""

    type: Literal["ppo_clip", "cispo"] = "ppo_clip"
    """Surrogate: PPO-style clipped ratio, or CISPO (clipped, detached importance weight times log-prob)."""
    ratio_level: Literal["token", "sequence"] = "token"
    """Importance ratio per token (GRPO/DAPO) or per sequence, the geometric mean over its tokens (GSPO)."""
    clip_low: float = Field(default=0.2, ge=0.0, lt=1.0)
    """Lower clip: ratios below 1 - clip_low stop contributing gradient (ppo_clip)."""
    clip_high: float = Field(default=0.28, ge=0.0)
    """Upper clip: 1 + clip_high (DAPO clip-higher when larger than clip_low)."""
    cispo_max_ratio: float = Field(default=5.0, gt=0.0)
    """CISPO: the importance weight is clamped at this value (and detached)."""
    aggregation: Literal["token_mean", "seq_mean_token_mean", "constant"] = "token_mean"
    """How token losses become the batch loss: mean over all tokens (DAPO), mean over sequences of each
    sequence's token mean (GRPO), or sum divided by batch_size * constant_normalizer (Dr.GRPO)."""
    constant_normalizer: int | None = Field(default=None, ge=1)
    """Dr.GRPO's constant; defaults to rollout.sampling.max_total_tokens."""
    kl_beta: float = Field(default=0.0, ge=0.0)
    """Weight of the KL penalty to a frozen reference policy (0 disables it and the reference copy)."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """KL estimator: k1 = log(pi/ref), k2 = (log(pi/ref))^2 / 2, k3 = ref/pi - log(ref/pi) - 1."""
    entropy_coef: float = Field(default=0.0, ge=0.0)
    """Entropy bonus: loss -= entropy_coef * mean token entropy."""
    decoupled: bool = True
    """Decoupled PPO: clip against the learner's own logprobs at the start of the step (proximal policy) and
    weight by proximal/behaviour; otherwise the behaviour (engine) logprobs are the old policy."""
    tis_cap: float | None = Field(default=2.0, gt=0.0)
    """Truncated importance sampling: the proximal/behaviour weight is capped here (None: no cap)."""
    mask_low: float = Field(default=0.0, ge=0.0)
    """Mask tokens (or sequences) whose proximal/behaviour ratio is below this (0 disables)."""
    mask_high: float | None = Field(default=None, gt=0.0)
    """Mask tokens (or sequences) whose proximal/behaviour ratio is above this (None disables)."""
    mask_level: Literal["token", "sequence"] = "token"
    """Masking granularity: single tokens, or whole sequences by their geometric-mean ratio."""

    @model_validator(mode="after")
    def _consistent(self) -> LossConfig:
        if self.mask_high is not None and self.mask_high <= self.mask_low:
            raise ValueError(f"mask_high ({self.mask_high}) must be above mask_low ({self.mask_low})")
        if self.type == "cispo" and self.ratio_level == "sequence":
            raise ValueError("type cispo works on token ratios; ratio_level: sequence is GSPO with ppo_clip")
        return self


class ReplayConfig(Section):
    """SFT-data replay (InstructGPT's PPO-ptx): a next-token loss on env-oracle demonstrations, added to each
    GRPO step's loss. Envs the policy already solves give dynamic sampling only all-correct groups, so their
    tokens reach no policy gradient while the updates of the other envs move the shared weights; replaying their
    demonstrations keeps what the SFT stage taught there. Replay envs the SFT policy already fits: on the others
    the term keeps doing SFT and competes with the envs being trained (docs/training.md). Off while `envs` is
    empty."""

    envs: dict[str, float] = Field(default_factory=dict)
    """Env ids with weights: each step's replay sequences are drawn from their oracle demonstrations in these
    proportions (empty: no replay)."""
    demos: int = Field(default=256, ge=1)
    """Oracle demonstrations played per env when training starts, on seeds seed_start .. seed_start + demos - 1."""
    seed_start: int = Field(default=0, ge=0)
    """First demonstration seed: the SFT stage's own seeds by default, so the replay revisits its data (these
    seeds must stay below the eval section's held-out seeds)."""
    sequences_per_step: int = Field(default=4, ge=1)
    """Demonstrations in each step's replay term (one more forward and backward pass of this many sequences)."""
    coef: float = Field(default=0.1, gt=0.0)
    """Weight of the replay term: the mean negative log-likelihood per assistant token of the demonstrations,
    times coef, is added to the policy loss (its own token mean, so it does not dilute the policy gradient)."""

    @model_validator(mode="after")
    def _positive_weights(self) -> ReplayConfig:
        bad = {e: w for e, w in self.envs.items() if w <= 0}
        if bad:
            raise ValueError(f"algo.replay.envs: weights must be > 0, got {bad}")
        return self


class AlgoConfig(Section):
    """The GRPO loop: batch, advantages, optimizer, staleness, filtering, checkpoints."""

    steps: int = Field(default=10, ge=1)
    """Optimizer steps (policy versions) to train."""
    time_budget_s: float | None = Field(default=None, gt=0.0)
    """Stop after the first step that ends this many seconds after training began (rollouts included; a resumed
    run counts from its own start), even before `steps`; that step gets the final checkpoint (and the final
    evaluation when `eval.every_steps` is set)."""
    groups_per_step: int = Field(default=8, ge=1)
    """Groups (task seeds, each with rollout.group_size episodes) per optimizer step."""
    env_mix: dict[str, float] = Field(default_factory=lambda: {"tools-calculator-easy": 1.0})
    """Env ids or family names with sampling weights (a family's weight is split over its configs)."""
    curriculum: Literal["uniform", "learnability"] = "uniform"
    """How a group's task kind is chosen in envs whose tasks come in kinds (`AgentEnv.task_kinds()`; code-fn-*:
    the function templates). `uniform`: the env draws, every kind equally often. `learnability`: kind
    k is drawn with probability rising with p_k (1 - p_k), p_k its success rate in recent training episodes: a
    kind the policy always or never solves gives GRPO no signal, one solved half the time the most (Foster and
    Foerster 2025, "Learning to Reason at the Frontier of Learnability"). Envs without kinds are unaffected."""
    curriculum_explore: float = Field(default=0.2, ge=0.0, le=1.0)
    """Share of `learnability` draws spread evenly over all kinds, so a kind at p = 0 or 1 is still tried and
    its rate can change."""
    curriculum_window: int = Field(default=64, ge=1)
    """Episodes per kind that its success rate is measured over (the newest); a kind with none yet counts as
    p = 0.5, so every kind is tried early."""
    advantage: Literal["grpo", "dr_grpo", "rloo"] = "grpo"
    """Group baseline: mean with std normalisation (GRPO), mean without (Dr.GRPO), or leave-one-out mean (RLOO).
    With partial-credit `reward_components`, std normalisation turns small reward differences inside a failing
    group into full-size advantages; dr_grpo keeps them small."""
    lr: float = Field(default=1e-5, gt=0.0)
    """AdamW learning rate."""
    weight_decay: float = Field(default=0.0, ge=0.0)
    """AdamW weight decay."""
    warmup_steps: int = Field(default=0, ge=0)
    """Linear learning-rate warmup steps."""
    grad_clip: float = Field(default=1.0, gt=0.0)
    """Gradient norm clip."""
    updates_per_step: int = Field(default=1, ge=1)
    """Optimizer updates on each step's batch (PPO epochs; TRL's `num_iterations`, mu in the GRPO paper). The
    proximal and reference logprobs come from the first pass; later passes clip against them, so the clip
    bounds how far one batch moves the policy. The policy version (and weight sync) advances once per step.
    Worth it when the learner waits for rollouts: the extra passes use time the learner would spend idle."""
    micro_batch_sequences: int = Field(default=8, ge=1)
    """Most sequences per forward/backward pass (gradient accumulation over the step's batch); a pass never
    holds two groups, so the prompt a group's samples share is forwarded once."""
    max_staleness: int = Field(default=1, ge=0)
    """Most policy versions between the oldest weights that generated a group and the learner consuming it.
    Enforced by admission (no group starts that could end up staler) and by consuming old groups first;
    0 is the synchronous, exactly on-policy baseline."""
    overlap_weight_sync: bool = False
    """Load each step's new weights into the rollout workers while the learner takes the next step, instead
    of waiting for every worker to load them. Groups admitted meanwhile wait on their worker until it holds
    the new version, so they start on the weights `max_staleness` counts them from; `time/sync_s` is then only
    the wait for the previous broadcast to finish. For a learner that would otherwise wait for the broadcast;
    where rollouts bound the step (the 2-core quickstart) it changes nothing (docs/training.md)."""
    reward_components: dict[str, float] = Field(default_factory=dict)
    """Reward shaping: env reward components (an env's `info["reward_components"]`, e.g. code envs'
    `hidden_pass_fraction`) added, with these weights, to the reward that advantages and dynamic sampling use.
    Success rates, logged rewards and evaluation stay the env's own reward. A name that no env of the mix
    reports (checked on one oracle episode each before the run starts) is an error."""
    dynamic_sampling: bool = True
    """Drop groups whose rewards are all equal (no learning signal) and keep filling the batch."""
    dynamic_sampling_max_rounds: int = Field(default=4, ge=1)
    """Dynamic sampling drops at most this many batches' worth of groups per step; after that, groups without
    signal are kept (zero advantage) so a policy that fails every task still trains (entropy, KL) and moves on."""
    kl_anchor_samples: int = Field(default=0, ge=0)
    """Of each group dynamic sampling drops, this many samples still reach the learner, with zero advantage: no
    policy gradient, only the KL term to the reference. Without them the tokens of envs the policy always (or
    never) solves reach no loss at all, and updates from the other envs move the shared weights there freely.
    Needs loss.kl_beta > 0; 0 drops such groups whole (DAPO)."""
    overlong_filter: bool = True
    """Episodes cut by the token budget carry no loss (they still count in their group's baseline)."""
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    """SFT-data replay: a next-token loss on oracle demonstrations of chosen envs, added to the GRPO loss."""
    freeze_router: bool = False
    """Freeze MoE router weights."""
    train_seed_offset: int = Field(default=0, ge=0)
    """Training task seeds start here (eval seeds live far above, see the eval section)."""
    checkpoint_every: int = Field(default=0, ge=0)
    """Save a checkpoint every N steps (0: only the final one)."""
    keep_checkpoints: int = Field(default=2, ge=1)
    """Checkpoints kept (older ones are deleted)."""
