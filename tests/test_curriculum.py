"""The learnability curriculum over task kinds: its probabilities, state, and the sampler's use of it."""

from __future__ import annotations

import numpy as np
import pytest

import environments
from rl.curriculum import KindCurriculum
from rl.sampler import TaskSampler, env_task_kinds

KINDS = {"code-fn-easy": ("a", "b", "c", "d")}


def test_probabilities_follow_p_times_one_minus_p_with_an_exploration_floor() -> None:
    cur = KindCurriculum(KINDS, explore=0.2, window=10)
    assert np.allclose(cur.probs("code-fn-easy"), 0.25)  # no episodes yet: every kind counts as p = 0.5
    cur.observe("code-fn-easy", "a", [False] * 10)  # p = 0: no signal
    cur.observe("code-fn-easy", "b", [True] * 10)  # p = 1: no signal
    cur.observe("code-fn-easy", "c", [True] * 5 + [False] * 5)  # p = 0.5: score 0.25
    cur.observe("code-fn-easy", "d", [True] + [False] * 9)  # p = 0.1: score 0.09
    p = cur.probs("code-fn-easy")
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(0.05) and p[1] == pytest.approx(0.05)  # explore / K only
    assert p[2] == pytest.approx(0.05 + 0.8 * 0.25 / 0.34) and p[3] == pytest.approx(0.05 + 0.8 * 0.09 / 0.34)
    cur.observe("code-fn-easy", "a", [True] * 5 + [False] * 5)  # the window keeps the newest 10 episodes
    assert cur.rate("code-fn-easy", "a") == 0.5
    assert np.allclose(KindCurriculum(KINDS, explore=1.0).probs("code-fn-easy"), 0.25)


def test_nothing_learnable_falls_back_to_uniform_and_unknown_envs_are_left_to_the_env() -> None:
    cur = KindCurriculum({**KINDS, "tools-calculator-easy": ()}, explore=0.0, window=4)
    for k in KINDS["code-fn-easy"]:
        cur.observe("code-fn-easy", k, [False] * 4)
    assert np.allclose(cur.probs("code-fn-easy"), 0.25)
    assert cur.choose("tools-calculator-easy", np.random.default_rng(0)) is None
    cur.observe("tools-calculator-easy", "", [True])  # ignored, not an error
    cur.observe("code-fn-easy", "zzz", [True])
    assert set(cur.metrics()) == {f"curriculum/code-fn-easy/{k}" for k in "abcd"}
    with pytest.raises(ValueError, match="explore"):
        KindCurriculum(KINDS, explore=1.5)


def test_state_round_trips_through_json_like_dicts() -> None:
    cur = KindCurriculum(KINDS, window=8)
    cur.observe("code-fn-easy", "b", [True, False, True])
    restored = KindCurriculum(KINDS, window=8)
    restored.load_state_dict(cur.state_dict())
    assert restored.rate("code-fn-easy", "b") == pytest.approx(2 / 3) and restored.rate("code-fn-easy", "a") is None
    assert np.allclose(restored.probs("code-fn-easy"), cur.probs("code-fn-easy"))


def test_the_sampler_draws_kinds_by_the_curriculum_and_the_env_plays_them() -> None:
    mix = {"code-fn-easy": 3.0, "tools-calculator-easy": 1.0}
    kinds = env_task_kinds(list(mix))
    assert kinds["tools-calculator-easy"] == () and "caesar" in kinds["code-fn-easy"]
    cur = KindCurriculum(kinds, explore=0.1, window=16)
    for k in kinds["code-fn-easy"]:
        cur.observe("code-fn-easy", k, [k == "digit_sum"] * 8 + [False] * 8)  # only digit_sum is learnable
    sampler = TaskSampler(mix, seed=3, curriculum=cur)
    tasks = [sampler.task(n) for n in range(400)]
    code = [t for t in tasks if t.env_id == "code-fn-easy"]
    share = sum(t.task_kind == "digit_sum" for t in code) / len(code)
    assert 0.8 < share < 0.98  # 0.1 / 6 + 0.9
    assert all(t.task_kind is None and t.options is None for t in tasks if t.env_id != "code-fn-easy")
    env = environments.make("code-fn-easy")
    for t in code[:5]:
        assert env.reset(seed=t.seed, options=t.options)[1]["task_kind"] == t.task_kind
    plain = TaskSampler(mix, seed=3)  # without a curriculum: the same envs and seeds, kinds left to the env
    assert [(t.env_id, t.seed) for t in tasks] == [(t.env_id, t.seed) for t in map(plain.task, range(400))]
