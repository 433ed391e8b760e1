"""Training curves: the rolling mean, and the PNG drawn from metrics.jsonl records."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.plots import ROLLING, draw_reward, reward_envs, rolling_mean, training_curves


def test_rolling_mean_is_a_trailing_window() -> None:
    assert rolling_mean([1.0, 3.0, 5.0, 7.0], window=2) == [1.0, 2.0, 4.0, 6.0]
    assert rolling_mean([4.0, 0.0, 2.0], window=5) == [4.0, 2.0, 2.0]
    assert rolling_mean([]) == []


def _records() -> list[dict]:
    out = []
    for step in range(1, 8):
        rec = {
            "step": step,
            "reward/mean": 0.1 * step,
            "reward/code-fn-easy": 0.1 * step,
            "success_rate": 0.1 * step,
            "kl": 0.01 * step,
            "entropy": 0.5,
            "clip_fraction": 0.0,
            "staleness/mean": 0.5,
            "staleness/max": 1,
            "time/step_s": 2.0,
            "time/train_s": 1.0,
        }
        out.append(rec)
        if step % 3 == 0:  # eval scalars are written as their own record of the same step
            out.append({"step": step, "eval/all/pass@1": 0.2, "eval/code-fn-easy/pass@1": 0.3})
    return out


def test_training_curves_write_a_png(tmp_path: Path) -> None:
    path = training_curves(_records(), tmp_path / "plots" / "curves.png")
    assert path == tmp_path / "plots" / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_training_curves_refuse_records_without_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reward/mean"):
        training_curves([{"step": 1, "eval/all/pass@1": 0.5}], tmp_path / "x.png")


def test_draw_reward_draws_a_rolling_line_per_env_and_the_mean() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [{"step": s, "reward/mean": 0.5, "reward/std": 0.1, "reward/a": float(s % 2)} for s in range(1, 121)]
    records += [{"step": s, "reward/b": 1.0} for s in range(1, 121, 8)] + [{"step": 3, "eval/all/pass@1": 0.2}]
    assert reward_envs(records) == ["a", "b"]
    fig, ax = plt.subplots()
    window = draw_reward(ax, records)
    assert window == 12 and ROLLING < 12  # a tenth of the 120 steps
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a", "b", "all envs"}
    assert list(lines["a"].get_ydata())[-1] == 0.5  # 12 alternating 0/1 rewards
    assert len(lines["b"].get_xdata()) == 15 and set(lines["all envs"].get_ydata()) == {0.5}
    fig, ax = plt.subplots()
    assert draw_reward(ax, records[:20]) == ROLLING
    plt.close("all")
