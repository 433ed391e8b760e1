"""The tree is ruff-clean (lint and format), so style drift fails CI rather than review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(repo: Path, args: list[str]) -> None:
    res = subprocess.run([str(RUFF), *args], cwd=repo, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
