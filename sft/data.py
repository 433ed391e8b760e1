"""Demonstrations for SFT: env-oracle episodes and chat JSONL files, validated, mixed by weight, held out.

A demonstration is an OpenAI-format chat (`messages`, with assistant `tool_calls` and `tool` results) plus the
tool specs (`tools`, OpenAI function schemas). Two sources:

- `oracle_demo(env_id, seed)` plays an env's oracle for one episode and records the conversation;
- `read_jsonl(path)` reads `{"messages": [...], "tools": [...]}` lines (optionally `"env_id"`, `"seed"`). Every bad
  line (invalid JSON, a message without a role, a tool call to an undeclared tool, ...) is reported with its file
  and line number in one `DataError`; nothing is dropped silently.

`to_row` turns a demo into the two columns TRL's SFTTrainer reads for conversational data with tools: `messages`
and `tools`. Tool-call arguments and the tool list are stored as JSON strings, because Arrow unifies struct
fields across rows (a `{"a": 1}` next to `{"b": 2}` would become `{"a": 1, "b": null}`); the chat template
renders a string argument verbatim, and `json.dumps` writes exactly what the template's `tojson` writes for the
dict, so the rendered text is the one the agent loop sees.

`check_held_out` is the explicit guard that no held-out eval (env, seed) is in the training data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rollout.chat_format import ROLES


class DataError(ValueError):
    """Bad demonstration data: `problems` holds one 'file:line: what is wrong' string per problem."""

    def __init__(self, problems: list[str], what: str = "bad demonstration data"):
        self.problems = list(problems)
        shown = self.problems[:50]
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{what}: {len(self.problems)} problem(s)\n" + "\n".join(f"  {p}" for p in shown) + more)


class HeldOutLeakError(ValueError):
    """A held-out evaluation task appears in the training data."""


@dataclass
class Demo:
    """One demonstration conversation."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    """Where it came from: 'env:<id>' or 'file:<path>'."""
    env_id: str | None = None
    seed: int | None = None
    where: str = ""
    """'path:line' for file demos, 'env-id@seed' for oracle demos (used in messages)."""
    reward_components: dict[str, float] = field(default_factory=dict)
    """The reward components the env reported over an oracle demo's episode (empty for file demos)."""

    @property
    def prompt_key(self) -> str:
        """The opening task statement: the first user message (used to find eval tasks repeated in training)."""
        for m in self.messages:
            if m.get("role") == "user":
                return str(m.get("content", ""))
        return ""


# --- oracle demonstrations ---------------------------------------------------------------------------------------


