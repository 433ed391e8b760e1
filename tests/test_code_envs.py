"""The code family: registration, oracle solvability, scoring, repair feedback, determinism and robustness."""

from __future__ import annotations

import numpy as np
import pytest

import environments
from environments.code import sandbox as sandbox_mod
from environments.code.envs import CodeFunctionEnv, CodeRepairEnv, extract_code
from environments.code.sandbox import Sandbox
from environments.code.tasks import DIFFICULTIES, build_task, make_task, templates, values_equal
from environments.spaces import AssistantAction

CODE_IDS = [s.id for s in environments.list_envs("code") if str(s.entry_point).startswith("environments.code.")]
needs_sandbox = pytest.mark.skipif(
    Sandbox().mode()[0] != "bwrap", reason="bubblewrap cannot create a sandbox on this machine"
)


def _code(body: str) -> str:
    return f"Here you go:\n```python\n{body}\n```"


def test_code_configs_are_registered() -> None:
    assert len(CODE_IDS) >= 6
    assert {"code-fn-easy", "code-fn-medium", "code-fn-hard"} <= set(CODE_IDS)
    assert {"code-repair-easy", "code-repair-medium", "code-repair-hard"} <= set(CODE_IDS)
    for env_id in CODE_IDS:
        s = environments.spec(env_id)
        assert env_id.startswith("code-") and s.family == "code" and s.description
        assert "max_turns" in s.kwargs and s.kwargs["difficulty"] in DIFFICULTIES


def test_template_bank() -> None:
    assert len(templates()) >= 12
    for level in DIFFICULTIES:
        assert len(templates(level)) >= 4
    for name in templates():
        task = build_task(name, np.random.default_rng(0), "hard")
        assert len(task.visible) == 3 and len(task.hidden) >= 5
        assert task.func_name in task.signature and task.func_name in task.reference
        assert all(not values_equal(c.expected, object()) for c in task.hidden)


def test_task_parameters_vary_with_the_seed() -> None:
    prompts = {make_task(np.random.default_rng(s), "easy", "sum_multiples").description for s in range(8)}
    assert len(prompts) > 1


def test_task_kinds_are_the_templates_and_a_reset_option_picks_one() -> None:
    env = environments.make("code-fn-easy")
    kinds = env.unwrapped.task_kinds()
    assert kinds == tuple(templates("easy"))
    drawn = {env.reset(seed=s)[1]["task_kind"] for s in range(40)}
    assert drawn == set(kinds)  # without the option the env draws every kind
    for kind in kinds:
        obs, info = env.reset(seed=5, options={"task_kind": kind})
        assert info["task_kind"] == kind == env.unwrapped.task.template
        assert f"def {env.unwrapped.task.func_name}(" in obs[0]["content"]
    with pytest.raises(ValueError, match="task_kind='fizzbuzz' is not one of its kinds .*caesar"):
        env.reset(seed=5, options={"task_kind": "fizzbuzz"})  # a medium template, not an easy one
    pinned = CodeFunctionEnv(difficulty="medium", template="fizzbuzz")
    assert pinned.task_kinds() == ("fizzbuzz",) and pinned.reset(seed=1)[1]["task_kind"] == "fizzbuzz"
    assert environments.make("tools-calculator-easy").reset(seed=1)[1]["task_kind"] == ""


@needs_sandbox
@pytest.mark.parametrize("env_id", CODE_IDS)
def test_oracle_solves_every_config(env_id: str) -> None:
    env = environments.make(env_id)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert info["family"] == "code" and "```python" in obs[0]["content"]
        action = env.oracle_action()
        assert action["content"].startswith("Here is") and "```python\n" in action["content"]
        _, reward, terminated, truncated, info = env.step(action)
        assert (reward, terminated, truncated) == (1.0, True, False), info
        assert info["success"] and info["reward_components"]["hidden_pass_fraction"] == 1.0
        assert "env_error" not in info


@needs_sandbox
def test_oracle_solves_every_template() -> None:
    for name in templates():
        level = next(lvl for lvl in DIFFICULTIES if name in templates(lvl))
        env = CodeFunctionEnv(difficulty=level, template=name)
        env.reset(seed=11)
        _, reward, terminated, _, info = env.step(env.oracle_action())
        assert reward == 1.0 and terminated and info["success"], (name, info)


