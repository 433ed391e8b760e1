"""The top-level experiment config (`agentrl ... CONFIG`): one typed section per part of the pipeline.

Sections are added here as the pipeline grows; each section's model lives next to the code that uses it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from rl.cluster import RayConfig
from rl.config.base import Section
from rl.eval.config import EvalConfig
from rl.grpo.config import AlgoConfig, LossConfig
from rl.policy.config import PolicyConfig
from rollout.config import RolloutConfig
from sft.config import SFTSection


class RunSection(Section):
    """Where a run writes and how it is seeded."""

    name: str = Field(default="run", min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Run name; the run folder is `output_dir/name`. Letters, digits, '.', '_' and '-'."""

    output_dir: Path = Path("runs")
    """Folder under which run folders are created."""

    seed: int = Field(default=0, ge=0)
    """Global seed (task sampling, initialisation of anything not seeded elsewhere)."""

    @property
    def folder(self) -> Path:
        """The run folder: output_dir/name."""
        return self.output_dir / self.name


class RunConfig(Section):
    """A whole experiment."""

    run: RunSection = Field(default_factory=RunSection)
    """Run name, output folder and seed."""

    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    """The policy model: a preset or a checkpoint directory."""

    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    """Rollout workers: engine, sampling, worker count and resources."""

    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    """The GRPO loop: env mix, batch, advantages, optimizer, staleness, filters, checkpoints."""

    loss: LossConfig = Field(default_factory=LossConfig)
    """The policy-gradient loss and its off-policy corrections."""

    ray: RayConfig = Field(default_factory=RayConfig)
    """Local Ray or a cluster address, and the learner's resources."""

    sft: SFTSection = Field(default_factory=SFTSection)
    """Supervised fine-tuning on demonstrations (`agentrl sft`): data mixture, training, before/after eval."""

    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation on held-out seeds (`agentrl eval`, and every `eval.every_steps` learner steps in training)."""

    @model_validator(mode="after")
    def _across_sections(self) -> RunConfig:
        if self.algo.kl_anchor_samples and self.loss.kl_beta <= 0:
            raise ValueError("algo.kl_anchor_samples needs loss.kl_beta > 0: the anchor samples carry only the KL term")
        return self
