"""Eval transcripts: one JSONL file per checkpoint and env config, and a readable terminal rendering.

<out>/transcripts/<checkpoint>/<env id>.jsonl   one line per episode: env_id, seed, sample, reward, success,
                                               reward_components, task_kind, turns, finish, parse_errors, tool_calls,
                                               generated_tokens, total_tokens, error, tools, messages
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from rl.eval.checkpoints import safe_name
from rl.eval.metrics import Episode

TRANSCRIPTS = "transcripts"


def transcript_path(out_dir: Path, checkpoint: str, env_id: str) -> Path:
    """Where the transcripts of one checkpoint and env config live."""
    return Path(out_dir) / TRANSCRIPTS / safe_name(checkpoint) / f"{safe_name(env_id)}.jsonl"


def write_transcripts(out_dir: Path, checkpoint: str, episodes: list[Episode]) -> list[Path]:
    """Write the episodes of one checkpoint, one JSONL file per env config; returns the files."""
    by_env: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_env[e.env_id].append(e)
    paths = []
    for env_id, eps in by_env.items():
        path = transcript_path(out_dir, checkpoint, env_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            for e in sorted(eps, key=lambda x: (x.seed, x.sample)):
                f.write(json.dumps(asdict(e), default=str) + "\n")
        paths.append(path)
    return paths


class TranscriptNotFound(LookupError):
    """No transcript matches the request (the message says what exists)."""


def checkpoint_names(run_dir: Path) -> list[str]:
    """Checkpoint names of an eval run folder (results.json order, else the transcript folders)."""
    results = Path(run_dir) / "results.json"
    if results.is_file():
        data = json.loads(results.read_text())
        return [c["name"] for c in data.get("checkpoints", [])]
    root = Path(run_dir) / TRANSCRIPTS
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def load_transcript(
    run_dir: Path, env_id: str, seed: int, checkpoint: str | None = None, sample: int = 0
) -> tuple[str, dict[str, Any]]:
    """(checkpoint name, episode record) from an eval run folder; the first checkpoint when none is named."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TranscriptNotFound(f"{run_dir} is not an eval run folder")
    names = checkpoint_names(run_dir)
    if not names:
        raise TranscriptNotFound(f"{run_dir} has no results.json or transcripts; is it an `agentrl eval` output?")
    if checkpoint is None:
        checkpoint = names[0]
    elif checkpoint not in names:
        raise TranscriptNotFound(f"no checkpoint {checkpoint!r} in {run_dir}; checkpoints: {', '.join(names)}")
    path = transcript_path(run_dir, checkpoint, env_id)
    if not path.is_file():
        envs = sorted(p.stem for p in path.parent.glob("*.jsonl"))
        raise TranscriptNotFound(f"no transcripts of env {env_id!r} for {checkpoint}; envs: {', '.join(envs)}")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        if row["seed"] == seed and row["sample"] == sample:
            return checkpoint, row
    seeds = sorted({r["seed"] for r in rows})
    samples = sorted({r["sample"] for r in rows})
    raise TranscriptNotFound(
        f"no episode with seed {seed} and sample {sample} for {checkpoint} on {env_id}; "
        f"seeds: {_ranges(seeds)}; samples: {_ranges(samples)}"
    )


def _ranges(values: list[int]) -> str:
    if not values:
        return "none"
    if values == list(range(values[0], values[-1] + 1)) and len(values) > 2:
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))


ROLE_STYLE = {"system": "yellow", "user": "cyan", "assistant": "green", "tool": "magenta"}


def _call_text(call: dict[str, Any]) -> str:
    fn = call.get("function", call)
    args = fn.get("arguments", {})
    return f"{fn.get('name', '?')}({json.dumps(args, ensure_ascii=False) if not isinstance(args, str) else args})"


def render_transcript(console: Console, checkpoint: str, row: dict[str, Any]) -> None:
    """Print one episode: header (reward, success, components), tools, then every message with its tool calls."""
    verdict = "[green]success[/]" if row.get("success") else "[red]no success[/]"
    console.print(
        f"[bold]{row['env_id']}[/] seed {row['seed']} sample {row['sample']}  checkpoint [bold]{checkpoint}[/]",
        highlight=False,
    )
    comps = ", ".join(f"{k}={v:g}" for k, v in row.get("reward_components", {}).items()) or "-"
    console.print(
        f"reward {row['reward']:g} ({verdict}); components: {comps}; turns {row.get('turns')}, "
        f"finish {row.get('finish') or '-'}, parse errors {row.get('parse_errors', 0)}, "
        f"tokens generated {row.get('generated_tokens', 0)}",
        highlight=False,
    )
    if row.get("error"):
        console.print(f"[red]error:[/] {row['error']}", highlight=False)
    for tool in row.get("tools", []):
        fn = tool.get("function", tool)
        console.print(f"  tool [cyan]{fn.get('name')}[/]: {fn.get('description', '')}", highlight=False)
    for m in row.get("messages", []):
        role = m.get("role", "?")
        title = role + (f" {m['name']}" if m.get("name") else "")
        body = Text(str(m.get("content") or ""))
        for call in m.get("tool_calls") or []:
            body.append(("\n" if body.plain else "") + "call " + _call_text(call), style="bold blue")
        console.print(Panel(body, title=title, title_align="left", border_style=ROLE_STYLE.get(role, "white")))
    console.print(f"episode reward {row['reward']:g}", highlight=False)
