"""The whole job in one command: SFT -> asynchronous GRPO -> evaluation of every stage, with a report.

    agentrl quickstart [configs/quickstart.yaml] [key=value ...]

The run folder (run.output_dir/run.name) gets sft/ (the SFT run), grpo/ (the GRPO run), eval/ (the comparison
of the random-init, SFT and RL checkpoints on held-out seeds: JSON, markdown, per-family PNGs, transcripts) and
report.md with the summary table and the training plots (reward vs step, pass@1 per family per stage,
staleness, time breakdown). The table's last column is RL's change over SFT per family: the mean per-task
difference of pass@1 on the same held-out seeds, with its 95% interval (`rl.eval.metrics.paired_difference`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl.config.loader import dump_config
from rl.config.run import RunConfig
from rl.plots import draw_reward

STAGES = ("random init", "SFT", "RL")


@dataclass
class PipelineResult:
    """Where everything went and the headline numbers."""

    folder: Path
    checkpoints: dict[str, Path]
    pass1: dict[str, dict[str, float]] = field(default_factory=dict)
    """stage -> family -> pass@1."""
    ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    """stage -> family -> 95% interval of the success rate."""
    change: dict[str, dict[str, Any]] = field(default_factory=dict)
    """family -> RL minus SFT: {"tasks", "difference", "ci95"} over the held-out tasks both played."""
    seconds: dict[str, float] = field(default_factory=dict)
    firm_eval: str = ""
    """An `agentrl eval` command line that scores the SFT and RL checkpoints on FIRM_SEEDS held-out seeds."""
    warnings: list[str] = field(default_factory=list)
    """The GRPO stage's training-health warnings (`rl.health`)."""


FIRM_SEEDS = 200
"""Held-out seeds per env of the firmer SFT-vs-RL evaluation the report suggests."""


def firm_eval_command(cfg: RunConfig, sft: Path, rl: Path) -> str:
    """The command that evaluates the SFT and RL checkpoints side by side on FIRM_SEEDS held-out seeds per env,
    with the run's own eval settings (n, temperature, token budgets, seed offset, engine threads)."""
    root = cfg.run.folder
    return (
        f"agentrl eval SFT={sft} RL={rl} --envs {','.join(cfg.eval.env_ids())} --num-seeds {FIRM_SEEDS} "
        f"-c {root / 'config.yaml'} --out {root / f'eval-{FIRM_SEEDS}'}"
    )


def _stage_cfg(cfg: RunConfig, name: str, **updates: Any) -> RunConfig:
    run = cfg.run.model_copy(update={"output_dir": cfg.run.folder, "name": name})
    return cfg.model_copy(update={"run": run, **updates})


