"""The environment API, registry, gymnasium mirroring, plugins and the checker's ability to fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

import environments
from environments import Action, AgentEnv, Outcome, register, user
from environments.base import MAX_ACTION_CHARS


@pytest.fixture(autouse=True)
def _forget_test_envs():
    """Env configs registered by a test do not outlive it (other modules iterate over the registry)."""
    before = {s.id for s in environments.list_envs()}
    yield
    for s in environments.list_envs():
        if s.id not in before:
            environments.unregister(s.id)


def test_at_least_21_configs_and_5_per_family() -> None:
    specs = environments.list_envs()
    assert len(specs) >= 21
    for family in ("tools", "code", "planning"):
        assert len(environments.list_envs(family)) >= 5, family


def test_gymnasium_make_works_for_every_config() -> None:
    for s in environments.list_envs():
        env = gymnasium.make(f"agentrl/{s.id}")
        obs, info = env.reset(seed=0)
        assert isinstance(obs, list) and obs and "tools" in info
        assert isinstance(env.unwrapped, AgentEnv)


def test_make_applies_overrides_and_unknown_ids_say_what_is_close() -> None:
    env = environments.make("tools-calculator-easy", max_turns=9)
    assert env.max_turns == 9
    with pytest.raises(environments.UnknownEnvError, match="did you mean tools-calculator-easy"):
        environments.make("tools-calculater-easy")
    with pytest.raises(KeyError):
        environments.spec("nothing-like-this-at-all")


def test_resolve_ids_expands_families() -> None:
    ids = environments.resolve_ids(["tools-kb-2hop", "planning"])
    assert ids[0] == "tools-kb-2hop" and len(ids) == 1 + len(environments.list_envs("planning"))


def test_register_validates_ids_and_refuses_conflicts() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        register("Bad ID", "environments.tools.calculator:CalculatorEnv")
    with pytest.raises(ValueError, match="-v<N>"):
        register("calc-v2", "environments.tools.calculator:CalculatorEnv")
    with pytest.raises(ValueError, match="module:ClassName"):
        register("calc-other", "environments.tools.calculator.CalculatorEnv")
    with pytest.raises(ValueError, match="already registered"):
        register("tools-calculator-easy", "environments.tools.calculator:CalculatorEnv", digits=9)


def test_same_seed_same_task_other_seed_other_task() -> None:
    a = environments.make("tools-kb-3hop").reset(seed=5)[0]
    b = environments.make("tools-kb-3hop").reset(seed=5)[0]
    c = environments.make("tools-kb-3hop").reset(seed=6)[0]
    assert a == b and a != c


def test_action_coercion() -> None:
    act = Action.coerce(
        {"content": None, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    )
    assert act.content == "" and act.tool_calls[0].name == "f" and act.tool_calls[0].arguments == {"a": 1}
    assert len(Action.coerce({"content": "x" * (MAX_ACTION_CHARS + 10)}).content) == MAX_ACTION_CHARS
    for bad, msg in [
        (3, "message dict"),
        ({"content": 1}, "string"),
        ({"content": "", "tool_calls": {"a": 1}}, "list"),
        ({"content": "", "tool_calls": [{"name": "f", "arguments": "{x"}]}, "not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Action.coerce(bad)


def test_tool_errors_are_observations() -> None:
    env = environments.make("tools-calculator-easy")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(
        {"content": "", "tool_calls": [{"name": "calculate", "arguments": {"expression": "__import__('os')"}}]}
    )
    assert reward == 0 and not terminated and obs[0]["role"] == "tool"
    assert obs[0]["content"].startswith("error: calculate failed") and info["errors"] == ["calculate: tool raised"]
    obs, *_, info = env.step({"content": "", "tool_calls": [{"name": "calculate", "arguments": {"expr": "1"}}]})
    assert "bad arguments" in obs[0]["content"] and "expression" in obs[0]["content"]


def test_render_ansi_shows_the_transcript() -> None:
    env = environments.make("tools-kb-2hop", render_mode="ansi")
    env.reset(seed=0)
    env.step(env.oracle_action())
    text = env.render()
    assert "[user]" in text and "-> lookup(" in text and "[tool]" in text


def test_step_after_the_end_does_not_raise() -> None:
    env = environments.make("tools-calculator-easy")
    env.reset(seed=0)
    env.step({"content": "7"})
    obs, reward, terminated, _, _ = env.step({"content": "7"})
    assert terminated and reward == 0 and "over" in obs[0]["content"]


# --- the checker must be able to fail ---------------------------------------------------------------------------
class _Broken(AgentEnv):
    family = "test"
    mode = ""

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.n = int(rng.integers(100))
        if self.mode == "nondeterministic":
            self.n = int(np.random.default_rng().integers(100))
        return [user(f"Say {self.n}.")]

    def handle(self, action: Action) -> Outcome:
        if self.mode == "crashy" and not action.content:
            raise RuntimeError("author bug")
        if self.mode == "generous":
            return Outcome([user("ok")], reward=1.0, terminated=True, success=True)
        ok = action.content == str(self.n)
        return Outcome([user("ok" if ok else "no")], reward=float(ok), terminated=True, success=ok)

    def oracle_action(self) -> dict[str, Any]:
        return {"content": str(self.n) if self.mode != "bad-oracle" else "nope"}


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("nondeterministic", "not deterministic"),
        ("crashy", "env error"),
        ("generous", "earned reward 1.0"),
        ("bad-oracle", "oracle did not reach full reward"),
    ],
)
def test_checker_catches_broken_envs(mode: str, problem: str) -> None:
    cls = type(f"Broken_{mode.replace('-', '_')}", (_Broken,), {"mode": mode})
    env_id = f"test-broken-{mode}"
    register(env_id, cls, family="test", max_turns=3)
    report = environments.check(env_id, seeds=2)
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_checker_passes_a_correct_env() -> None:
    register("test-correct", _Broken, family="test", max_turns=3)
    report = environments.check("test-correct", seeds=2)
    assert report.ok, report.problems


# --- plugins --------------------------------------------------------------------------------------------------
def test_plugin_package_registers_through_the_entry_point(tmp_path: Path) -> None:
    import shutil

    plugin = tmp_path / "example_plugin"  # a copy, so building it leaves nothing in the repository
    shutil.copytree(Path(__file__).parent / "data" / "example_plugin", plugin)
    target = tmp_path / "site"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(plugin),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    code = (
        "import gymnasium, environments\n"
        "s = environments.spec('example-shout')\n"
        "print(s.family, s.source)\n"
        "env = gymnasium.make('agentrl/example-shout')\n"
        "env.reset(seed=0)\n"
        "print(environments.check('example-shout', seeds=2).ok)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{Path(__file__).parents[1]}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["example", "agentrl-example-plugin", "True"]
    # without the plugin on the path the env does not exist
    plain = subprocess.run(
        [sys.executable, "-c", "import environments; environments.spec('example-shout')"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plain.returncode != 0 and "unknown environment id 'example-shout'" in plain.stderr
