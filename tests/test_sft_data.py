"""SFT data: oracle demos, JSONL validation with file:line reports, Arrow-safe rows, mixing, held-out seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rl.cli import app
from rl.policy.tokenizer import build_byte_tokenizer
from sft.config import SFTSection
from sft.data import (
    DataError,
    Demo,
    HeldOutLeakError,
    build_sft_data,
    check_held_out,
    mix,
    oracle_demo,
    read_jsonl,
    to_row,
)

CALC_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "description": "Evaluate an expression.",
            "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
        },
    }
]
GOOD = {
    "messages": [
        {"role": "user", "content": "What is 2 + 3?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "calculate", "arguments": '{"expression": "2+3"}'}}
            ],
        },
        {"role": "tool", "content": "5"},
        {"role": "assistant", "content": "5"},
    ],
    "tools": CALC_TOOLS,
}


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_jsonl_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    no_role = {"messages": [{"content": "hi"}, {"role": "assistant", "content": "hello"}]}
    undeclared = json.loads(json.dumps(GOOD))
    undeclared["messages"][1]["tool_calls"][0]["function"]["name"] = "send_email"
    path = _write_lines(
        tmp_path / "demos.jsonl",
        [
            json.dumps(GOOD),  # line 1: fine
            '{"messages": [{"role": "user", "content": "x"}',  # line 2: invalid JSON
            json.dumps(no_role),  # line 3: a message without a role
            "",  # line 4: blank, skipped
            json.dumps(undeclared),  # line 5: tool call to an undeclared tool
            json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),  # line 6: nothing to learn
        ],
    )
    with pytest.raises(DataError) as exc:
        read_jsonl(path)
    problems = exc.value.problems
    assert any(p.startswith(f"{path}:2: invalid JSON") for p in problems), problems
    assert f"{path}:3: message 1: missing 'role'" in problems
    assert any(p.startswith(f"{path}:5: message 2 tool call 1: call to undeclared tool 'send_email'") for p in problems)
    assert any(p.startswith(f"{path}:6: no assistant message") for p in problems)
    assert not any(p.startswith(f"{path}:1:") or p.startswith(f"{path}:4:") for p in problems)
    assert f"{path}:2" in str(exc.value) and f"{path}:5" in str(exc.value)

    # the same file in a config: the run refuses it (nothing dropped silently), also from the CLI with exit code 2
    cfg = SFTSection(jsonl=[{"path": path}], eval_seeds=0)
    with pytest.raises(DataError):
        build_sft_data(cfg)
    config = tmp_path / "sft.yaml"
    config.write_text(f"run: {{output_dir: {tmp_path / 'runs'}}}\nsft: {{jsonl: [{{path: {path}}}], eval_seeds: 0}}\n")
    result = CliRunner().invoke(app, ["sft", str(config)])
    assert result.exit_code == 2
    assert f"{path}:5" in result.output.replace("\n", "") or f"{path}:5" in (result.stderr or "")


def test_good_jsonl_reads_and_renders_like_the_agent_loop(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "ok.jsonl", [json.dumps(GOOD)])
    (demo,) = read_jsonl(path)
    assert demo.where == f"{path}:1"
    row = to_row(demo)
    assert isinstance(row["tools"], str)
    tok = build_byte_tokenizer()
    # the Arrow-safe row (arguments as a JSON string) renders exactly as the dict form the agent loop renders
    dict_form = json.loads(json.dumps(GOOD))
    dict_form["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"expression": "2+3"}
    as_row = tok.apply_chat_template(row["messages"], tools=json.loads(row["tools"]), tokenize=False)
    as_dicts = tok.apply_chat_template(dict_form["messages"], tools=dict_form["tools"], tokenize=False)
    assert as_row == as_dicts
    assert '<|tool_call|>{"name": "calculate", "arguments": {"expression": "2+3"}}<|/tool_call|>' in as_row


def test_oracle_demo_is_a_multi_turn_tool_conversation() -> None:
    demo = oracle_demo("tools-units-direct", 3)
    roles = [m["role"] for m in demo.messages]
    assert roles[0] == "user" and roles[-1] == "assistant"
    assert "tool" in roles and roles.count("assistant") >= 2
    assert demo.tools and demo.env_id == "tools-units-direct" and demo.seed == 3
    calls = [c for m in demo.messages for c in m.get("tool_calls", [])]
    assert calls and all(c["type"] == "function" and "name" in c["function"] for c in calls)


def test_mix_follows_weights() -> None:
    a = [Demo([{"role": "user", "content": f"a{i}"}], where=f"a{i}") for i in range(10)]
    b = [Demo([{"role": "user", "content": f"b{i}"}], where=f"b{i}") for i in range(3)]
    out, counts = mix([("a", 1.0, a), ("b", 3.0, b)], 40, seed=0)
    assert counts == {"a": 10, "b": 30} and len(out) == 40
    assert sum(d.where.startswith("b") for d in out) == 30


def test_held_out_seeds_never_appear_in_training_data() -> None:
    cfg = SFTSection(
        envs=[{"id": "tools-calculator-easy", "demos": 12}, {"id": "plan-blocksworld-3", "demos": 12}],
        eval_seed_start=100,
        eval_seeds=8,
    )
    eval_ids = ["tools-calculator-easy", "plan-blocksworld-3"]
    data = build_sft_data(cfg, eval_env_ids=eval_ids)
    held = set(range(100, 108))
    assert data.demos and all(d.seed is not None and d.seed not in held for d in data.demos)
    # tasks repeated across seeds (3-block worlds have few) are left out when they equal a held-out task's prompt
    from sft.data import eval_prompt_key

    held_prompts = {eval_prompt_key(e, s) for e in eval_ids for s in held}
    assert not any(d.prompt_key in held_prompts for d in data.demos)

    # the explicit check raises on a held-out (env, seed) and on a held-out prompt
    leak = oracle_demo("tools-calculator-easy", 103)
    with pytest.raises(HeldOutLeakError, match="tools-calculator-easy@103"):
        check_held_out([*data.demos, leak], {("tools-calculator-easy", s) for s in held})
    with pytest.raises(HeldOutLeakError, match="same prompt"):
        check_held_out([leak], set(), {leak.prompt_key})

    # overlapping seed ranges are refused when the config loads
    with pytest.raises(ValidationError, match="overlap held-out eval seeds"):
        SFTSection(envs=[{"id": "tools-calculator-easy", "demos": 200}], eval_seed_start=150, eval_seeds=8)


def test_jsonl_demo_tagged_with_a_held_out_seed_is_refused(tmp_path: Path) -> None:
    tagged = {**GOOD, "env_id": "tools-calculator-easy", "seed": 1_000_001}
    path = _write_lines(tmp_path / "tagged.jsonl", [json.dumps(tagged)])
    cfg = SFTSection(jsonl=[{"path": path}], eval_seeds=4, exclude_eval_prompts=False)
    with pytest.raises(HeldOutLeakError, match=f"{path}:1"):
        build_sft_data(cfg, eval_env_ids=["tools-calculator-easy"])


def test_oracles_played_on_threads_give_the_serial_demos_in_seed_order() -> None:
    from sft.data import play_oracles

    seeds = range(3, 9)
    serial = [oracle_demo("code-fn-easy", s) for s in seeds]
    threaded = play_oracles("code-fn-easy", seeds, workers=3)
    assert [d.seed for d in threaded] == list(seeds)
    assert [d.messages for d in threaded] == [d.messages for d in serial]
