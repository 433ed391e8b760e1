"""The `sft` config section: demonstration sources and their mixture, training, held-out evaluation.

Demonstrations come from env oracles (one episode per training seed) and/or chat JSONL files; the mixture weights
set each source's share of the training set. Training seeds and held-out eval seeds are drawn from disjoint ranges
(checked here when the config loads, and again on the built data by `sft.data.check_held_out`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rl.config.base import Section


class EnvSource(Section):
    """Oracle demonstrations from one env config."""

    id: str = Field(min_length=1)
    """A registered env id (see `agentrl envs list`)."""

    weight: float = Field(default=1.0, gt=0.0, le=1000.0)
    """Mixture weight: this source's share of the training set is weight / (sum of all weights)."""

    demos: int | None = Field(default=None, ge=1, le=1_000_000)
    """Distinct oracle episodes (training seeds) played for this env; default `sft.demos_per_env`."""

    @field_validator("id")
    @classmethod
    def _registered(cls, value: str) -> str:
        import environments

        try:
            environments.spec(value)
        except environments.UnknownEnvError as exc:  # a KeyError; pydantic reports ValueErrors
            raise ValueError(str(exc)) from None
        return value


class JsonlSource(Section):
    """A user file of chat demonstrations: one JSON object per line, {"messages": [...], "tools": [...]}."""

    path: Path
    """The JSONL file (OpenAI chat format; `tools` holds OpenAI function schemas and may be omitted)."""

    weight: float = Field(default=1.0, gt=0.0, le=1000.0)
    """Mixture weight, as for env sources."""


class EvalSampling(Section):
    """How the before/after evaluation samples (near-greedy by default)."""

    temperature: float = Field(default=0.01, gt=0.0, le=10.0)
    """Softmax temperature of the evaluation rollouts (small = nearly greedy pass@1)."""

    max_new_tokens: int = Field(default=256, ge=1, le=65_536)
    """Most tokens generated in one assistant turn."""

    max_total_tokens: int = Field(default=2048, ge=16, le=1_048_576)
    """Most tokens in a whole evaluation episode."""


class CurriculumPhase(Section):
    """An SFT phase trained before the main demonstrations, on its own sources with its own batch size, learning
    rate and budget (e.g. `basic-copy-*` drills that teach a random-init policy to copy before it sees tool
    demonstrations). The main section's other settings (max_length, schedule, threads, processes) apply."""

    name: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    """A name for the phase's folder under `phases/` (default `phase-<n>`)."""

    envs: list[EnvSource] = Field(default_factory=list)
    """Env configs whose oracles play this phase's demonstrations, with mixture weights."""

    jsonl: list[JsonlSource] = Field(default_factory=list)
    """Chat JSONL files of this phase's demonstrations, with mixture weights."""

    demos_per_env: int = Field(default=64, ge=1, le=1_000_000)
    """Oracle episodes per env source that does not set its own `demos`."""

    examples: int | None = Field(default=None, ge=1, le=10_000_000)
    """Training-set size after mixing (default: the distinct demonstrations, mixed by weight)."""

    epochs: float = Field(default=1.0, gt=0.0, le=10_000.0)
    """Passes over the phase's training set (ignored when `max_steps` is set)."""

    max_steps: int | None = Field(default=None, ge=1)
    """Optimizer steps of this phase; overrides `epochs`."""

    time_budget_s: float | None = Field(default=None, gt=0.0)
    """Stop this phase after this many seconds of optimisation; it counts towards the SFT's total time."""

    learning_rate: float = Field(default=3e-3, gt=0.0, le=1.0)
    """Peak AdamW learning rate of this phase."""

    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "constant_with_warmup"
    """Learning-rate schedule of this phase after the main section's warm-up ratio. Constant by default: a skill
    such as copying is learnt in a sudden drop of the loss that a decaying rate delays; the main phase decays."""

    batch_size: int = Field(default=32, ge=1, le=4096)
    """Sequences per optimizer step per device: short drills train best in large batches."""

    @model_validator(mode="after")
    def _has_data(self) -> CurriculumPhase:
        if not self.envs and not self.jsonl:
            raise ValueError("a curriculum phase needs demonstrations: set its envs and/or jsonl")
        return self


