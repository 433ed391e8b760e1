"""The basic family: copy drills for SFT curriculum phases."""

from __future__ import annotations

import pytest

import environments
from environments.basic.copy import CopyEnv


def test_copy_expression_rewards_exactly_the_expression_of_the_prompt() -> None:
    env = environments.make("basic-copy-expression")
    obs, info = env.reset(seed=5)
    assert info["family"] == "basic" and env.tools == []
    target = env.oracle_action()["content"]
    assert obs[0]["content"].startswith(f"Compute {target}.")
    left, op, right = target.split()
    assert op in "+-" and len(left) == len(right) == 3
    _, reward, terminated, _, info = env.step({"content": f"  {target}\n"})
    assert (reward, terminated, info["success"]) == (1.0, True, True)

    env.reset(seed=5)
    obs, reward, terminated, _, info = env.step({"content": f"{target} = 0"})
    assert (reward, terminated, info["success"]) == (0.0, True, False)
    assert "Incorrect" in obs[0]["content"]


def test_copy_env_answers_a_tool_call_with_feedback_not_a_crash() -> None:
    env = environments.make("basic-copy-numbers")
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step({"content": "", "tool_calls": [{"name": "copy", "arguments": {}}]})
    assert reward == 0.0 and terminated and "no tools" in obs[0]["content"]
    assert info["errors"] == ["tool call in a task without tools"]


def test_copy_numbers_vary_in_length_so_the_copy_cannot_be_positional() -> None:
    env = environments.make("basic-copy-numbers")
    lengths = set()
    for seed in range(20):
        env.reset(seed=seed)
        items = env.oracle_action()["content"].split()
        assert len(items) == 6 and all(i.isdigit() for i in items)
        lengths.add(sum(map(len, items)))
    assert len(lengths) > 5


def test_copy_result_is_one_signed_number_of_one_to_four_digits() -> None:
    env = environments.make("basic-copy-result")
    signs, lengths = set(), set()
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        target = env.oracle_action()["content"]
        assert obs[0]["content"] == f"Reply with {target}."
        assert target.lstrip("-").isdigit() and target.count("-") <= 1
        signs.add(target.startswith("-"))
        lengths.add(len(target.lstrip("-")))
        _, reward, *_ = env.step({"content": target})
        assert reward == 1.0
    assert signs == {True, False} and lengths == {1, 2, 3, 4}


def test_copy_env_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="template"):
        CopyEnv(template="no placeholder")
    with pytest.raises(ValueError, match="min_digits"):
        CopyEnv(digits=2, min_digits=3)
