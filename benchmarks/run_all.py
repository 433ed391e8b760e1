"""Run every performance benchmark (short settings) and summarise benchmarks/results/*.json in summary.md.

    .venv/bin/python benchmarks/run_all.py [--only vs_trl,sandbox_overhead] [--summary-only]
    make bench

Runs, one after another (never in parallel: each measures ratios side by side on a shared machine):
vs_trl.py, sandbox_overhead.py, weight_sync.py, rollout_throughput.py (--episodes 8), async_vs_sync.py
(--steps 3), layout_copy.py (--steps 400), mamba_chunk.py, tokenizer_length.py, sft_data_parallel.py,
continuous_batching.py (--episodes 64), learner_step.py, engine_process.py (--groups 8), decode_kernels.py and
sampling.py.
Each writes benchmarks/results/<name>.json; benchmarks/results/summary.md gets one markdown table per result file found
(including results written earlier, e.g. sft_tiny.json), with the key ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT

BENCHMARKS: dict[str, list[str]] = {
    "vs_trl": ["vs_trl.py", "--steps", "5", "--repeats", "2"],
    "sandbox_overhead": ["sandbox_overhead.py", "--runs", "10", "--repeats", "3"],
    "weight_sync": ["weight_sync.py", "--repeats", "3"],
    "rollout_throughput": ["rollout_throughput.py", "--episodes", "8"],
    "async_vs_sync": ["async_vs_sync.py", "--steps", "3"],
    "layout_copy": ["layout_copy.py", "--steps", "400"],
    "mamba_chunk": ["mamba_chunk.py", "--repeats", "3"],
    "tokenizer_length": ["tokenizer_length.py", "--seeds", "32"],
    "sft_data_parallel": ["sft_data_parallel.py", "--seconds", "40"],
    "continuous_batching": ["continuous_batching.py", "--episodes", "64"],
    "learner_step": ["learner_step.py"],
    "engine_process": ["engine_process.py", "--groups", "8", "--repeats", "2"],
    "decode_kernels": ["decode_kernels.py", "--repeats", "3"],
    "sampling": ["sampling.py", "--repeats", "3"],
}


def fmt(v: Any) -> str:
    """A table cell."""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list | dict):
        return json.dumps(v)[:60]
    return str(v)


def table(rows: list[dict[str, Any]], keys: list[str] | None = None) -> str:
    """Rows (dicts) as a markdown table."""
    if not rows:
        return "_no rows_\n"
    keys = keys or [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(out) + "\n"


def section(name: str, data: dict[str, Any]) -> str:
    """The summary section of one result file."""
    m = data.get("machine", {})
    res = data.get("results", {})
    head = (
        f"## {name}\n\n_{m.get('date', '?')} on {m.get('platform', '?')}, {m.get('cpus', m.get('cpu_count', '?'))} "
        f"CPUs, device {m.get('device', '?')}; torch {m.get('torch', '?')}, transformers {m.get('transformers', '?')}"
        f", trl {m.get('trl', '?')}_\n\n"
    )
    if name == "vs_trl":
        keys = ["variant", "step_s_median", "first_step_s", "gen_tokens_per_s", "reward_at_equal_wall"]
        keys += ["steps_within_equal_wall", "total_wall_s", "trl_step_over_this"]
        body = table(res["rows"], keys)
        split = [r for r in res["rows"] if "train_s_median" in r]
        body += "\nagentrl's step split (medians, seconds; `idle` = driver waiting for rollouts):\n\n"
        body += table(split, ["variant", "step_s_median", "train_s_median", "sync_s_median", "idle_s_median"])
        body += f"\nEqual wall-clock horizon: {res['equal_wall_horizon_s']:.1f} s of training.\n"
        return head + "Key ratio: `trl_step_over_this` (> 1 = faster per step than TRL).\n\n" + body
    if name == "sandbox_overhead":
        body = table(res["rows"]) + "\nWhere a sandboxed run's time goes:\n\n" + table(res["parts"])
        if res.get("spawn"):
            body += "\nStarting a run from a large parent (system-wide CPU per run):\n\n" + table(res["spawn"])
        return head + f"Key ratio: worst overhead {res['worst_overhead_ratio']:.2f}x (target <= 1.5x).\n\n" + body
    if name == "weight_sync":
        body = table(res["rows"])
        if res.get("vllm_skipped"):
            body += "\nvLLM sizes skipped: " + "; ".join(res["vllm_skipped"]) + "\n"
        return head + body
    if name == "async_vs_sync":
        body = table(res["rows"])
        key = f"sync wall / async wall = {res['sync_over_async_wall']:.2f}x"
        if "blocking_over_overlapped_wall" in res:
            key += f"; blocking / overlapped weight sync wall = {res['blocking_over_overlapped_wall']:.2f}x"
        return head + f"Key ratio: {key}.\n\n" + body
    if isinstance(res, list):
        return head + table(res)
    if isinstance(res, dict):
        rows = res.get("rows")
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            return head + table(rows)
        flat = {k: v for k, v in res.items() if not isinstance(v, list | dict)}
        return head + (table([flat]) if flat else "_see the JSON file_\n")
    return head + "_see the JSON file_\n"


def summarise() -> Path:
    """Write benchmarks/results/summary.md from every results JSON file."""
    parts = [
        "# Benchmark summary\n",
        "Generated by `benchmarks/run_all.py` from `benchmarks/results/*.json`; see docs/performance.md for what each "
        "figure means. Ratios are measured side by side in one run on a shared, noisy machine.\n",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            parts.append(section(path.stem, data))
        except Exception as exc:  # a malformed or older-format file: say so, keep going
            parts.append(f"## {path.stem}\n\n_could not summarise: {type(exc).__name__}: {exc}_\n")
    out = RESULTS / "summary.md"
    out.write_text("\n".join(parts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--summary-only", action="store_true", help="only rebuild summary.md")
    args = parser.parse_args()
    chosen = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
    failed = []
    if not args.summary_only:
        for name in chosen:
            t0 = time.perf_counter()
            print(f"=== {name}: {' '.join(BENCHMARKS[name])}", flush=True)
            rc = subprocess.run([sys.executable, *BENCHMARKS[name]], cwd=ROOT / "benchmarks").returncode
            print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f}s", flush=True)
            if rc:
                failed.append(name)
    print(f"wrote {summarise()}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