def run_pipeline(cfg: RunConfig, progress: bool = True, log: Any = print) -> PipelineResult:
    """Run SFT, GRPO from the SFT checkpoint, and the three-stage evaluation; write the report."""
    from rl.budget import warn_token_budget
    from rl.eval.checkpoints import Checkpoint, materialize
    from rl.eval.report import write_report
    from rl.eval.runner import evaluate_checkpoints
    from rl.policy.config import PolicyConfig
    from rl.train import train
    from sft import run_sft

    root = cfg.run.folder
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(dump_config(cfg))
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    log("[1/3] SFT on env-oracle demonstrations")
    sft_res = run_sft(_stage_cfg(cfg, "sft"), log=log)
    seconds["sft"] = time.perf_counter() - t0
    # the evaluation's budget, checked now rather than after GRPO (GRPO checks its own mix when it starts)
    ev_sampling = cfg.rollout.sampling.model_copy(update=cfg.eval.sampling_overrides())
    warn_token_budget(cfg.eval.env_ids(), sft_res.checkpoint, ev_sampling, cfg.eval.budget_keys())

    t0 = time.perf_counter()
    log(f"[2/3] asynchronous GRPO from {sft_res.checkpoint}")
    grpo_cfg = _stage_cfg(cfg, "grpo", policy=PolicyConfig(name_or_path=str(sft_res.checkpoint)))
    grpo = train(grpo_cfg, progress=progress)
    seconds["grpo"] = time.perf_counter() - t0
    log(f"rollout engine: {grpo.engine}")

    t0 = time.perf_counter()
    log("[3/3] evaluating random init, SFT and RL on held-out seeds")
    ev = cfg.eval
    base = cfg.policy.name_or_path
    init = (
        Checkpoint(name="random-init", spec=base, preset=base)
        if cfg.policy.is_preset
        else Checkpoint(name="random-init", spec=base, path=Path(base))
    )
    paths = {
        "random init": materialize(init, root / "eval" / "checkpoints", cfg.policy.init_seed),
        "SFT": sft_res.checkpoint,
        "RL": grpo.final_checkpoint,
    }
    # one pool for the three stages: each next checkpoint's weights are loaded into the running workers
    results = evaluate_checkpoints(
        paths,
        ev.env_ids(),
        ev.seeds(),
        ev.n,
        ev.k,
        ev.standalone_rollout(cfg.rollout),  # nothing else runs now
        sampling=ev.sampling_overrides(),
        sample_seed=ev.sample_seed,
        dtype=cfg.policy.dtype,
    )
    write_report(results, root / "eval")
    seconds["eval"] = time.perf_counter() - t0

    out = PipelineResult(
        folder=root,
        checkpoints=paths,
        seconds=seconds,
        firm_eval=firm_eval_command(cfg, paths["SFT"], paths["RL"]),
        warnings=list(grpo.warnings),
    )
    for stage, res in results.items():
        fams = res.as_dict()["families"]
        out.pass1[stage] = {f: m["pass@1"] for f, m in fams.items()}
        out.ci[stage] = {f: tuple(m["success_ci95"]) for f, m in fams.items()}
    out.change = rl_change(results["SFT"], results["RL"])
    _plots(root, grpo.history, out)
    _report(root, cfg, grpo, out)
    (root / "summary.json").write_text(
        json.dumps(
            {
                "pass1": out.pass1,
                "ci": out.ci,
                "rl_minus_sft": out.change,
                "seconds": seconds,
                "engine": grpo.engine,
                "checkpoints": {k: str(v) for k, v in paths.items()},
                "firm_eval_command": out.firm_eval,
                "warnings": out.warnings,
            },
            indent=2,
        )
    )
    return out


def rl_change(sft: Any, rl: Any) -> dict[str, dict[str, Any]]:
    """Per family, RL's pass@1 minus SFT's, paired over the held-out tasks (two `EvalResult`s)."""
    from rl.eval.runner import paired_changes

    return paired_changes(sft, rl)["families"]


