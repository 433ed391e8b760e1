"""The `agentrl` console script: versions, doctor, init-policy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rl.cli import app

runner = CliRunner()


def test_version_names_the_stack() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    for word in ("agentrl", "torch", "transformers", "ray", "vllm", "python"):
        assert word in res.stdout


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "agentrl"
    assert exe.exists()
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "doctor" in res.stdout and "model-info" in res.stdout


def test_doctor_reports_versions_device_and_sandbox() -> None:
    res = runner.invoke(app, ["doctor", "--json"])
    data = json.loads(res.stdout)
    versions = data["versions"]
    for key in ("python", "torch", "transformers", "ray", "vllm build", "device", "bubblewrap"):
        assert key in versions
    assert versions["device"] in ("CPU only",) or versions["device"].startswith("CUDA")
    assert ("missing" in versions["bubblewrap"]) == (shutil.which("bwrap") is None)
    assert res.exit_code == (1 if data["problems"] else 0)


def test_init_policy_writes_a_checkpoint_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    res = runner.invoke(app, ["init-policy", "granite-hybrid-tiny", str(out), "--init-seed", "3"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "agentrl_policy.json").read_text())
    assert meta == {"init_seed": 3, "preset": "granite-hybrid-tiny"}
    before = (out / "model.safetensors").read_bytes()
    again = runner.invoke(app, ["init-policy", "granite-hybrid-tiny", str(out)])
    assert again.exit_code == 2 and "not empty" in again.stderr
    assert (out / "model.safetensors").read_bytes() == before
    unknown = runner.invoke(app, ["init-policy", "llama-9000", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "llama-9000" in unknown.stderr and not (tmp_path / "x").exists()


def test_envs_list_json() -> None:
    res = runner.invoke(app, ["envs", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    calc = next(r for r in rows if r["id"] == "tools-calculator-easy")
    assert calc["family"] == "tools" and calc["tools"] == ["calculate"] and calc["max_turns"] == 4
    bad = runner.invoke(app, ["envs", "list", "--family", "poetry"])
    assert bad.exit_code == 2 and "poetry" in bad.stderr


def test_envs_check_exit_codes() -> None:
    ok = runner.invoke(app, ["envs", "check", "tools-kb-2hop", "--seeds", "2"])
    assert ok.exit_code == 0 and "1/1 env configs pass" in ok.stdout
    unknown = runner.invoke(app, ["envs", "check", "tools-kb-2hopp"])
    assert unknown.exit_code == 2 and "did you mean tools-kb-2hop" in unknown.stderr


def test_envs_play_with_typed_tool_calls_and_the_oracle() -> None:
    typed = 'call lookup {"entity": "nobody", "relation": "employer"}\nlet me see\n/quit\n'
    res = runner.invoke(app, ["envs", "play", "tools-kb-2hop", "--seed", "1"], input=typed)
    assert res.exit_code == 0, res.output
    assert "no fact about 'employer' of 'nobody'" in res.stdout
    oracle = runner.invoke(app, ["envs", "play", "tools-kb-2hop", "--seed", "1"], input="/oracle\n" * 3)
    assert "episode over (terminated): success, reward 1" in oracle.stdout