def _openai_calls(calls: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        f = c.get("function", c)
        out.append(
            {
                "id": f"call_{start + i}",
                "type": "function",
                "function": {"name": f["name"], "arguments": f.get("arguments", {})},
            }
        )
    return out


def oracle_demo(env_id: str, seed: int) -> Demo:
    """Play the oracle of `env_id` on `seed` and record the conversation (ends with the last assistant turn).

    Raises RuntimeError when the oracle does not succeed (an env bug: it must reach full reward from any seed).
    """
    import environments

    env = environments.make(env_id)
    obs, info = env.reset(seed=seed)
    tools = list(info.get("tools") or [])
    messages: list[dict[str, Any]] = [dict(m) for m in obs]
    n_calls = 0
    pending_ids: list[str] = []
    success = False
    components: dict[str, float] = {}
    for _ in range(env.max_turns):
        action = env.oracle_action()
        msg: dict[str, Any] = {"role": "assistant", "content": action.get("content") or ""}
        calls = _openai_calls(list(action.get("tool_calls") or []), n_calls)
        if calls:
            msg["tool_calls"] = calls
            pending_ids = [c["id"] for c in calls]
            n_calls += len(calls)
        messages.append(msg)
        obs, _reward, terminated, truncated, info = env.step(action)
        components.update(info.get("reward_components") or {})
        if terminated or truncated:
            success = bool(info.get("success"))
            break
        for m in obs:
            m = dict(m)
            if m.get("role") == "tool" and pending_ids:
                m["tool_call_id"] = pending_ids.pop(0)
            messages.append(m)
    if not success:
        raise RuntimeError(f"the oracle of {env_id} did not succeed on seed {seed}; cannot use it as a demonstration")
    return Demo(
        messages,
        tools,
        source=f"env:{env_id}",
        env_id=env_id,
        seed=seed,
        where=f"{env_id}@{seed}",
        reward_components=components,
    )


def play_oracles(env_id: str, seeds: Sequence[int], workers: int | None = None) -> list[Demo]:
    """`oracle_demo` for every seed, in seed order, on `workers` threads (default: one per core). Code envs spend
    their time waiting on the sandbox subprocess, which releases the GIL, so their demos build about
    cores-times faster; the first seed plays alone so the env registry and plugins load once."""
    seeds = list(seeds)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(seeds) <= 1:
        return [oracle_demo(env_id, s) for s in seeds]
    from concurrent.futures import ThreadPoolExecutor

    first = oracle_demo(env_id, seeds[0])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [first, *pool.map(lambda seed: oracle_demo(env_id, seed), seeds[1:])]


def eval_prompt_key(env_id: str, seed: int) -> str:
    """The opening task statement of a held-out eval episode (see `Demo.prompt_key`)."""
    import environments

    obs, _ = environments.make(env_id).reset(seed=seed)
    return Demo(list(obs)).prompt_key


# --- JSONL files -----------------------------------------------------------------------------------------------


def _tool_names(tools: Any) -> tuple[set[str], list[str]]:
    problems: list[str] = []
    names: set[str] = set()
    if tools is None:
        return names, problems
    if not isinstance(tools, list):
        return names, [f"'tools' must be a list of function schemas, got {type(tools).__name__}"]
    for i, t in enumerate(tools, start=1):
        f = t.get("function", t) if isinstance(t, dict) else None
        name = f.get("name") if isinstance(f, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"tools[{i}]: expected {{'type': 'function', 'function': {{'name': ...}}}}")
        else:
            names.add(name)
    return names, problems


def _call_problems(j: int, k: int, call: Any, declared: set[str]) -> list[str]:
    where = f"message {j} tool call {k}"
    if not isinstance(call, dict):
        return [f"{where}: expected an object, got {type(call).__name__}"]
    f = call.get("function", call)
    if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not f["name"]:
        return [f"{where}: missing function name"]
    problems = []
    if f["name"] not in declared:
        shown = ", ".join(sorted(declared)) or "none"
        problems.append(f"{where}: call to undeclared tool {f['name']!r} (declared tools: {shown})")
    args = f.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return [*problems, f"{where}: arguments are a string that is not JSON ({exc.msg})"]
    if not isinstance(args, dict):
        problems.append(f"{where}: arguments must be a JSON object, got {type(args).__name__}")
    return problems


def validate_example(obj: Any) -> list[str]:
    """What is wrong with one demonstration object (empty when it is fine)."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object with 'messages', got {type(obj).__name__}"]
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["missing or empty 'messages' list"]
    declared, problems = _tool_names(obj.get("tools"))
    if "seed" in obj and not (isinstance(obj["seed"], int) and not isinstance(obj["seed"], bool)):
        problems.append("'seed' must be an integer")
    if "env_id" in obj and not isinstance(obj["env_id"], str):
        problems.append("'env_id' must be a string")
    n_assistant = 0
    for j, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            problems.append(f"message {j}: expected an object, got {type(m).__name__}")
            continue
        role = m.get("role")
        if role is None:
            problems.append(f"message {j}: missing 'role'")
            continue
        if role not in ROLES:
            problems.append(f"message {j}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
            continue
        content = m.get("content")
        calls = m.get("tool_calls")
        if role == "assistant":
            n_assistant += 1
            if content is not None and not isinstance(content, str):
                problems.append(f"message {j}: 'content' must be a string")
            if calls is not None and not isinstance(calls, list):
                problems.append(f"message {j}: 'tool_calls' must be a list")
            elif content in (None, "") and not calls:
                problems.append(f"message {j}: assistant message with neither content nor tool calls")
            for k, call in enumerate(calls or [], start=1):
                problems += _call_problems(j, k, call, declared)
        else:
            if not isinstance(content, str):
                problems.append(f"message {j}: {role} message needs a string 'content'")
            if calls:
                problems.append(f"message {j}: only assistant messages may have 'tool_calls'")
    if n_assistant == 0:
        problems.append("no assistant message (nothing to learn from)")
    return problems


def read_jsonl(path: str | Path) -> list[Demo]:
    """Read and validate a chat JSONL file; raise DataError listing every bad line as 'path:line: problem'."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: file not found"])
    demos: list[Demo] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            bad = validate_example(obj)
            if bad:
                problems += [f"{path}:{lineno}: {p}" for p in bad]
                continue
            demos.append(
                Demo(
                    messages=obj["messages"],
                    tools=obj.get("tools") or [],
                    source=f"file:{path}",
                    env_id=obj.get("env_id"),
                    seed=obj.get("seed"),
                    where=f"{path}:{lineno}",
                )
            )
    if problems:
        raise DataError(problems, what=f"bad lines in {path}")
    if not demos:
        raise DataError([f"{path}: no demonstrations (the file is empty)"])
    return demos


# --- rows for TRL ------------------------------------------------------------------------------------------------


def _args_json(args: Any) -> str:
    if isinstance(args, str):
        args = json.loads(args) if args.strip() else {}
    # the same text the chat template's `tojson` writes for the dict
    return json.dumps(args, ensure_ascii=False)


def to_row(demo: Demo) -> dict[str, Any]:
    """The `{"messages", "tools"}` row TRL reads, in an Arrow-safe form (see the module docstring)."""
    messages = []
    for m in demo.messages:
        calls = []
        for i, c in enumerate(m.get("tool_calls") or []):
            f = c.get("function", c)
            calls.append(
                {
                    "id": str(c.get("id") or f"call_{i}"),
                    "type": "function",
                    "function": {"name": f["name"], "arguments": _args_json(f.get("arguments", {}))},
                }
            )
        messages.append({"role": m["role"], "content": m.get("content") or "", "tool_calls": calls})
    return {"messages": messages, "tools": json.dumps(demo.tools, ensure_ascii=False) if demo.tools else None}