@needs_sandbox
def test_broken_solution_scores_zero() -> None:
    env = environments.make("code-fn-medium")
    env.reset(seed=5)
    signature = env.task.signature
    obs, reward, terminated, truncated, info = env.step(_code(f"{signature}:\n    return '<wrong>'"))
    assert (reward, terminated) == (0.0, True)
    assert not info["success"]
    assert info["reward_components"]["hidden_pass_fraction"] == 0.0
    assert "hidden tests passed" in obs[0]["content"]


@needs_sandbox
def test_partial_credit_is_a_component_not_the_reward() -> None:
    env = CodeFunctionEnv(difficulty="easy", template="sum_multiples")
    env.reset(seed=2)
    task = env.task
    first = task.hidden[0]
    # right on exactly one hidden input, wrong everywhere else
    body = task.reference.replace("def sum_multiples", "def _ref") + (
        f"\ndef sum_multiples(n):\n    return _ref(n) if n == {first.args[0]!r} else -1\n"
    )
    _, reward, terminated, _, info = env.step(_code(body))
    frac = info["reward_components"]["hidden_pass_fraction"]
    assert terminated and reward == 0.0 and not info["success"]
    assert frac == pytest.approx(sum(c.args == first.args for c in task.hidden) / len(task.hidden))
    assert 0.0 < frac < 1.0


@needs_sandbox
def test_repair_returns_failure_details_then_accepts_a_fix() -> None:
    env = environments.make("code-repair-easy")
    env.reset(seed=1)
    task = env.task
    v0, v1 = task.visible[0], task.visible[1]
    # hangs on the first example, raises on the second, returns a wrong value otherwise
    broken = (
        f"def {task.func_name}(*args):\n"
        f"    if list(args) == {list(v0.args)!r}:\n"
        "        while True:\n"
        "            pass\n"
        f"    if list(args) == {list(v1.args)!r}:\n"
        "        raise ValueError('boom')\n"
        "    return 'wrong'\n"
    )
    obs, reward, terminated, truncated, info = env.step(_code(broken))
    text = obs[0]["content"]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "3 of 3 example tests failed" in text
    assert f"{v0.call(task.func_name)}: timed out" in text
    assert "raised ValueError: boom" in text
    assert f"expected {task.visible[2].expected!r}, got 'wrong'" in text
    assert info["reward_components"]["visible_pass_fraction"] == 0.0

    obs, reward, terminated, truncated, info = env.step(env.oracle_action())
    assert env.oracle_action()["content"].startswith("Here is the corrected function")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["success"] and info["turn"] == 2


@needs_sandbox
def test_repair_passing_examples_but_failing_hidden_ends_with_zero() -> None:
    env = CodeRepairEnv(difficulty="easy", template="digit_sum")
    env.reset(seed=0)
    task = env.task
    table = {repr(c.args[0]): c.expected for c in task.visible}
    body = f"def digit_sum(n):\n    return {table!r}.get(repr(n), -1)\n"  # memorises the examples only
    _, reward, terminated, _, info = env.step(_code(body))
    assert terminated and reward == 0.0 and not info["success"]
    assert info["reward_components"]["visible_pass_fraction"] == 1.0
    assert info["reward_components"]["hidden_pass_fraction"] < 1.0


@needs_sandbox
def test_repair_truncates_at_max_turns() -> None:
    env = environments.make("code-repair-medium", max_turns=2)
    env.reset(seed=0)
    bad = _code(f"{env.task.signature}:\n    return None")
    assert env.step(bad)[2:4] == (False, False)
    _, reward, terminated, truncated, _ = env.step(bad)
    assert (reward, terminated, truncated) == (0.0, False, True)


