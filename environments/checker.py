"""The contract checker an environment author runs: `environments.check(id)` / `agentrl envs check [ID...]`.

It runs gymnasium's own `check_env`, then agentrl's contract:
- `gymnasium.make("agentrl/<id>")` works;
- determinism: the same seed gives the same task, tools and, under the oracle, the same observations and rewards;
- the oracle reaches full reward (1.0, `info["success"]`) within max turns on every checked seed;
- malformed actions (empty, garbage, unknown tool, bad JSON, wrong argument types, huge strings, odd unicode)
  never raise, never trip `info["env_error"]`, earn reward 0 and get an observation that says what was wrong;
- repeated non-terminating bad actions are truncated exactly at max turns;
- rewards stay in [0, 1]; observations and oracle actions belong to the declared spaces.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium
from gymnasium.utils.env_checker import check_env

from environments.base import AgentEnv
from environments.registry import make, spec

ODD_UNICODE = "\u202eevil\u200b \x00 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🙂 ﷽ \ufeff e\u0301"


def malformed_actions(tool_name: str | None) -> dict[str, Any]:
    """Named bad actions every env must survive (reward 0, explained)."""
    real = tool_name or "no_such_tool"
    return {
        "empty dict": {},
        "empty content": {"content": ""},
        "not a dict": 42,
        "none": None,
        "content not a string": {"content": 5},
        "tool_calls not a list": {"content": "x", "tool_calls": "add(1, 2)"},
        "garbage text": {"content": "asdf qwerty }{][ <|tool_call|> zzz"},
        "unknown tool": {"content": "", "tool_calls": [{"name": "no_such_tool", "arguments": {}}]},
        "bad JSON arguments": {"content": "", "tool_calls": [{"name": real, "arguments": "{not json"}]},
        "wrong argument types": {"content": "", "tool_calls": [{"name": real, "arguments": {"zzz": [1, {"a": None}]}}]},
        "parse error": {
            "content": "<|tool_call|>{oops",
            "tool_calls": [],
            "parse_errors": ["tool call 1: invalid JSON"],
        },
        "huge string": {"content": "A" * 100_000},
        "huge argument": {"content": "", "tool_calls": [{"name": real, "arguments": {"x": "B" * 100_000}}]},
        "odd unicode": {"content": ODD_UNICODE},
    }


@dataclass
class CheckReport:
    """The outcome of checking one env config."""

    env_id: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no contract check failed."""
        return not self.problems


def run_oracle(env: AgentEnv, seed: int) -> tuple[list[Any], list[float], list[dict[str, Any]], bool]:
    """Play one oracle episode: (observations, rewards, infos, truncated)."""
    obs, _ = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], []
    for _ in range(env.max_turns):
        action = env.oracle_action()
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            return observations, rewards, infos, truncated
    return observations, rewards, infos, False


def _explains(obs: Any) -> bool:
    return (
        isinstance(obs, list)
        and bool(obs)
        and any(isinstance(m, dict) and str(m.get("content", "")).strip() for m in obs)
    )


