"""The `eval` config section: what `agentrl eval` and in-training evaluation roll out, and on which seeds.

Held-out seeds: evaluation plays task seeds ``seed_offset .. seed_offset + num_seeds - 1`` of every env config,
by default from 1_000_000 up. Training samples task seeds from ``algo.train_seed_offset`` (0) upwards, one per
group, and SFT demonstrations from ``sft.train_seed_start`` (0), so no run short of a million groups per env
ever trains on an eval seed.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from rl.config.base import Section
from rollout.config import RolloutConfig

HELD_OUT_SEED_OFFSET = 1_000_000
"""First held-out eval seed by default (training seeds start at 0)."""


class EvalConfig(Section):
    """Evaluation of checkpoints on held-out seeds: pass@1, pass@k, reward, turns, parse errors, tokens."""

    envs: list[str] = Field(default_factory=lambda: ["tools", "code", "planning"])
    """Env ids or family names to evaluate (a family expands to all its env configs)."""

    n: int = Field(default=4, ge=1, le=10_000)
    """Samples per task seed (pass@k needs n >= k; more samples make pass@k less noisy)."""

    k: int = Field(default=2, ge=1, le=10_000)
    """The k of pass@k (pass@1 is always reported too)."""

    num_seeds: int = Field(default=16, ge=1, le=1_000_000)
    """Held-out task seeds per env config."""

    seed_offset: int = Field(default=HELD_OUT_SEED_OFFSET, ge=0)
    """First held-out task seed; the eval seeds are seed_offset .. seed_offset + num_seeds - 1."""

    sample_seed: int = Field(default=0, ge=0)
    """Base of the sampling seeds (each (env, seed, sample) gets its own derived seed)."""

    every_steps: int = Field(default=0, ge=0)
    """During RL training: evaluate the current weights every this many learner steps (0: never)."""

    temperature: float = Field(default=1.0, gt=0.0, le=10.0)
    """Sampling temperature of eval rollouts (pass@k needs diverse samples; use a low value for greedy-like
    pass@1)."""

    max_new_tokens: int | None = Field(default=None, ge=1)
    """Most tokens per assistant turn (None: rollout.sampling.max_new_tokens)."""

    max_total_tokens: int | None = Field(default=None, ge=16)
    """Most tokens per episode (None: rollout.sampling.max_total_tokens)."""

    engine_threads: int | None = Field(default=None, ge=1)
    """Torch threads of each transformers eval engine where evaluation has the machine to itself (`agentrl
    eval` and the quickstart's stage evaluations; None: rollout.engine_threads). In-training evaluation shares
    the rollout workers and keeps theirs."""

    deterministic: bool = False
    """Run one episode at a time per worker, so the transformers engine seeds every request by its own sample
    seed and results repeat exactly (slower). vLLM on GPU honours per-request seeds anyway; vLLM's CPU build
    ignores them."""

    @field_validator("envs")
    @classmethod
    def _known_envs(cls, value: list[str]) -> list[str]:
        import environments

        if not value:
            raise ValueError("needs at least one env id or family name")
        try:
            environments.resolve_ids(value)
        except environments.UnknownEnvError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _k_at_most_n(self) -> EvalConfig:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must be <= n ({self.n}): pass@k needs at least k samples per task")
        return self

    def env_ids(self) -> list[str]:
        """The env ids (families expanded)."""
        import environments

        return environments.resolve_ids(self.envs)

    def seeds(self) -> list[int]:
        """The held-out task seeds."""
        return list(range(self.seed_offset, self.seed_offset + self.num_seeds))

    def standalone_rollout(self, rollout: RolloutConfig) -> RolloutConfig:
        """`rollout` for an evaluation that has the machine to itself: with this section's
        engine_threads where set."""
        if self.engine_threads is None:
            return rollout
        return rollout.model_copy(update={"engine_threads": self.engine_threads})

    def sampling_overrides(self) -> dict[str, float | int]:
        """The fields of `rollout.sampling` this section replaces during evaluation."""
        out: dict[str, float | int] = {"temperature": self.temperature}
        if self.max_new_tokens is not None:
            out["max_new_tokens"] = self.max_new_tokens
        if self.max_total_tokens is not None:
            out["max_total_tokens"] = self.max_total_tokens
        return out

    def budget_keys(self) -> tuple[str, str]:
        """The config sections the eval's max_new_tokens and max_total_tokens come from (for messages)."""
        return (
            "eval" if self.max_new_tokens is not None else "rollout.sampling",
            "eval" if self.max_total_tokens is not None else "rollout.sampling",
        )
