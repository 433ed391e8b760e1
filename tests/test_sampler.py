"""The task sampler: weighted env mix, fresh seeds, and the mix it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.config import load_config
from rl.sampler import TaskSampler


def test_describe_gives_each_envs_share_and_leaves_out_weight_zero() -> None:
    sampler = TaskSampler({"code-fn-easy": 3.0, "tools-calculator-easy": 1.0, "plan-blocksworld-3": 0.0})
    assert sampler.describe() == "code-fn-easy 75%, tools-calculator-easy 25%"
    counts = {e: 0 for e in sampler.env_ids}
    for n in range(400):
        counts[sampler.task(n).env_id] += 1
    assert counts["plan-blocksworld-3"] == 0 and 250 < counts["code-fn-easy"] < 350


def test_a_derived_config_merges_the_env_mix_and_weight_zero_drops_an_env(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    derived = tmp_path / "calc.yaml"
    derived.write_text(
        f"defaults: {root / 'configs' / 'grpo-tiny.yaml'}\nalgo:\n  env_mix: {{tools-calculator-easy: 2.0}}\n"
    )
    merged = TaskSampler(load_config(derived).algo.env_mix)
    assert "code-fn-easy" in merged.describe() and "tools-calculator-easy" in merged.describe()
    only = load_config(
        derived, [f"algo.env_mix.{e}=0" for e in ("code-fn-easy", "tools-kb-2hop", "plan-blocksworld-3")]
    )
    assert TaskSampler(only.algo.env_mix).describe() == "tools-calculator-easy 100%"


def test_negative_or_all_zero_weights_are_errors() -> None:
    with pytest.raises(ValueError, match="code-fn-easy"):
        TaskSampler({"code-fn-easy": -1.0})
    with pytest.raises(ValueError, match="positive weight"):
        TaskSampler({"code-fn-easy": 0.0})
