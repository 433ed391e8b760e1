"""Eval reports: results JSON, a side-by-side markdown table, PNG bar charts per family, transcripts.

    write_report({"sft": sft_result, "rl-200": rl_result}, "runs/eval-1")

Output folder:
    results.json                       every checkpoint's metrics per env config, per family and overall
    report.md                          one table, one column group per checkpoint; each later checkpoint's change
                                       from the first, paired per task; reward components; pass@1 per task kind
    plots/<family>.png                 pass@1 with 95% Wilson intervals, one bar per checkpoint per env config
    transcripts/<checkpoint>/<env>.jsonl  every episode (see rl.eval.transcripts)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl.eval.checkpoints import safe_name
from rl.eval.runner import EvalResult, paired_changes
from rl.eval.transcripts import write_transcripts


@dataclass
class ReportFiles:
    """What `write_report` wrote."""

    folder: Path
    results: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)
    transcripts: list[Path] = field(default_factory=list)


def _as_list(results: Mapping[str, EvalResult] | Sequence[EvalResult]) -> list[EvalResult]:
    if isinstance(results, Mapping):
        out = []
        for name, r in results.items():
            if r.name != name:
                r.name = name
            out.append(r)
        return out
    return list(results)


def write_report(
    results: Mapping[str, EvalResult] | Sequence[EvalResult],
    out_dir: str | Path,
    *,
    transcripts: bool = True,
    plots: bool = True,
    extra: dict[str, Any] | None = None,
) -> ReportFiles:
    """Write results JSON, markdown, per-family PNG charts and (optionally) transcripts for one or more
    checkpoints (a mapping name -> result, or results named by their `.name`)."""
    items = _as_list(results)
    if not items:
        raise ValueError("write_report: no results")
    names = [r.name for r in items]
    if len(set(names)) != len(names):
        raise ValueError(f"write_report: checkpoint names must be unique, got {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out, out / "results.json", out / "report.md")
    if transcripts:
        for r in items:
            files.transcripts += write_transcripts(out, r.name, r.episodes)
    if plots:
        files.plots = write_plots(items, out / "plots")
    changes = [paired_changes(items[0], r) for r in items[1:]]
    payload = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checkpoints": [r.as_dict() for r in items],
        "changes_from_first": {"base": items[0].name, **{r.name: c for r, c in zip(items[1:], changes, strict=True)}},
        "plots": [str(p.relative_to(out)) for p in files.plots],
        **(extra or {}),
    }
    files.results.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    files.markdown.write_text(markdown_report(items, [p.relative_to(out) for p in files.plots], changes))
    return files


def change_text(change: dict[str, Any] | None) -> str:
    """A paired change as signed pass@1 points with its 95% interval: '+18.5 [+12.4, +24.6]'."""
    if not change:
        return "-"
    lo, hi = change["ci95"]
    return f"{100 * change['difference']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _seed_text(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)} per env)"
    return f"{', '.join(map(str, seeds[:8]))}{' ...' if len(seeds) > 8 else ''} ({len(seeds)} per env)"


COLUMNS = ("pass@1 [95% CI]", "pass@k", "reward", "turns", "parse err", "tokens")


def _cells(m: dict[str, Any] | None, k: int) -> list[str]:
    if m is None:
        return ["-"] * len(COLUMNS)
    lo, hi = m["success_ci95"]
    return [
        f"{_pct(m['pass@1'])} [{_pct(lo)}, {_pct(hi)}]",
        _pct(m["pass@k"]),
        f"{m['mean_reward']:.3f}",
        f"{m['mean_turns']:.2f}",
        _pct(m["parse_error_rate"]),
        f"{m['tokens_per_episode']:.0f}",
    ]


def markdown_report(
    items: list[EvalResult], plots: Sequence[Path] = (), changes: list[dict[str, Any]] | None = None
) -> str:
    """The markdown comparison: rows are env configs, then families, then all; one column group per checkpoint.
    `changes`: each later checkpoint's `paired_changes` from the first, where the caller has them already."""
    import environments

    first = items[0]
    ks = sorted({r.k for r in items})
    lines = ["# Evaluation", ""]
    lines.append("| checkpoint | path | engine | n | k | temperature | seconds |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in items:
        engine = ", ".join(sorted({e.get("engine", "?") for e in r.engines})) or "-"
        lines.append(
            f"| {r.name} | `{r.checkpoint}` | {engine} | {r.n} | {r.k} | {r.sampling.get('temperature', '-')} "
            f"| {r.seconds:.0f} |"
        )
    lines += ["", f"Held-out task seeds: {_seed_text(first.seeds)}. Percentages; pass@k with k = "
              f"{', '.join(map(str, ks))}; parse err = share of assistant turns whose tool calls did not parse; "
              "tokens = generated tokens per episode.", ""]  # fmt: skip
    header = ["env", "family"]
    for r in items:
        header += [f"{r.name}: {c.replace('@k', f'@{r.k}')}" for c in COLUMNS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    env_ids = list(dict.fromkeys(e for r in items for e in r.env_ids))
    families = sorted({f for r in items for f in r.families})
    rows: list[tuple[str, str, list[dict[str, Any] | None]]] = []
    for e in env_ids:
        rows.append((e, environments.spec(e).family, [r.envs.get(e) for r in items]))
    for f in families:
        rows.append((f"**{f}** (all)", f, [r.families.get(f) for r in items]))
    rows.append(("**all**", "-", [r.overall for r in items]))
    for label, fam, metrics in rows:
        cells = [label, fam]
        for r, m in zip(items, metrics, strict=True):
            cells += _cells(m, r.k)
        lines.append("| " + " | ".join(cells) + " |")
    lines += _change_section(items, changes)
    lines += ["", "## Reward components (mean per episode)", ""]
    for r in items:
        comps = sorted({c for m in r.envs.values() for c in m["reward_components"]})
        if not comps:
            continue
        lines += [f"### {r.name}", "", "| env | " + " | ".join(comps) + " |", "|---|" + "---|" * len(comps)]
        for e, m in r.envs.items():
            vals = [f"{m['reward_components'][c]:.3f}" if c in m["reward_components"] else "-" for c in comps]
            lines.append(f"| {e} | " + " | ".join(vals) + " |")
        lines.append("")
    lines += _kind_section(items)
    if plots:
        lines += ["## pass@1 per family", ""]
        lines += [f"![{p.stem}]({p.as_posix()})" for p in plots]
        lines.append("")
    return "\n".join(lines) + "\n"


def _change_section(items: list[EvalResult], changes: list[dict[str, Any]] | None = None) -> list[str]:
    """Each later checkpoint's pass@1 minus the first's, paired over the tasks both played, per env and family."""
    if len(items) < 2:
        return []
    base = items[0]
    if changes is None:
        changes = [paired_changes(base, r) for r in items[1:]]
    if not any(c["envs"] for c in changes):
        return []
    lines = [
        "",
        f"## Change from {base.name}, paired per task",
        "",
        f"pass@1 points of each checkpoint minus {base.name}'s over the held-out tasks both played, with the 95%",
        "interval of the mean per-task difference. Tasks differ from each other far more than two checkpoints do on",
        "one task, so this interval is narrower than the two success-rate intervals above suggest. It halves with",
        "four times the seeds.",
        "",
        "| env | " + " | ".join(r.name for r in items[1:]) + " |",
        "|---|" + "---|" * (len(items) - 1),
    ]
    env_ids = [e for e in dict.fromkeys(e for r in items for e in r.env_ids) if any(e in c["envs"] for c in changes)]
    families = sorted({f for c in changes for f in c["families"]})
    for label, part, key in [(e, "envs", e) for e in env_ids] + [(f"**{f}** (all)", "families", f) for f in families]:
        lines.append(f"| {label} | " + " | ".join(change_text(c[part].get(key)) for c in changes) + " |")
    return lines


def _kind_section(items: list[EvalResult]) -> list[str]:
    """pass@1 per task kind (successes / episodes) of the env configs whose tasks come in kinds."""
    env_ids = list(dict.fromkeys(e for r in items for e in r.kinds))
    if not env_ids:
        return []
    lines = ["## pass@1 per task kind", "", "pass@1 % (successes / episodes) of each kind of task.", ""]
    lines += ["| env | kind | " + " | ".join(r.name for r in items) + " |", "|---|---|" + "---|" * len(items)]
    for e in env_ids:
        for kind in sorted({k for r in items for k in r.kinds.get(e, {})}):
            cells = []
            for r in items:
                m = r.kinds.get(e, {}).get(kind)
                cells.append(f"{_pct(m['pass@1'])} ({m['successes']}/{m['episodes']})" if m else "-")
            lines.append(f"| {e} | {kind} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write_plots(items: list[EvalResult], folder: Path) -> list[Path]:
    """One PNG per family: pass@1 with 95% Wilson intervals, grouped bars (one per checkpoint) per env config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import environments

    folder.mkdir(parents=True, exist_ok=True)
    env_ids = list(dict.fromkeys(e for r in items for e in r.env_ids))
    families = sorted({f for r in items for f in r.families})
    paths = []
    for fam in families:
        members = [e for e in env_ids if environments.spec(e).family == fam]
        labels = [*members, f"{fam} (all)"]
        x = np.arange(len(labels))
        width = 0.8 / len(items)
        fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(labels) * max(1, len(items)) * 0.6 + 2), 4))
        for j, r in enumerate(items):
            ms = [r.envs.get(e) for e in members] + [r.families.get(fam)]
            vals = np.array([m["pass@1"] if m else 0.0 for m in ms])
            lo = np.array([m["success_ci95"][0] if m else 0.0 for m in ms])
            hi = np.array([m["success_ci95"][1] if m else 0.0 for m in ms])
            err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
            ax.bar(x + (j - (len(items) - 1) / 2) * width, vals, width, yerr=err, capsize=3, label=r.name)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("pass@1 (95% CI)")
        ax.set_title(f"{fam}: pass@1 per env config")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"{safe_name(fam)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
