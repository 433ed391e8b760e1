"""Training curves as PNG: what `agentrl train` leaves in `<run>/plots/` at the end of a run.

One figure of six panels from the run's `metrics.jsonl` records (every step, resumed parts included):
training reward per env config (raw points and a rolling mean, since a step holds only a few groups), held-out
eval pass@1 when the run evaluated (all envs, and each trained env), KL to the reference and entropy, clip and
masked fractions, staleness of the consumed groups, and where each step's time went. The reward panel is also
the quickstart report's "reward vs step" plot (`draw_reward`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rl.metrics import ROLLING, series, trend_window

CURVES_FILE = "training_curves.png"


def rolling_mean(values: list[float], window: int = ROLLING) -> list[float]:
    """Trailing mean over at most `window` values (the first points average what exists so far)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


_REWARD_TOTALS = ("reward/mean", "reward/std")
"""Reward keys of the whole batch, not of one env."""


def reward_envs(records: list[dict[str, Any]]) -> list[str]:
    """Env ids with a per-step training reward in `records` (keys `reward/<env>`), sorted."""
    keys = {k for r in records for k in r}
    return sorted(k.removeprefix("reward/") for k in keys if k.startswith("reward/") and k not in _REWARD_TOTALS)


def draw_reward(ax: Any, records: list[dict[str, Any]]) -> int:
    """Training reward per env on `ax`: faint points per step and a rolling-mean line each, then the all-env
    mean as a black line; returns the window. The window is a tenth of the run (at least `ROLLING` steps),
    since one step holds only a few groups and an env sampled at 1 in 8 appears in few steps."""
    n_steps = len({r["step"] for r in records if "reward/mean" in r})
    window = trend_window(n_steps)
    for env in reward_envs(records):
        steps, vals = series(records, f"reward/{env}")
        (line,) = ax.plot(steps, rolling_mean(vals, window), label=env)
        ax.scatter(steps, vals, s=8, alpha=0.35, color=line.get_color())
    steps, vals = series(records, "reward/mean")
    ax.plot(steps, rolling_mean(vals, window), color="black", linewidth=2, label="all envs")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("reward")
    return window


def training_curves(records: list[dict[str, Any]], path: Path) -> Path:
    """Draw the run's curves into `path` (PNG) and return it; `records` are metrics.jsonl lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any("reward/mean" in r for r in records):
        raise ValueError(f"no training steps to plot for {path} (metrics without 'reward/mean')")
    keys = sorted({k for r in records for k in r})
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    (rew, ev, kl), (clip, stale, tm) = axes

    window = draw_reward(rew, records)
    rew.set_title(f"training reward per env (points; lines: rolling mean of {window})")
    envs = reward_envs(records)

    evals = [name for name in ("all", *envs) if f"eval/{name}/pass@1" in keys]
    for name in evals:
        ev.plot(*series(records, f"eval/{name}/pass@1"), marker="o", label=name)
    if not evals:
        ev.plot(*series(records, "success_rate"), marker=".", label="training success rate")
    ev.set_title("held-out pass@1 (eval steps)" if evals else "training success rate (no eval section)")
    ev.set_ylim(-0.02, 1.02)

    kl.plot(*series(records, "kl"), label="KL to reference")
    kl.plot(*series(records, "entropy"), label="entropy")
    kl.set_title("KL and entropy (per token)")

    clip.plot(*series(records, "clip_fraction"), label="clip fraction")
    clip.plot(*series(records, "offpolicy/masked_fraction"), label="off-policy masked")
    clip.plot(*series(records, "offpolicy/truncated_fraction"), label="IS-truncated")
    clip.set_title("clipped and masked token fractions")

    stale.plot(*series(records, "staleness/mean"), marker=".", label="mean")
    stale.plot(*series(records, "staleness/max"), marker="x", label="max")
    stale.set_title("staleness of consumed groups (policy versions)")

    for key in ("time/step_s", "time/train_s", "time/idle_s", "time/sync_s"):
        tm.plot(*series(records, key), label=key.removeprefix("time/").removesuffix("_s"))
    tm.set_title("seconds per step (driver view)")

    for ax in axes.flat:
        ax.set_xlabel("GRPO step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
