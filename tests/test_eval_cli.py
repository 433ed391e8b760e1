"""`agentrl eval` end to end with Ray rollout workers and the transformers engine: two random-init preset
checkpoints side by side (JSON, markdown, PNG, transcripts, `eval show`), bad arguments failing fast with exit
code 2, `evaluate` reusing a running RolloutPool deterministically, and `evaluate_checkpoints` playing several
checkpoints on one pool exactly as a pool of each would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from rl.cli import app
from rl.eval import evaluate
from rl.eval.runner import evaluate_checkpoints
from rollout.config import RolloutConfig
from rollout.pool import RolloutPool

runner = CliRunner()
ENVS = "tools-calculator-easy,plan-maze-5"
SMALL = ["--n", "2", "--k", "2", "--num-seeds", "2", "--max-new-tokens", "12", "--max-total-tokens", "1200"]


def test_missing_checkpoint_fails_fast(tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", str(tmp_path / "nope"), "nemotron-h-tiny", "--envs", "tools"])
    assert res.exit_code == 2
    assert "does not exist" in res.output and "nope" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["eval", str(tmp_path / "empty"), "--envs", "tools"])
    assert res.exit_code == 2 and "no config.json" in res.output


def test_unknown_env_fails_fast(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["eval", "nemotron-h-tiny", "--envs", "tools-kb-2hop,tools-kb-9hop", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2
    assert "unknown environment id 'tools-kb-9hop'" in res.output
    assert not (tmp_path / "checkpoints").exists()  # nothing heavy started
    res = runner.invoke(app, ["eval", "nemotron-h-tiny", "--envs", "tools", "--n", "2", "--k", "3"])
    assert res.exit_code == 2 and "k (3) must be <= n (2)" in res.output


ARGS = ["eval", "nemotron-h-tiny", "granite-hybrid-tiny", "--envs", ENVS, *SMALL]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `agentrl eval` run of two random-init presets (Ray workers, transformers engine)."""
    out = tmp_path_factory.mktemp("eval") / "run"
    ray.shutdown()  # whatever an earlier module left running: the command starts (and stops) its own
    res = runner.invoke(app, [*ARGS, "--engine", "transformers", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not ray.is_initialized()  # the command shut down the Ray instance it started
    return out


def test_two_checkpoints_side_by_side(cli_run: Path) -> None:
    out = cli_run

    data = json.loads((out / "results.json").read_text())
    names = [c["name"] for c in data["checkpoints"]]
    assert names == ["nemotron-h-tiny", "granite-hybrid-tiny"]
    metrics = {
        "pass@1", "pass@k", "success_rate", "success_ci95", "mean_reward", "reward_ci95", "reward_components",
        "mean_turns", "parse_error_rate", "tokens_per_episode", "episodes", "tasks",
    }  # fmt: skip
    for c in data["checkpoints"]:
        assert c["n"] == 2 and c["k"] == 2 and c["seeds"] == [1_000_000, 1_000_001]
        assert {e["engine"] for e in c["engines"]} == {"transformers"}
        assert set(c["envs"]) == {"tools-calculator-easy", "plan-maze-5"}
        assert set(c["families"]) == {"tools", "planning"}
        for m in [*c["envs"].values(), *c["families"].values(), c["overall"]]:
            assert metrics <= set(m)
        assert all(m["episodes"] == 4 and m["tasks"] == 2 for m in c["envs"].values())
        assert 0 <= c["overall"]["success_ci95"][0] <= c["overall"]["pass@1"] <= c["overall"]["success_ci95"][1]

    md = (out / "report.md").read_text()
    for name in names:
        for col in ("pass@1 [95% CI]", "pass@2", "reward", "turns", "parse err", "tokens"):
            assert f"{name}: {col}" in md
    assert "| plan-maze-5 | planning |" in md and "**tools** (all)" in md
    for fam in ("tools", "planning"):
        assert (out / "plots" / f"{fam}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in names:
        for env in ENVS.split(","):
            rows = [json.loads(x) for x in (out / "transcripts" / name / f"{env}.jsonl").read_text().splitlines()]
            assert [(r["seed"], r["sample"]) for r in rows] == [(s, i) for s in (1_000_000, 1_000_001) for i in (0, 1)]
            assert all(r["messages"] and r["tools"] is not None and "reward" in r for r in rows)

    res = runner.invoke(
        app, ["eval", "show", str(out), "--env", "tools-calculator-easy", "--seed", "1000001", "--sample", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "tools-calculator-easy" in res.output and "seed 1000001 sample 1" in res.output
    assert "user" in res.output and "assistant" in res.output and "reward" in res.output
    assert "tool calculate" in res.output  # the tool specs
    res = runner.invoke(app, ["eval", "show", str(out), "--env", "plan-maze-5", "--seed", "3", "--checkpoint", "x"])
    assert res.exit_code == 2 and "no checkpoint 'x'" in res.output
    res = runner.invoke(app, [*ARGS, "--out", str(out)])
    assert res.exit_code == 2 and "--force" in res.output  # no silent overwrite


@pytest.fixture()
def ray_local():
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_evaluate_reuses_a_running_pool(cli_run: Path, ray_local) -> None:
    cfg = RolloutConfig(workers=1, max_concurrent_episodes=1, engine="transformers")
    pool = RolloutPool(cli_run / "checkpoints" / "nemotron-h-tiny", cfg)  # the preset the CLI wrote
    try:
        kw = {"sampling": {"max_new_tokens": 10, "max_total_tokens": 1000, "temperature": 1.0}, "name": "live"}
        first = evaluate(pool, ["plan-maze-5"], [1_000_000, 1_000_001], 2, 1, cfg, **kw)
        again = evaluate(pool, ["plan-maze-5"], [1_000_000, 1_000_001], 2, 1, cfg, **kw)
        assert pool.in_flight == 0 and first.policy_versions == [0]
        assert [e.messages for e in first.episodes] == [e.messages for e in again.episodes]  # same seeds, same text
        assert first.envs["plan-maze-5"]["episodes"] == 4
    finally:
        pool.shutdown()


def _perturbed_copy(src: Path, dst: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM

    shutil.copytree(src, dst)
    model = AutoModelForCausalLM.from_pretrained(src, local_files_only=True)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    model.save_pretrained(dst)
    return dst


def test_evaluate_checkpoints_on_one_pool_matches_a_pool_per_checkpoint(cli_run: Path, tmp_path: Path) -> None:
    ray.shutdown()
    a = cli_run / "checkpoints" / "nemotron-h-tiny"
    b = _perturbed_copy(a, tmp_path / "perturbed")
    cfg = RolloutConfig(workers=1, max_concurrent_episodes=1, engine="transformers")  # seeded, repeatable
    kw = {"sampling": {"max_new_tokens": 10, "max_total_tokens": 1000, "temperature": 1.0}}
    both = evaluate_checkpoints({"a": a, "b": b}, ["plan-maze-5"], [1_000_000, 1_000_001], 2, 1, cfg, **kw)
    assert not ray.is_initialized()  # it shut down the Ray instance it started
    assert list(both) == ["a", "b"] and both["b"].checkpoint == str(b) and both["b"].name == "b"
    assert both["a"].policy_versions == [0] and both["b"].policy_versions == [1]
    alone = evaluate(str(b), ["plan-maze-5"], [1_000_000, 1_000_001], 2, 1, cfg, **kw)  # a pool of its own
    assert [e.messages for e in both["b"].episodes] == [e.messages for e in alone.episodes]
    assert [e.messages for e in both["a"].episodes] != [e.messages for e in both["b"].episodes]  # b's weights played

    granite = cli_run / "checkpoints" / "granite-hybrid-tiny"
    with pytest.raises(ValueError, match="granite-hybrid-tiny: its weights differ"):
        evaluate_checkpoints({"a": a, "g": granite}, ["plan-maze-5"], [1_000_000], 1, 1, cfg, **kw)
    assert not ray.is_initialized()  # refused before anything started
