"""Shared by the benchmark scripts: machine and version facts, a result writer, a table printer.

Every benchmark measures ratios side by side in one run (this machine is shared and noisy) and writes
benchmarks/results/<name>.json with the machine, the versions and the config it ran with.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """Machine, Python and library versions."""
    from rl.doctor import accelerator, dist_version, vllm_build

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "device": accelerator(),
        "torch": dist_version("torch"),
        "transformers": dist_version("transformers"),
        "ray": dist_version("ray"),
        "trl": dist_version("trl"),
        "vllm": vllm_build(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_result(name: str, config: dict[str, Any], results: Any) -> Path:
    """Write benchmarks/results/<name>.json and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {"benchmark": name, "machine": machine(), "config": config, "results": results}, indent=2, default=str
        )
        + "\n"
    )
    return path


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Print rows (dicts with the same keys) as a rich table."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(str(key))
    for row in rows:
        table.add_row(*[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()])
    Console().print(table)


def policy_dir(path: str | None) -> str:
    """The checkpoint directory to benchmark: `path`, or random-init nemotron-h-tiny saved to a temp dir."""
    if path is not None:
        return path
    import tempfile

    from rl.policy.build import load_policy, save_policy
    from rl.policy.config import PolicyConfig

    model, tok = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny"))
    return str(save_policy(model, tok, Path(tempfile.mkdtemp()) / "nemotron-h-tiny"))