def check(env_id: str, seeds: int = 3) -> CheckReport:
    """Run every contract check on one registered env config."""
    t0 = time.perf_counter()
    rep = CheckReport(env_id)
    problems = rep.problems
    try:
        env = make(env_id)
    except Exception as exc:
        problems.append(f"make failed: {type(exc).__name__}: {exc}")
        return rep
    if not isinstance(env, AgentEnv):
        problems.append(f"{type(env).__name__} is not an AgentEnv")
        return rep

    # gymnasium's own checker (its warnings are notes, its errors are problems)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(make(env_id), skip_render_check=True)
        except Exception as exc:
            problems.append(f"gymnasium check_env: {type(exc).__name__}: {exc}")
    rep.notes += sorted({f"gymnasium: {w.message}" for w in caught})

    try:
        g = gymnasium.make(spec(env_id).gym_id)
        if not isinstance(g.unwrapped, type(env)):
            problems.append(f"gymnasium.make({spec(env_id).gym_id!r}) built {type(g.unwrapped).__name__}")
    except Exception as exc:
        problems.append(f"gymnasium.make failed: {type(exc).__name__}: {exc}")

    # oracle and determinism
    for seed in range(seeds):
        try:
            first = run_oracle(make(env_id), seed)
            again = run_oracle(make(env_id), seed)
        except Exception as exc:
            problems.append(f"oracle raised on seed {seed}: {type(exc).__name__}: {exc}")
            continue
        observations, rewards, infos, _ = first
        if (observations, rewards) != (again[0], again[1]):
            problems.append(f"not deterministic: two oracle episodes on seed {seed} differ")
        total = sum(rewards)
        if abs(total - 1.0) > 1e-9 or not (infos and infos[-1]["success"]):
            problems.append(f"oracle did not reach full reward on seed {seed} (reward {total}, {len(rewards)} turns)")
        if any(not 0.0 <= r <= 1.0 for r in rewards):
            problems.append(f"reward out of [0, 1] on seed {seed}: {rewards}")
        if any("env_error" in i for i in infos):
            problems.append(f"env_error under the oracle on seed {seed}: {infos[-1].get('env_error')}")
        bad_obs = [o for o in observations if not env.observation_space.contains(o)]
        if bad_obs:
            problems.append(f"observation outside the observation space on seed {seed}: {bad_obs[0]!r:.200}")
    a_env = make(env_id)
    a_env.reset(seed=0)
    if not a_env.action_space.contains(a_env.oracle_action()):
        problems.append("the oracle's first action is outside the action space")
    tools_a = make(env_id).reset(seed=1)[1]["tools"]
    tools_b = make(env_id).reset(seed=1)[1]["tools"]
    if tools_a != tools_b:
        problems.append("not deterministic: tools differ for the same seed")

    # task kinds: reset reports one of them, and draws the one it is asked for
    k_env = make(env_id).unwrapped
    kinds = k_env.task_kinds()
    drawn = k_env.reset(seed=0)[1].get("task_kind")
    if (drawn or kinds) and drawn not in kinds:
        problems.append(f"reset reported task_kind {drawn!r}, not one of task_kinds() {kinds}")
    for kind in kinds:
        try:
            got = k_env.reset(seed=0, options={"task_kind": kind})[1].get("task_kind")
        except Exception as exc:
            problems.append(f"reset with task_kind {kind!r} raised {type(exc).__name__}: {exc}")
            continue
        if got != kind:
            problems.append(f"reset asked for task_kind {kind!r} reported {got!r}")

    # malformed actions
    tool_name = tools_a[0]["function"]["name"] if tools_a else None
    for name, action in malformed_actions(tool_name).items():
        e = make(env_id)
        e.reset(seed=0)
        try:
            obs, reward, _, _, info = e.step(action)
        except Exception as exc:
            problems.append(f"malformed action '{name}' raised {type(exc).__name__}: {exc}")
            continue
        if info.get("env_error"):
            problems.append(f"malformed action '{name}' tripped an env error: {info['env_error']}")
        if reward != 0:
            problems.append(f"malformed action '{name}' earned reward {reward}")
        if not _explains(obs):
            problems.append(f"malformed action '{name}' got no explaining observation")

    # truncation at max turns under repeated non-terminating bad actions
    e = make(env_id)
    e.reset(seed=0)
    bad = {"content": "", "tool_calls": [{"name": "no_such_tool", "arguments": {}}]}
    for turn in range(1, e.max_turns + 2):
        try:
            _, _, terminated, truncated, _ = e.step(bad)
        except Exception as exc:
            problems.append(f"repeated bad actions raised at turn {turn}: {exc}")
            break
        if terminated:
            break
        if truncated:
            if turn != e.max_turns:
                problems.append(f"truncated at turn {turn}, expected max_turns={e.max_turns}")
            break
    else:
        problems.append(f"no truncation after max_turns={e.max_turns} turns")
    rep.seconds = time.perf_counter() - t0
    return rep