# --- held-out check and mixing -------------------------------------------------------------------------------


def check_held_out(train: list[Demo], held_out: set[tuple[str, int]], held_out_prompts: set[str] = frozenset()) -> None:
    """Raise HeldOutLeakError when a training demo is a held-out eval task: the same (env id, seed), or (when
    `held_out_prompts` is given) the same opening prompt as a held-out task."""
    leaks = [d.where for d in train if d.env_id is not None and d.seed is not None and (d.env_id, d.seed) in held_out]
    leaks += [f"{d.where} (same prompt as a held-out task)" for d in train if d.prompt_key in held_out_prompts]
    if leaks:
        shown = ", ".join(leaks[:10]) + (f" and {len(leaks) - 10} more" if len(leaks) > 10 else "")
        raise HeldOutLeakError(f"{len(leaks)} training demo(s) are held-out eval tasks: {shown}")


def mix(
    pools: list[tuple[str, float, list[Demo]]], examples: int | None, seed: int
) -> tuple[list[Demo], dict[str, int]]:
    """Draw a training set from weighted pools: each pool gets round(total * weight / sum of weights) examples
    (its demos repeated as needed, the remainder a random subset), then everything is shuffled.
    Returns (demos, examples per pool)."""
    pools = [p for p in pools if p[2]]
    if not pools:
        return [], {}
    total = examples if examples is not None else sum(len(d) for _, _, d in pools)
    weight_sum = sum(w for _, w, _ in pools)
    rng = np.random.default_rng(seed)
    out: list[Demo] = []
    counts: dict[str, int] = {}
    for name, weight, demos in pools:
        share = max(1, round(total * weight / weight_sum))
        reps, rest = divmod(share, len(demos))
        picked = demos * reps + [demos[i] for i in sorted(rng.choice(len(demos), size=rest, replace=False))]
        counts[name] = len(picked)
        out += picked
    order = rng.permutation(len(out))
    return [out[i] for i in order], counts


@dataclass
class SFTData:
    """The mixed training demonstrations and a report of how they were made."""

    demos: list[Demo]
    report: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        """The TRL rows (`messages`, `tools`)."""
        return [to_row(d) for d in self.demos]

    def dataset(self) -> Any:
        """A `datasets.Dataset` with the `messages` and `tools` columns."""
        from datasets import Dataset

        return Dataset.from_list(self.rows())


def build_sft_data(cfg: Any, seed: int = 0, eval_env_ids: list[str] | None = None) -> SFTData:
    """Build the training demonstrations of an `SFTSection`: play the oracles on the training seeds, read the
    JSONL files (all bad lines reported at once), leave out demos that repeat a held-out eval prompt (when
    `exclude_eval_prompts`), check that no held-out task remains, and mix the sources by weight."""
    held_seeds = list(cfg.held_out_seeds())
    eval_ids = list(eval_env_ids or [])
    held_pairs = {(e, s) for e in eval_ids for s in held_seeds}
    held_prompts = {eval_prompt_key(e, s) for e, s in held_pairs} if cfg.exclude_eval_prompts else set()

    pools: list[tuple[str, float, list[Demo]]] = []
    report: dict[str, Any] = {
        "sources": {},
        "held_out": {"env_ids": eval_ids, "first_seed": cfg.eval_seed_start, "seeds": len(held_seeds)},
    }
    for src in cfg.envs:
        seeds = cfg.train_seeds(src)
        overlap = set(seeds) & set(held_seeds) if src.id in eval_ids else set()
        if overlap:
            raise HeldOutLeakError(f"training seeds of {src.id} include held-out eval seeds {sorted(overlap)[:5]}")
        demos = play_oracles(src.id, seeds)
        kept = [d for d in demos if d.prompt_key not in held_prompts]
        name = f"env:{src.id}"
        pools.append((name, src.weight, kept))
        report["sources"][name] = {
            "weight": src.weight,
            "distinct_demos": len(kept),
            "seeds": [seeds.start, seeds.stop - 1],
            "excluded_same_prompt_as_eval": len(demos) - len(kept),
        }
    problems: list[str] = []
    for src in cfg.jsonl:
        try:
            demos = read_jsonl(src.path)
        except DataError as exc:
            problems += exc.problems
            continue
        kept = [d for d in demos if d.prompt_key not in held_prompts]
        name = f"file:{src.path}"
        pools.append((name, src.weight, kept))
        report["sources"][name] = {
            "weight": src.weight,
            "distinct_demos": len(kept),
            "excluded_same_prompt_as_eval": len(demos) - len(kept),
        }
    if problems:
        raise DataError(problems)
    train, counts = mix(pools, cfg.examples, seed)
    if not train:
        raise DataError(["no training demonstrations: set sft.envs and/or sft.jsonl"])
    check_held_out(train, held_pairs, held_prompts)
    for name, n in counts.items():
        report["sources"][name]["examples"] = n
    report["examples"] = len(train)
    return SFTData(train, report)
