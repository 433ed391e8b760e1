"""Shared fixtures. Tests marked `gpu` are deselected when no CUDA device is present (they cannot run here);
`vllm` tests run on the CPU build of vLLM and are part of the default run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# vLLM's engine core in-process: no spawned child that re-imports the test module, faster start.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    selected, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("gpu") else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def saved_policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both presets saved (random init, seed 0) as Hugging Face checkpoint directories."""
    from rl.policy.build import load_policy, save_policy
    from rl.policy.config import PolicyConfig
    from rl.policy.presets import PRESETS

    root = tmp_path_factory.mktemp("policies")
    out = {}
    for name in PRESETS:
        model, tok = load_policy(PolicyConfig(name_or_path=name))
        out[name] = save_policy(model, tok, root / name, metadata={"preset": name, "init_seed": 0})
    return out