@needs_sandbox
def test_determinism_per_seed() -> None:
    for env_id in ("code-fn-hard", "code-repair-medium"):
        a, b = environments.make(env_id), environments.make(env_id)
        obs_a, _ = a.reset(seed=7)
        obs_b, _ = b.reset(seed=7)
        assert obs_a == obs_b and a.task == b.task and a.oracle_action() == b.oracle_action()
        wrong = _code(f"{a.task.signature}:\n    return 0")
        step_a, step_b = a.step(wrong), b.step(wrong)
        assert step_a[:4] == step_b[:4] and step_a[4]["reward_components"] == step_b[4]["reward_components"]
    seen = {environments.make("code-fn-medium").reset(seed=s)[0][0]["content"] for s in range(6)}
    assert len(seen) > 1


def test_extract_code() -> None:
    assert extract_code("text\n```python\ndef f():\n    return 1\n```\nmore") == "def f():\n    return 1\n"
    assert extract_code("```py\nx = 1\n```\n```python\nx = 2\n```") == "x = 2\n"
    assert extract_code("```\nx = 3\n```") == "x = 3\n"
    assert extract_code("```python\nx = 4\n") == "x = 4\n"  # an unclosed block (cut-off generation)
    assert extract_code("no code here") is None
    assert extract_code("```json\n{}\n```") is None


GARBAGE: list = [
    "",
    "hello there",
    {"content": None},
    {"content": 5},
    ["not", "a", "dict"],
    {"content": "x", "tool_calls": [{"name": "no_such_tool", "arguments": {"a": 1}}]},
    {"content": "x", "tool_calls": "nope"},
    {"content": "call", "parse_errors": ["invalid JSON"]},
    "```python\n" + "x = 1\n" * 20_000 + "```",
    "z" * 200_000,
    "```python\n\ud800\x00 def f(): pass\n```",
    "```python\n🙂 = 1\u200b\n```",
    "```python\n```",
    "```python\nwhile True:\n    print('x' * 10000)\n```",
    "```python\nimport os\nwhile True:\n    os.write(1, b'x' * 10000)\n```",
    "```python\nimport sys\nsys.exit(0)\n```",
    "```python\nimport os\nos._exit(0)\n```",
    "```python\nx = bytearray(10**11)\n```",
    "```python\nimport sys\nsys.setrecursionlimit(10**6)\ndef f():\n    return f()\nf()\n```",
]


@needs_sandbox
@pytest.mark.parametrize("env_id", ["code-fn-easy", "code-repair-hard"])
def test_garbage_actions_never_raise(env_id: str) -> None:
    env = environments.make(env_id, max_turns=100)
    env.reset(seed=3)
    fn = env.task.func_name
    actions = [
        *GARBAGE,
        _code(f"def {fn}(*a):\n    import os\n    os._exit(0)"),
        _code(f"def {fn}(*a):\n    return 10**100000"),
        _code(f"def {fn}(*a):\n    return object()"),
        _code(f"def {fn}(*a):\n    import sys\n    sys.exit(0)"),
    ]
    space = AssistantAction(seed=0)
    actions += [space.sample() for _ in range(10)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == 0.0, action
        assert "env_error" not in info, (action, info)
        assert not info["success"]
        assert obs and all(m["role"] == "user" and m["content"].strip() for m in obs)
        assert env.observation_space.contains(obs)
        if terminated:  # the fn env ends on its first real submission; keep probing a fresh episode
            env.reset(seed=3)


@needs_sandbox
def test_fn_env_feedback_without_code_block_then_solves() -> None:
    env = environments.make("code-fn-easy")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("I think the answer is 42.")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "No code block" in obs[0]["content"] and info["errors"]
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and terminated and info["success"]


def test_env_without_sandbox_reports_an_env_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_mod, "find_bwrap", lambda name="bwrap": None)
    env = environments.make("code-fn-easy")
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(env.oracle_action())
    assert reward == 0.0 and "unsafe_local" in info["env_error"]
    env = environments.make("code-fn-easy", sandbox={"unsafe_local": True})
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and terminated and info["success"]


def test_gymnasium_make_and_render() -> None:
    import gymnasium

    env = gymnasium.make("agentrl/code-fn-easy", render_mode="ansi", disable_env_checker=True)
    obs, _ = env.reset(seed=0)
    assert "[user]" in env.render() and obs[0]["role"] == "user"
