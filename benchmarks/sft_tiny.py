"""SFT of nemotron-h-tiny from random init within a wall-clock budget on CPU; before/after pass@1 on held-out seeds.

    .venv/bin/python benchmarks/sft_tiny.py [--config configs/sft-tiny.yaml] [key=value ...]

Targets (from the sft issue): at most 5 minutes of SFT on 2 CPU cores; >= 50% pass@1 on held-out seeds of
tools-calculator-easy; parse-error rate < 5% on the tools, code and planning env configs evaluated.
Prints a table and writes benchmarks/results/sft_tiny.json (machine, versions, config, numbers, verdicts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine  # noqa: E402  (benchmarks/ is the script directory)

EASIEST_TOOL_ENV = "tools-calculator-easy"
TARGET_PASS = 0.5
TARGET_PARSE_ERRORS = 0.05
TARGET_TRAIN_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "sft-tiny.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sft_tiny.json"))
    parser.add_argument("overrides", nargs="*", help="dotted.key=value config overrides")
    args = parser.parse_args()

    import torch

    from rl.config.loader import load_config
    from sft.trainer import run_sft

    work = Path(tempfile.mkdtemp(prefix="agentrl-sft-bench-"))
    cfg = load_config(args.config, [f"run.output_dir={work}", *args.overrides])
    t0 = time.perf_counter()
    result = run_sft(cfg)
    total_s = time.perf_counter() - t0

    after = result.eval["after"]
    before = result.eval.get("before", {})
    families = {f: m["parse_error_rate"] for f, m in after["families"].items()}
    calc = after["envs"].get(EASIEST_TOOL_ENV, {}).get("pass@1")
    verdicts = {
        f"{EASIEST_TOOL_ENV} pass@1 >= {TARGET_PASS}": calc is not None and calc >= TARGET_PASS,
        f"parse-error rate < {TARGET_PARSE_ERRORS} on every family": all(
            v < TARGET_PARSE_ERRORS for v in families.values()
        ),
        f"SFT wall time <= {TARGET_TRAIN_S:.0f}s": result.train_s <= TARGET_TRAIN_S,
    }
    report = {
        "benchmark": "sft_tiny",
        "machine": {**machine(), "torch_threads": torch.get_num_threads()},
        "config": json.loads(json.dumps(cfg.model_dump(mode="json"))),
        "steps": result.steps,
        "phases": result.phases,
        "train_s": round(result.train_s, 1),
        "total_s": round(total_s, 1),
        "first_loss": result.losses[0] if result.losses else None,
        "last_loss": result.losses[-1] if result.losses else None,
        "data": result.data_report,
        "before": {k: before.get(k) for k in ("envs", "families")} if before else None,
        "after": {k: after[k] for k in ("envs", "families")},
        "after_examples": after.get("examples"),
        "verdicts": verdicts,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(
        "".join(f"\ncurriculum phase {p['name']}: {p['steps']} steps in {p['train_s']:.0f}s" for p in result.phases)
        + f"\nSFT: {result.steps} steps in {result.train_s:.0f}s (loss {report['first_loss']:.3f} -> "
        f"{report['last_loss']:.3f}); run folder {result.folder}"
    )
    print(f"{'env':28s} {'pass@1 before':>14s} {'pass@1 after':>13s} {'reward after':>13s} {'parse err after':>16s}")
    for env_id, m in after["envs"].items():
        b = before.get("envs", {}).get(env_id, {}).get("pass@1") if before else None
        b_txt = f"{b:.2f}" if b is not None else "-"
        print(
            f"{env_id:28s} {b_txt:>14s} {m['pass@1']:>13.2f} {m['mean_reward']:>13.2f} {m['parse_error_rate']:>16.1%}"
        )
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
