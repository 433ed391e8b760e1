"""Hypothesis fuzzing of actions for every registered env: whatever the model sends, `step` answers with data.

For each env config a few derandomized Hypothesis examples each play a short episode of generated actions: random
text, broken tool calls (`parse_errors` plus garbage content), unknown tools, real tools (from `env.tools`) with
random JSON arguments, unparsable argument strings, giant inputs, odd unicode (lone surrogates included), actions
that are not messages at all and, for code envs, code blocks of random text. After every step: no exception, no
`info["env_error"]`, reward in [0, 1], a non-empty list of messages with string content and, for clearly malformed
actions, reward 0 and a message that says something.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import environments
from environments.checker import ODD_UNICODE

ENV_IDS = [s.id for s in environments.list_envs()]
SANDBOXED = ("code-", "bench-humaneval")
"""Env ids whose steps can run the code sandbox (~0.1 s a run): fewer examples."""
_SCALE = float(os.environ.get("AGENTRL_FUZZ_SCALE", "1"))
"""Multiplies the example counts (e.g. AGENTRL_FUZZ_SCALE=20 for a deep local run; CI uses 1)."""
EXAMPLES, SANDBOXED_EXAMPLES = round(20 * _SCALE), round(5 * _SCALE)

# a character strategy that includes lone surrogates (which cannot be UTF-8 or JSON encoded) and odd code points
chars = st.one_of(
    st.characters(),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\x00", "\u202e", "\u200b", "\ufeff", "\U0001d518", "\n", "`", "{", "}", '"', "\\"]),
)
texts = st.text(chars, max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
GIANT_UNITS = [
    "A",
    "\U0001f642",
    "\udc80",
    " ",
    "`",
    "```",
    "```python\n",
    "\n",
    "<tool_call>",
    "{",
    "[",
    "1",
    "-",
    "(",
]
"""Repeated to build giant replies (the patterns that make a backtracking regex quadratic)."""
GARBAGE = ["<|tool_call|>{oops", "```python\n", "```", '{"name": ', "</tool_call>", "}{][", "Action: ", "\\u0000"]


def _action_strategy(tools: list[dict[str, Any]], code_env: bool) -> st.SearchStrategy[tuple[str, Any]]:
    """(kind, action) pairs; kinds listed in MALFORMED must be answered with reward 0 and an explanation."""
    names = [t["function"]["name"] for t in tools]
    props = {t["function"]["name"]: list(t["function"].get("parameters", {}).get("properties", {})) for t in tools}
    garbage = st.lists(st.sampled_from(GARBAGE) | texts, max_size=5).map("".join)
    real_name = st.sampled_from(names) if names else st.just("no_such_tool")

    def calls_of(name: str) -> st.SearchStrategy[dict[str, Any]]:
        keys = st.sampled_from(props.get(name) or ["x"]) | texts
        return st.dictionaries(keys, json_values, max_size=4).map(lambda args: {"name": name, "arguments": args})

    real_call = real_name.flatmap(calls_of)

    kinds: list[st.SearchStrategy[tuple[str, Any]]] = [
        texts.map(lambda t: ("text", {"content": t})),
        st.tuples(garbage, st.lists(texts, min_size=1, max_size=3)).map(
            lambda g: ("parse_error", {"content": g[0], "tool_calls": [], "parse_errors": g[1]})
        ),
        st.lists(real_call, min_size=1, max_size=3).map(
            lambda calls: ("tool_call", {"content": "", "tool_calls": calls})
        ),
        texts.filter(lambda n: n not in names).map(
            lambda n: ("unknown_tool", {"content": "", "tool_calls": [{"name": n, "arguments": {}}]})
        ),
        st.tuples(real_name, garbage).map(
            lambda p: ("bad_json", {"content": "", "tool_calls": [{"name": p[0], "arguments": "{" + p[1]}]})
        ),
        st.sampled_from([None, 42, 3.5, [], ["x"], {"content": 5}, {"content": "x", "tool_calls": "add(1, 2)"}]).map(
            lambda a: ("not_a_message", a)
        ),
        st.tuples(st.sampled_from(GIANT_UNITS), st.integers(50_000, 300_000)).map(
            lambda p: ("giant", {"content": p[0] * (p[1] // len(p[0]))})
        ),
        st.tuples(real_name, st.integers(50_000, 200_000)).map(
            lambda p: (
                "giant_argument",
                {"content": "", "tool_calls": [{"name": p[0], "arguments": {"x": "B" * p[1]}}]},
            )
        ),
        texts.map(lambda t: ("odd_unicode", {"content": ODD_UNICODE + t + "\ud800\udfff\udbff"})),
        st.tuples(texts, st.sampled_from(["1, 2", '{"name": "x"', "null", "[1]"])).map(
            lambda p: ("openai_form", {"content": p[0], "tool_calls": [{"function": {"name": "f", "arguments": p[1]}}]})
        ),
    ]
    if code_env:
        code = st.lists(st.sampled_from(["def f(", "return", "import os", "\n", "    ", "print(", "1/0"]) | texts)
        kinds.append(code.map(lambda parts: ("code", {"content": "```python\n" + "".join(parts) + "\n```"})))
    return st.one_of(kinds)


MALFORMED = {"parse_error", "unknown_tool", "bad_json", "not_a_message", "giant_argument", "openai_form"}


def _check_step(env_id: str, kind: str, out: Any) -> None:
    assert isinstance(out, tuple) and len(out) == 5
    obs, reward, terminated, truncated, info = out
    assert "env_error" not in info, f"{env_id} {kind}: {info['env_error']}"
    assert isinstance(reward, float) and 0.0 <= reward <= 1.0, f"{env_id} {kind}: reward {reward}"
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(obs, list) and obs, f"{env_id} {kind}: empty observation"
    for m in obs:
        assert isinstance(m, dict) and isinstance(m.get("content"), str) and isinstance(m.get("role"), str), m
    if kind in MALFORMED and kind != "giant_argument":
        assert reward == 0.0, f"{env_id} {kind}: a malformed action earned {reward}"
        assert any(m["content"].strip() for m in obs), f"{env_id} {kind}: nothing explains the error"
    json.dumps(info)  # info stays plain data


@pytest.fixture(scope="module")
def envs() -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_fuzz_actions(env_id: str, envs: dict[str, Any]) -> None:
    sandboxed = env_id.startswith(SANDBOXED)
    env = envs.setdefault(env_id, environments.make(env_id))

    @settings(
        max_examples=SANDBOXED_EXAMPLES if sandboxed else EXAMPLES,
        deadline=None,
        derandomize=_SCALE == 1,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data(), seed=st.integers(0, 3))
    def episode(data: st.DataObject, seed: int) -> None:
        env.reset(seed=seed)
        actions = _action_strategy(env.tools, sandboxed)
        steps = data.draw(st.integers(1, 2 if sandboxed else 4), label="steps")
        for _ in range(steps):
            kind, action = data.draw(actions, label="action")
            _check_step(env_id, kind, env.step(action))
            if env.done:
                _check_step(env_id, "after_done", env.step({"content": "again"}))
                break

    episode()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_giant_replies(env_id: str, envs: dict[str, Any]) -> None:
    """Every giant pattern as a final answer, deterministically (long digit runs once broke number parsing; a
    run of backticks once made the code-block regex quadratic)."""
    env = envs.setdefault(env_id, environments.make(env_id))
    for unit in [*GIANT_UNITS, "9" * 400 + " ", "1,"]:
        env.reset(seed=0)
        _check_step(env_id, "giant", env.step({"content": unit * (100_000 // len(unit))}))