class SFTSection(Section):
    """Supervised fine-tuning on demonstrations (TRL SFTTrainer, assistant-only loss, no packing)."""

    envs: list[EnvSource] = Field(default_factory=list)
    """Env configs whose oracles play the demonstrations, each with a mixture weight."""

    jsonl: list[JsonlSource] = Field(default_factory=list)
    """Chat JSONL files of demonstrations, each with a mixture weight."""

    demos_per_env: int = Field(default=64, ge=1, le=1_000_000)
    """Oracle episodes per env source that does not set its own `demos`."""

    examples: int | None = Field(default=None, ge=1, le=10_000_000)
    """Training-set size after mixing (sources repeated or subsampled to their weight's share). Default: the
    number of distinct demonstrations, mixed by weight."""

    curriculum: list[CurriculumPhase] = Field(default_factory=list)
    """Phases trained in order before the main demonstrations (`envs`, `jsonl`), each on its own data, batch size,
    learning rate and budget; the checkpoint is the policy after the main phase. `time_budget_s` is the main
    phase's own budget."""

    train_seed_start: int = Field(default=0, ge=0)
    """First training seed; env source k plays seeds train_seed_start .. train_seed_start + demos - 1."""

    eval_seed_start: int = Field(default=1_000_000, ge=0)
    """First held-out eval seed; eval seeds are eval_seed_start .. eval_seed_start + eval_seeds - 1, a range that
    must not overlap any training seed range."""

    eval_seeds: int = Field(default=16, ge=0, le=100_000)
    """Held-out seeds per eval env for the before/after pass@1 (0 turns the evaluation off)."""

    eval_envs: list[str] | None = None
    """Env ids (or family names) evaluated before and after; default: the ids of `envs`."""

    eval_before: bool = True
    """Evaluate the initial policy too (the "before" column)."""

    eval_sampling: EvalSampling = Field(default_factory=EvalSampling)
    """Sampling of the evaluation rollouts."""

    eval_batch: int = Field(default=32, ge=1, le=4096)
    """Episodes evaluated concurrently (the transformers engine batches their turns)."""

    exclude_eval_prompts: bool = True
    """Leave out training demos whose opening prompt equals a held-out eval task's (small task spaces repeat
    tasks across seeds); the data report counts them."""

    epochs: float = Field(default=1.0, gt=0.0, le=10_000.0)
    """Passes over the mixed training set (ignored when `max_steps` is set)."""

    max_steps: int | None = Field(default=None, ge=1)
    """Optimizer steps; overrides `epochs`."""

    time_budget_s: float | None = Field(default=None, gt=0.0)
    """Stop training after this many seconds of optimisation (checked after every step); the checkpoint is then
    the policy at that step."""

    learning_rate: float = Field(default=2e-3, gt=0.0, le=1.0)
    """Peak AdamW learning rate."""

    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    """Learning-rate schedule after warm-up."""

    warmup_ratio: float = Field(default=0.05, ge=0.0, le=0.5)
    """Fraction of the steps spent warming the learning rate up."""

    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0)
    """AdamW weight decay."""

    max_grad_norm: float = Field(default=1.0, gt=0.0)
    """Gradient clipping norm."""

    batch_size: int = Field(default=8, ge=1, le=4096)
    """Sequences per optimizer step per device (before gradient accumulation)."""

    grad_accum: int = Field(default=1, ge=1, le=4096)
    """Gradient accumulation steps."""

    max_length: int = Field(default=2048, ge=16, le=1_048_576)
    """Longest training sequence in tokens (longer ones are cut at the end; demos cut to no assistant token are
    reported), tool specs included. The presets' BPE tokenizer writes a tools-calculator-easy demo in ~180
    tokens (one token per digit)."""

    group_by_length: bool = False
    """Batch demos of similar length together (less padding: the families' demos differ in length by 2x). Off by
    default: transformers' length-grouped sampler sorts each mega-batch of 50 batches by length, so consecutive
    steps see one env, or one answer length, at a time, and a small policy forgets the others between runs of
    them (docs/sft.md, "Batch order"). Each sequence is still its own row: no packing."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of storing them (TRL's default is on). It saves memory
    on large policies and costs a second forward per step, which the tiny presets on CPU do not need."""

    router_aux_loss_coef: float | None = Field(default=None, ge=0.0)
    """MoE load-balancing loss coefficient (None: the model config's own value; 0 turns it off)."""

    logging_steps: int = Field(default=1, ge=1)
    """Log loss, learning rate and grad norm every this many steps (TensorBoard, JSONL, progress bar)."""

    torch_threads: int | None = Field(default=None, ge=1, le=1024)
    """torch intra-op threads of each training process (None: torch's default). Evaluation runs in one process
    with torch_threads x num_processes threads."""

    num_processes: int = Field(default=1, ge=1, le=1024)
    """Data-parallel training processes (PyTorch DDP: gloo on CPU, NCCL with one GPU per process). Each process
    trains on its own `batch_size` sequences per step, so a step sees batch_size x grad_accum x num_processes
    sequences. On CPU, num_processes x torch_threads should not exceed the cores: small policies use cores better
    as processes than as threads. Data building and evaluation run once, in the launching process."""

    @field_validator("eval_envs")
    @classmethod
    def _known_envs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            import environments

            try:
                environments.resolve_ids(value)  # env ids or family names
            except environments.UnknownEnvError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _disjoint_seed_ranges(self) -> SFTSection:
        longest = max([s.demos or self.demos_per_env for s in self.envs], default=0)
        for phase in self.curriculum:
            longest = max([longest, *(s.demos or phase.demos_per_env for s in phase.envs)])
        if not longest or not self.eval_seeds:
            return self
        train = range(self.train_seed_start, self.train_seed_start + longest)
        held = range(self.eval_seed_start, self.eval_seed_start + self.eval_seeds)
        if train.start < held.stop and held.start < train.stop:
            raise ValueError(
                f"training seeds [{train.start}, {train.stop}) overlap held-out eval seeds [{held.start}, {held.stop});"
                " move sft.eval_seed_start or sft.train_seed_start"
            )
        return self

    def demos_for(self, source: EnvSource) -> int:
        """Number of oracle demos played for `source`."""
        return source.demos or self.demos_per_env

    def train_seeds(self, source: EnvSource) -> range:
        """The training seeds of one env source."""
        return range(self.train_seed_start, self.train_seed_start + self.demos_for(source))

    def phase_section(self, index: int) -> SFTSection:
        """This section with curriculum phase `index`'s data, batch size, learning rate and budget in place of the
        main phase's (and no curriculum): what that phase trains with."""
        phase = self.curriculum[index]
        update = {k: getattr(phase, k) for k in CurriculumPhase.model_fields if k != "name"}  # all are SFT fields
        return self.model_copy(update={**update, "curriculum": []})

    def phase_name(self, index: int) -> str:
        """The folder name of curriculum phase `index` under `phases/`."""
        return self.curriculum[index].name or f"phase-{index + 1}"

    def held_out_seeds(self) -> range:
        """The held-out eval seeds (the same for every eval env)."""
        return range(self.eval_seed_start, self.eval_seed_start + self.eval_seeds)
