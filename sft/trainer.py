"""The SFT stage: TRL's SFTTrainer with assistant-only loss on multi-turn tool-use demonstrations, no packing.

    from rl.config import load_config
    from sft import run_sft
    result = run_sft(load_config("configs/sft-tiny.yaml"))

Run folder (`run.output_dir/run.name`):

    config.yaml          the resolved config
    data_report.json     sources, weights, demos, examples, held-out seeds
    metrics.jsonl        one line per logged step (loss, learning rate, grad norm, elapsed seconds)
    tensorboard/         the same curves for TensorBoard
    phases/NAME/         metrics.jsonl and tensorboard/ of each `sft.curriculum` phase (trained first, in order)
    init/                the initial policy as a checkpoint directory (when it is a preset and eval_before is on)
    checkpoint/          the trained policy: model, tokenizer, chat template, agentrl_config.yaml
    eval.json            before/after pass@1, mean reward and parse-error rate per env (held-out seeds)
    summary.json         steps, wall time, first/last loss, eval headline numbers

Loss: labels are the token ids inside the chat template's `{% generation %}` spans (assistant text, tool calls
and the end-of-turn token), -100 everywhere else: prompts, tool specs and tool results carry no loss.
Packing is off: the CPU Mamba fallback would carry state across packed sequences.
With `time_budget_s`, training stops at the budget and the learning-rate schedule runs on
max(step progress, time progress), so the decay finishes when the budget is spent.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from trl import SFTConfig, SFTTrainer

from rl.config.loader import dump_config
from rl.config.run import RunConfig
from sft.callbacks import MetricsCallback, TimeBudgetCallback
from sft.config import SFTSection
from sft.data import SFTData, build_sft_data

CONFIG_IN_CHECKPOINT = "agentrl_config.yaml"


def _schedule(kind: str, warmup: float, progress: float) -> float:
    if kind == "constant":
        return 1.0
    if progress < warmup:
        return progress / warmup if warmup > 0 else 1.0
    if kind == "constant_with_warmup":
        return 1.0
    rest = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * rest)) if kind == "cosine" else 1.0 - rest


class BudgetedSFTTrainer(SFTTrainer):
    """SFTTrainer whose learning-rate schedule follows max(step progress, wall-clock progress) when a time budget
    is set (otherwise the usual step-based schedule)."""

    def __init__(self, *args: Any, sft_section: SFTSection, budget: TimeBudgetCallback, **kwargs: Any):
        self._sft = sft_section
        self._budget = budget
        super().__init__(*args, **kwargs)

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None) -> Any:
        if self.lr_scheduler is None:
            optimizer = optimizer or self.optimizer
            sft, budget = self._sft, self._budget

            def factor(step: int) -> float:
                progress = step / max(1, num_training_steps)
                if sft.time_budget_s:
                    progress = max(progress, budget.elapsed() / sft.time_budget_s)
                return _schedule(sft.lr_scheduler, sft.warmup_ratio, min(1.0, progress))

            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            self._created_lr_scheduler = True
        return self.lr_scheduler


def aux_loss_coef(cfg: RunConfig) -> float | None:
    """The MoE load-balancing coefficient passed to TRL. TRL 1.16's loss reads `config.num_experts`, which some MoE
    configs (GraniteMoeHybrid: `num_local_experts`) do not have, so for those the aux loss is off unless asked for
    explicitly (in which case TRL's own error says why)."""
    if cfg.sft.router_aux_loss_coef is not None:
        return cfg.sft.router_aux_loss_coef
    from rl.policy.build import build_config

    config, _ = build_config(cfg.policy)
    text = config.get_text_config()
    if getattr(text, "router_aux_loss_coef", 0.0) and not hasattr(text, "num_experts"):
        return 0.0
    return None


def sft_args(cfg: RunConfig, output_dir: Path) -> SFTConfig:
    """TRL's SFTConfig for a run: assistant-only loss, no packing, no padding-free, no checkpoints mid-run."""
    s = cfg.sft
    return SFTConfig(
        output_dir=str(output_dir),
        assistant_only_loss=True,
        packing=False,
        padding_free=False,
        max_length=s.max_length,
        truncation_mode="keep_start",
        per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps or -1,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_ratio,
        weight_decay=s.weight_decay,
        max_grad_norm=s.max_grad_norm,
        router_aux_loss_coef=aux_loss_coef(cfg),
        logging_steps=s.logging_steps,
        train_sampling_strategy="group_by_length" if s.group_by_length else "random",
        gradient_checkpointing=s.gradient_checkpointing,
        logging_first_step=True,
        save_strategy="no",
        report_to="none",
        seed=cfg.run.seed,
        data_seed=cfg.run.seed,
        dataloader_num_workers=0,
        bf16=cfg.policy.dtype == "bfloat16" and torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        ddp_backend=None if torch.cuda.is_available() or s.num_processes == 1 else "gloo",
    )


def make_trainer(
    cfg: RunConfig,
    model: Any,
    tokenizer: Any,
    dataset: Any,
    output_dir: Path,
    callbacks: list[Any] | None = None,
    budget: TimeBudgetCallback | None = None,
) -> BudgetedSFTTrainer:
    """An SFTTrainer on a conversational dataset (`messages` + `tools` columns) with assistant-only loss."""
    budget = budget or TimeBudgetCallback(cfg.sft.time_budget_s)
    return BudgetedSFTTrainer(
        model=model,
        args=sft_args(cfg, output_dir),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[budget, *(callbacks or [])],
        sft_section=cfg.sft,
        budget=budget,
    )


def eval_env_ids(cfg: SFTSection) -> list[str]:
    """The env ids evaluated before/after (family names expanded)."""
    import environments

    selectors = cfg.eval_envs if cfg.eval_envs is not None else [s.id for s in cfg.envs]
    return environments.resolve_ids(selectors) if selectors else []


@dataclass
class SFTResult:
    """What `run_sft` produced."""

    folder: Path
    checkpoint: Path
    steps: int
    train_s: float
    losses: list[float] = field(default_factory=list)
    eval: dict[str, Any] = field(default_factory=dict)
    data_report: dict[str, Any] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    """Steps and seconds of each curriculum phase, in order (`train_s` includes them)."""

    def summary(self) -> dict[str, Any]:
        """Headline numbers (what summary.json holds)."""
        out: dict[str, Any] = {
            "folder": str(self.folder),
            "checkpoint": str(self.checkpoint),
            "steps": self.steps,
            "train_s": round(self.train_s, 2),
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "examples": self.data_report.get("examples"),
        }
        if self.phases:
            out["phases"] = self.phases
        for when in ("before", "after"):
            if when in self.eval:
                out[when] = {
                    e: {k: m[k] for k in ("pass@1", "mean_reward", "parse_error_rate")}
                    for e, m in self.eval[when]["envs"].items()
                }
        return out


@dataclass
class TrainOutcome:
    """What the training loop of one run produced (the checkpoint is already saved)."""

    steps: int
    train_s: float
    losses: list[float]
    stopped_early: bool


def train_and_save(
    cfg: RunConfig, model: Any, tokenizer: Any, dataset: Any, folder: Path, save: bool = True
) -> TrainOutcome:
    """Train with curves in `folder` and the time budget of `cfg.sft`; the first process saves the trained policy
    to `folder/checkpoint` (unless `save` is off). Every process of a data-parallel run calls this with the same
    arguments."""
    budget = TimeBudgetCallback(cfg.sft.time_budget_s)
    metrics = MetricsCallback(folder / "metrics.jsonl", folder / "tensorboard")
    trainer = make_trainer(cfg, model, tokenizer, dataset, folder / "trainer", [metrics], budget)
    t1 = time.perf_counter()
    trainer.train()
    outcome = TrainOutcome(
        steps=trainer.state.global_step,
        train_s=time.perf_counter() - t1,
        losses=[h["loss"] for h in trainer.state.log_history if "loss" in h],
        stopped_early=budget.stopped_early,
    )
    if save and trainer.is_world_process_zero():
        from rl.policy.build import save_policy

        ckpt = folder / "checkpoint"
        if ckpt.exists():
            shutil.rmtree(ckpt)
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        unwrapped.config.use_cache = True  # TRL turns the cache off for training; generation wants it
        meta = {"stage": "sft", "base": cfg.policy.name_or_path, "steps": outcome.steps, "run": cfg.run.name}
        save_policy(unwrapped, tokenizer, ckpt, metadata=meta)
        (ckpt / CONFIG_IN_CHECKPOINT).write_text(dump_config(cfg))
    return outcome


def _train(
    cfg: RunConfig, model: Any, tokenizer: Any, dataset: Any, folder: Path, init_dir: Path | None, save: bool
) -> TrainOutcome:
    """One training phase into `folder`, in this process (training `model` in place) or data-parallel (starting
    from `init_dir`, the checkpoint landing in `folder/checkpoint`)."""
    if cfg.sft.num_processes > 1:
        from sft.data_parallel import train_data_parallel

        outcome = train_data_parallel(cfg, model, tokenizer, dataset, folder, init_dir)
    else:
        outcome = train_and_save(cfg, model, tokenizer, dataset, folder, save=save)
    shutil.rmtree(folder / "trainer", ignore_errors=True)
    return outcome


def _log_outcome(log: Any, prefix: str, outcome: TrainOutcome, processes: int) -> None:
    log(
        f"{prefix}trained {outcome.steps} steps in {outcome.train_s:.1f}s"
        + (f" on {processes} processes" if processes > 1 else "")
        + (" (time budget reached)" if outcome.stopped_early else "")
    )


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")


def run_sft(cfg: RunConfig, log: Any = print) -> SFTResult:
    """Build the data, train, save the checkpoint, evaluate before/after; everything lands in the run folder."""
    from transformers import set_seed

    from rl.policy.build import load_policy, save_policy
    from rollout.config import SamplingConfig
    from sft.evaluate import evaluate_checkpoint

    s = cfg.sft
    if s.torch_threads:
        torch.set_num_threads(s.torch_threads * s.num_processes)
    folder = cfg.run.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(dump_config(cfg))
    set_seed(cfg.run.seed)

    evals = eval_env_ids(s) if s.eval_seeds else []
    t0 = time.perf_counter()
    data: SFTData = build_sft_data(s, seed=cfg.run.seed, eval_env_ids=evals)
    data.report["build_s"] = round(time.perf_counter() - t0, 2)
    phases = []  # every phase's data is built before any training, so a bad source fails fast
    for i in range(len(s.curriculum)):
        section = s.phase_section(i)
        phase_data = build_sft_data(section, seed=cfg.run.seed, eval_env_ids=evals)
        phases.append((s.phase_name(i), cfg.model_copy(update={"sft": section}), phase_data))
        data.report.setdefault("curriculum", {})[s.phase_name(i)] = phase_data.report
    _write_json(folder / "data_report.json", data.report)
    log(
        f"data: {data.report['examples']} examples from {len(data.report['sources'])} source(s)"
        + "".join(f"; phase {name}: {d.report['examples']} examples" for name, _, d in phases)
    )

    model, tok = load_policy(cfg.policy)
    sampling = SamplingConfig(**s.eval_sampling.model_dump())
    evaluation: dict[str, Any] = {}
    init_dir = None if cfg.policy.is_preset else Path(cfg.policy.name_or_path)
    if evals and s.eval_before:
        if init_dir is None:
            init_dir = save_policy(model, tok, folder / "init", metadata={"preset": cfg.policy.name_or_path})
        log(f"evaluating the initial policy on {len(evals)} env(s) x {s.eval_seeds} held-out seeds")
        evaluation["before"] = evaluate_checkpoint(init_dir, evals, s.held_out_seeds(), sampling, s.eval_batch)

    done: list[tuple[str, TrainOutcome]] = []
    for name, phase_cfg, phase_data in phases:
        phase_folder = folder / "phases" / name
        phase_folder.mkdir(parents=True, exist_ok=True)
        outcome = _train(phase_cfg, model, tok, phase_data.dataset(), phase_folder, init_dir, save=False)
        if s.num_processes > 1:  # the processes hand the policy on through the phase's checkpoint
            init_dir = phase_folder / "checkpoint"
        _log_outcome(log, f"phase {name}: ", outcome, s.num_processes)
        done.append((name, outcome))
    outcome = _train(cfg, model, tok, data.dataset(), folder, init_dir, save=True)
    _log_outcome(log, "main phase: " if phases else "", outcome, s.num_processes)
    ckpt = folder / "checkpoint"

    if evals:
        log(f"evaluating the trained policy on {len(evals)} env(s) x {s.eval_seeds} held-out seeds")
        evaluation["after"] = evaluate_checkpoint(ckpt, evals, s.held_out_seeds(), sampling, s.eval_batch)
        _write_json(folder / "eval.json", evaluation)
    train_s = outcome.train_s + sum(o.train_s for _, o in done)
    phase_rows = [{"name": n, "steps": o.steps, "train_s": round(o.train_s, 2)} for n, o in done]
    result = SFTResult(folder, ckpt, outcome.steps, train_s, outcome.losses, evaluation, data.report, phase_rows)
    _write_json(folder / "summary.json", result.summary())
    return result
