"""Bad user input stops at once: one message naming the problem, exit code 2, nothing started or written over."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rl.cli import app

runner = CliRunner()


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(f"run: {{output_dir: {tmp_path / 'runs'}}}\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("algo: {steps: -3}\n", "algo.steps"),
        ("loss: {mask_low: 2.0, mask_high: 1.0}\n", "mask_high"),
        ("loss: {type: cispo, ratio_level: sequence}\n", "cispo"),
        ("algo: {env_mix: {no-such-env: 1.0}}\n", "no-such-env"),
        ("rollout: {engine: vllm}\npolicy: {name_or_path: nemotron-h-tiny}\n", "cannot serve"),
        ("rollout: {env_modules: [/nonexistent/envs.py]}\n", "envs.py"),
        ("policy: {name_or_path: /nonexistent/checkpoint}\n", "neither a preset"),
    ],
    ids=["bounds", "mask-bounds", "cispo-gspo", "unknown-env", "engine-fit", "env-module", "missing-checkpoint"],
)
def test_train_rejects_bad_input_before_anything_starts(tmp_path: Path, body: str, message: str) -> None:
    res = runner.invoke(app, ["train", str(_config(tmp_path, body))])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert not (tmp_path / "runs").exists()


def test_corrupt_checkpoint_directories_are_named(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{not json")
    res = runner.invoke(app, ["train", str(_config(tmp_path, f"policy: {{name_or_path: {ckpt}}}\n"))])
    assert res.exit_code == 2 and "corrupt" in res.stderr and "config.json" in res.stderr
    (ckpt / "config.json").write_text('{"model_type": "nemotron_h"}')
    res = runner.invoke(app, ["train", str(_config(tmp_path, f"policy: {{name_or_path: {ckpt}}}\n"))])
    assert res.exit_code == 2 and "no weights" in res.stderr
    res = runner.invoke(app, ["eval", str(ckpt), "--envs", "tools-kb-2hop"])
    assert res.exit_code == 2


def test_existing_run_is_not_written_over(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "run" / "checkpoints" / "step-000001"
    run.mkdir(parents=True)
    (run / "training_state.json").write_text('{"step": 1}')
    res = runner.invoke(app, ["train", str(_config(tmp_path, ""))])
    assert res.exit_code == 2 and "--resume" in res.stderr
    assert (run / "training_state.json").read_text() == '{"step": 1}'
