"""Training-health checks: the entropy-rise warning, and where the quickstart report shows it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from rl.config.loader import load_config
from rl.health import entropy_rise
from rl.pipeline import PipelineResult, _report


def trace(values: list[float]) -> list[dict[str, float]]:
    return [{"step": i + 1, "entropy": v} for i, v in enumerate(values)]


# the rollouts' mean entropy per sixth of two measured GRPO stages (docs/training.md), 20 steps per sixth
COLLAPSED = [0.115, 0.132, 0.163, 0.214, 0.291, 0.274, 0.384, 0.605, 0.693]
HEALTHY = [0.146, 0.144, 0.147, 0.148, 0.131, 0.154, 0.102, 0.083, 0.155]


def test_a_several_fold_rise_is_named_with_both_windows() -> None:
    history = trace([v for v in COLLAPSED for _ in range(20)])
    rise = entropy_rise(history)
    assert rise is not None
    assert rise.window == 18  # a tenth of 180 steps
    assert rise.first == pytest.approx(0.115) and rise.latest == pytest.approx(0.693)
    assert rise.step == 180
    msg = rise.message()
    assert "0.12" in msg and "0.69" in msg and "step 180" in msg and "loss.kl_beta" in msg and "algo.lr" in msg


def test_the_rise_is_found_as_it_happens() -> None:
    steps = [v for v in COLLAPSED for _ in range(20)]
    first = next(n for n in range(1, len(steps) + 1) if entropy_rise(trace(steps[:n])) is not None)
    assert 60 < first < 120  # once the latest window has doubled from the first and risen by 0.15


def test_healthy_runs_and_small_entropies_are_not_flagged() -> None:
    assert entropy_rise(trace([v for v in HEALTHY for _ in range(20)])) is None
    # doubling from a small entropy is below the absolute rise
    assert entropy_rise(trace([0.05] * 20 + [0.12] * 20)) is None
    # falling entropy is not a rise
    assert entropy_rise(trace([0.6] * 20 + [0.1] * 20)) is None


def test_too_few_steps_give_nothing_and_records_without_entropy_are_skipped() -> None:
    assert entropy_rise(trace([0.1] * 5 + [0.9] * 4)) is None  # two windows of 5 need 10 steps
    history = trace([0.1] * 5 + [0.9] * 5)
    assert entropy_rise(history) is not None
    with_evals = [history[0], {"step": 1, "eval/pass@1": 0.5}, *history[1:]]
    rise = entropy_rise(with_evals)
    assert rise is not None and rise.first == pytest.approx(0.1) and rise.latest == pytest.approx(0.9)


def test_the_quickstart_report_lists_the_warnings(tmp_path: Path, repo: Path) -> None:
    cfg = load_config(repo / "configs" / "quickstart.yaml")
    grpo = SimpleNamespace(engine="transformers", curves=None)
    res = PipelineResult(folder=tmp_path, checkpoints={}, seconds={"sft": 1.0}, firm_eval="agentrl eval ...")
    _report(tmp_path, cfg, grpo, res)
    assert "## Warnings" not in (tmp_path / "report.md").read_text()
    res.warnings = [entropy_rise(trace([0.1] * 5 + [0.9] * 5)).message()]
    _report(tmp_path, cfg, grpo, res)
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and "- GRPO: the policy's per-token entropy rose from 0.10" in report
    assert report.index("## Warnings") < report.index("## Time")
