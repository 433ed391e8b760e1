"""The main job end to end, shortened (few SFT seconds, two GRPO steps, a small eval), for both shipped pipeline
configs: nemotron-h-tiny on the transformers engine and granite-hybrid-tiny on real vLLM workers."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from rl.cli import app
from rl.pipeline import FIRM_SEEDS

pytestmark = pytest.mark.slow
SHORT = [
    "sft.time_budget_s=10",
    "sft.examples=32",
    "sft.demos_per_env=16",
    "sft.envs=[{id: tools-calculator-easy}]",
    "sft.curriculum=[{name: copy, envs: [{id: basic-copy-expression, demos: 16}], max_steps: 2}]",
    "algo.steps=2",
    "algo.groups_per_step=2",
    "algo.checkpoint_every=0",
    "algo.dynamic_sampling=false",
    "algo.replay.demos=8",
    "rollout.group_size=2",
    "rollout.sampling.max_new_tokens=16",
    "rollout.sampling.max_total_tokens=800",
    "eval.envs=[tools-calculator-easy, plan-blocksworld-3]",
    "eval.num_seeds=2",
    "eval.n=1",
    "eval.k=1",
]


@pytest.fixture(autouse=True)
def _fresh_ray():
    ray.shutdown()
    yield
    ray.shutdown()


@pytest.mark.parametrize(
    "config", ["quickstart.yaml", pytest.param("quickstart-granite-vllm.yaml", marks=pytest.mark.vllm)]
)
def test_pipeline_end_to_end(config: str, tmp_path: Path, repo: Path) -> None:
    res = CliRunner().invoke(
        app, ["quickstart", str(repo / "configs" / config), *SHORT, f"run.output_dir={tmp_path}", "--no-progress"]
    )
    assert res.exit_code == 0, res.output[-3000:]
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["pass1"]) == {"random init", "SFT", "RL"}
    assert set(summary["pass1"]["RL"]) == {"tools", "planning"}
    change = summary["rl_minus_sft"]
    assert set(change) == {"tools", "planning"} and change["tools"]["tasks"] == 2  # eval.num_seeds=2, one env
    for fam, c in change.items():
        lo, hi = c["ci95"]
        assert lo <= c["difference"] <= hi
        assert c["difference"] == pytest.approx(summary["pass1"]["RL"][fam] - summary["pass1"]["SFT"][fam])
    expected_engine = "vllm" if "vllm" in config else "transformers"
    assert summary["engine"].startswith(expected_engine)
    for name in ("reward_vs_step", "pass1_per_family", "staleness", "time_breakdown"):
        assert (folder / "plots" / f"{name}.png").stat().st_size > 1000
    report = (folder / "report.md").read_text()
    assert "| tools |" in report and "random init" in report and "RL - SFT" in report
    assert summary["warnings"] == [] and "## Warnings" not in report  # two steps are too few to judge health
    assert (folder / "grpo" / "plots" / "training_curves.png").stat().st_size > 1000
    assert "](grpo/plots/training_curves.png)" in report
    assert (folder / "eval" / "report.md").is_file()
    steps = [json.loads(line) for line in (folder / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["replay/nll"] > 0 for r in steps if "time/train_s" in r)  # the shipped SFT-data replay ran
    assert (folder / "sft" / "checkpoint" / "config.json").is_file()
    assert (folder / "sft" / "phases" / "copy" / "metrics.jsonl").is_file()  # the curriculum ran first
    assert "held-out pass@1 per family" in res.stdout
    # the report's firmer evaluation is a command that runs as written (here on 2 seeds, not FIRM_SEEDS)
    cmd = summary["firm_eval_command"]
    assert f"--num-seeds {FIRM_SEEDS}" in cmd and cmd in report and cmd in res.stdout.replace("\n", "")
    if "vllm" not in config:
        args = shlex.split(cmd.replace(f"--num-seeds {FIRM_SEEDS}", "--num-seeds 2"))
        assert args[:2] == ["agentrl", "eval"]
        firm = CliRunner().invoke(app, args[1:])
        assert firm.exit_code == 0, firm.output[-3000:]
        results = json.loads((folder / f"eval-{FIRM_SEEDS}" / "results.json").read_text())
        assert [c["name"] for c in results["checkpoints"]] == ["SFT", "RL"]
        assert results["checkpoints"][0]["seeds"] == [1_000_000, 1_000_001]
        assert set(results["changes_from_first"]["RL"]["families"]) == {"tools", "planning"}


def test_quickstart_refuses_a_used_run_folder(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "quickstart").mkdir()
    (tmp_path / "quickstart" / "keep.txt").write_text("mine")
    res = CliRunner().invoke(
        app, ["quickstart", str(repo / "configs" / "quickstart.yaml"), f"run.output_dir={tmp_path}"]
    )
    assert res.exit_code == 2 and "not empty" in res.stderr
    assert (tmp_path / "quickstart" / "keep.txt").read_text() == "mine"