def _plots(root: Path, history: list[dict[str, Any]], res: PipelineResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plots = root / "plots"
    plots.mkdir(exist_ok=True)
    steps = [h["step"] for h in history]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    window = draw_reward(ax, history)
    ax.set_xlabel("GRPO step")
    ax.legend(fontsize=7)
    ax.set_title(f"training reward vs step (lines: rolling mean of {window} steps)")
    fig.tight_layout()
    fig.savefig(plots / "reward_vs_step.png", dpi=110)
    plt.close(fig)

    families = sorted({f for stage in res.pass1.values() for f in stage})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(STAGES)
    for i, stage in enumerate(STAGES):
        vals = [res.pass1.get(stage, {}).get(f, 0.0) for f in families]
        ax.bar(np.arange(len(families)) + i * width, vals, width, label=stage)
    ax.set_xticks(np.arange(len(families)) + width)
    ax.set_xticklabels(families)
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out pass@1")
    ax.legend()
    ax.set_title("pass@1 per family per stage")
    fig.tight_layout()
    fig.savefig(plots / "pass1_per_family.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [h["staleness/mean"] for h in history], marker="o", label="mean")
    ax.plot(steps, [h["staleness/max"] for h in history], marker="x", label="max")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("policy versions")
    ax.legend()
    ax.set_title("staleness of consumed groups")
    fig.tight_layout()
    fig.savefig(plots / "staleness.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    parts = ["time/train_s", "time/sync_s", "time/idle_s"]
    bottom = np.zeros(len(steps))
    for key in parts:
        vals = np.array([h.get(key, 0.0) for h in history])
        ax.bar(steps, vals, bottom=bottom, label=key.split("/")[1].removesuffix("_s"))
        bottom += vals
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("seconds (driver view)")
    ax.legend()
    ax.set_title("time per step: learner / weight sync / waiting for rollouts")
    fig.tight_layout()
    fig.savefig(plots / "time_breakdown.png", dpi=110)
    plt.close(fig)


def _report(root: Path, cfg: RunConfig, grpo: Any, res: PipelineResult) -> None:
    from rl.eval.report import change_text

    families = sorted({f for stage in res.pass1.values() for f in stage})
    lines = [
        "# agentrl quickstart report",
        "",
        f"Policy: `{cfg.policy.name_or_path}`; rollout engine: {grpo.engine}.",
        f"Held-out seeds: {cfg.eval.num_seeds} per env from {cfg.eval.seed_offset}, n={cfg.eval.n} samples each.",
        "",
        "## Held-out pass@1 per family",
        "",
        "| family | " + " | ".join(STAGES) + " | RL - SFT (points) |",
        "|---|" + "---|" * (len(STAGES) + 1),
    ]
    for f in families:
        cells = []
        for stage in STAGES:
            p = res.pass1.get(stage, {}).get(f)
            lo, hi = res.ci.get(stage, {}).get(f, (float("nan"), float("nan")))
            cells.append("-" if p is None else f"{p:.2f} [{lo:.2f}, {hi:.2f}]")
        lines.append(f"| {f} | " + " | ".join(cells) + f" | {change_text(res.change.get(f))} |")
    lines += [
        "",
        "Brackets: 95% Wilson interval of the success rate; for RL - SFT, the 95% interval of the mean per-task",
        "difference on the same held-out seeds (pass@1 points). Per-env and per-task-kind tables: eval/report.md.",
        "",
        f"These intervals come from {cfg.eval.num_seeds} seeds per env. For firmer numbers, {FIRM_SEEDS} seeds",
        f"per env make them about {math.sqrt(FIRM_SEEDS / cfg.eval.num_seeds):.1f} times narrower (about 5 minutes",
        "on 2 cores):",
        "",
        f"    {res.firm_eval}",
        "",
        *(["## Warnings", "", *[f"- GRPO: {w}" for w in res.warnings], ""] if res.warnings else []),
        "## Time",
        "",
        *[f"- {k}: {v:.0f} s" for k, v in res.seconds.items()],
        "",
        "## Plots",
        "",
        "![reward](plots/reward_vs_step.png)",
        "![pass@1](plots/pass1_per_family.png)",
        "![staleness](plots/staleness.png)",
        "![time](plots/time_breakdown.png)",
        *([f"![training curves]({grpo.curves.relative_to(root).as_posix()})"] if grpo.curves else []),
        "",
        "Run folders: sft/ (SFT run), grpo/ (GRPO run: metrics.jsonl, tensorboard/, checkpoints/), eval/.",
    ]
    (root / "report.md").write_text("\n".join(lines) + "\n")


def print_summary(res: PipelineResult) -> None:
    """The summary table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    from rl.eval.report import change_text

    families = sorted({f for stage in res.pass1.values() for f in stage})
    table = Table(title="held-out pass@1 per family")
    table.add_column("family")
    for stage in STAGES:
        table.add_column(stage)
    table.add_column("RL - SFT (points, 95% CI)")
    for f in families:
        cells = [f"{res.pass1.get(s, {}).get(f, float('nan')):.2f}" for s in STAGES]
        table.add_row(f, *cells, change_text(res.change.get(f)))
    console = Console()
    console.print(table)
    console.print(f"report: {res.folder / 'report.md'}", highlight=False)
    for w in res.warnings:
        console.print(f"[yellow]warning[/yellow] (GRPO): {w}", highlight=False, soft_wrap=True)
    if res.firm_eval:
        console.print(
            f"firmer RL - SFT numbers ({FIRM_SEEDS} seeds per env): {res.firm_eval}", highlight=False, soft_wrap=True
        )
