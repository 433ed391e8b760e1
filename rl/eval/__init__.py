"""Evaluation of checkpoints on held-out seeds through the rollout path: pass@1, pass@k, reward, turns,
parse errors and tokens per env config and family, with side-by-side reports and transcripts.

    from rl.eval import evaluate, write_report
    result = evaluate("runs/sft/checkpoint", ["tools"], range(1_000_000, 1_000_016), n=4, k=2)
    write_report({"sft": result}, "runs/eval-sft")

Modules: `metrics` (pass@k, intervals, paired differences, summaries), `config` (the `eval` config section),
`runner` (`evaluate`, `evaluate_checkpoints`), `checkpoints` (what counts as a checkpoint), `report` (JSON,
markdown, PNG), `transcripts` (JSONL, rendering).
Heavy imports (Ray, torch, matplotlib) happen inside the functions that need them.
"""

from rl.eval.config import HELD_OUT_SEED_OFFSET, EvalConfig
from rl.eval.metrics import Episode, normal_interval, paired_difference, pass_at_k, summarize, wilson_interval
from rl.eval.report import ReportFiles, write_report
from rl.eval.runner import EvalResult, GroupRunner, build_result, evaluate, evaluate_checkpoints, evaluate_config

__all__ = [
    "HELD_OUT_SEED_OFFSET",
    "Episode",
    "EvalConfig",
    "EvalResult",
    "GroupRunner",
    "ReportFiles",
    "build_result",
    "evaluate",
    "evaluate_checkpoints",
    "evaluate_config",
    "normal_interval",
    "paired_difference",
    "pass_at_k",
    "summarize",
    "wilson_interval",
    "write_report",
]
