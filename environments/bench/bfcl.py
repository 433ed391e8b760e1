"""BFCL v4 (Berkeley Function Calling Leaderboard, PyPI package `bfcl-eval`) as single-turn function-calling envs.

Each case of a category (simple, multiple, parallel, parallel_multiple, irrelevance and their live_ variants) is
one episode: the observation is the case's question (its first and only turn, system messages included), the
tools are the case's function docs converted to OpenAI function schemas (BFCL's own type mapping: dict -> object,
float -> number with format "float", tuple -> array, any -> string, ...; the description gets BFCL's "Note that
the provided function is in Python 3 syntax." hint), and the first reply ends the episode:

- relevance categories: the reply's tool calls, as `[{name: arguments}]`, are judged by BFCL's own AST checker
  (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, loaded from the installed package) against the case's
  ground truth; valid -> reward 1.0.
- irrelevance categories: no function fits, so the reply must abstain: no tool call, and a text reply that says
  so (it must contain a negation or refusal word such as "no", "not", "cannot", "unable", "sorry").

Simplified / different from the leaderboard:
- Tool calls arrive structured (name + JSON arguments, as in BFCL's function-calling mode), so BFCL's text
  decoders are not used; tool names keep their dots (BFCL's `underscore_to_dot` renaming is off).
- The AST checker module is loaded under a private name with `bfcl_eval.constants.model_config` stubbed out while
  it loads: the real one imports every model handler (anthropic, mistralai, tree-sitter, ...), which are not
  installed (bfcl-eval is installed with --no-deps). Only its `underscore_to_dot` lookup used that mapping.
- An unparsable tool call (`parse_errors`) scores 0 in every category; BFCL counts a decode failure as a
  success in irrelevance. A text reply without a refusal word also scores 0 in irrelevance (BFCL accepts any
  text); this keeps garbage replies from earning reward.
- Only the Python categories; Java/JavaScript, multi-turn, memory, web-search and format-sensitivity are not
  adapted, nor live_relevance (which accepts any call).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import sys
import types
from functools import lru_cache
from typing import Any

import numpy as np

from environments.base import Action, AgentEnv, Outcome, user
from environments.bench._common import log, package_dir, pick_index
from environments.registry import register

CATEGORIES: dict[str, str] = {
    "simple": "simple_python",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel-multiple": "parallel_multiple",
    "irrelevance": "irrelevance",
    "live-simple": "live_simple",
    "live-multiple": "live_multiple",
    "live-parallel": "live_parallel",
    "live-parallel-multiple": "live_parallel_multiple",
    "live-irrelevance": "live_irrelevance",
}
"""agentrl id suffix -> BFCL category (the data file is `data/BFCL_v4_<category>.json`)."""

GORILLA_TO_OPENAPI: dict[str, str] = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "dict": "object",
    "object": "object",
    "tuple": "array",
    "any": "string",
}
"""BFCL's type names -> JSON-schema types (the Python part of `bfcl_eval.constants.type_mappings`)."""

PYTHON_HINT = " Note that the provided function is in Python 3 syntax."
_ABSTAIN = re.compile(
    r"\b(no|not|none|nothing|neither|cannot|can't|cant|can ?not|unable|sorry|don't|doesn't|isn't|aren't|won't|"
    r"lack|lacks|missing|irrelevant|unrelated|unavailable|impossible|n't)\b",
    re.IGNORECASE,
)
_MODEL_NAME = "agentrl"


def is_irrelevance(category: str) -> bool:
    """True for categories where the right answer is to call nothing."""
    return "irrelevance" in category


def data_dir() -> str | None:
    """`bfcl_eval/data` of the installed package, or None."""
    root = package_dir("bfcl_eval")
    return os.path.join(root, "data") if root else None


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@lru_cache(maxsize=32)
def load_all_cases(category: str) -> tuple[dict[str, Any], ...]:
    """Every case of a BFCL category, with `ground_truth` attached (None for irrelevance); cached per process."""
    root = data_dir()
    if root is None:
        raise RuntimeError("bfcl-eval is not installed (pip install --no-deps bfcl-eval)")
    cases = _read_jsonl(os.path.join(root, f"BFCL_v4_{category}.json"))
    if is_irrelevance(category):
        return tuple({**c, "ground_truth": None} for c in cases)
    answers = {
        a["id"]: a["ground_truth"]
        for a in _read_jsonl(os.path.join(root, "possible_answer", f"BFCL_v4_{category}.json"))
    }
    return tuple({**c, "ground_truth": answers[c["id"]]} for c in cases)


class _NoRenaming:
    """Stands in for BFCL's MODEL_CONFIG_MAPPING: no model renames dotted function names here."""

    underscore_to_dot = False

    def __getitem__(self, key: str) -> _NoRenaming:
        return self


@lru_cache(maxsize=1)
def checker_module() -> types.ModuleType:
    """BFCL's AST checker module, loaded from the installed package under a private name (see the docstring)."""
    root = package_dir("bfcl_eval")
    if root is None:
        raise RuntimeError("bfcl-eval is not installed")
    path = os.path.join(root, "eval_checker", "ast_eval", "ast_checker.py")
    stub_name = "bfcl_eval.constants.model_config"
    saved = sys.modules.get(stub_name)
    stub = types.ModuleType(stub_name)
    stub.MODEL_CONFIG_MAPPING = _NoRenaming()  # type: ignore[attr-defined]
    sys.modules[stub_name] = stub
    try:
        spec = importlib.util.spec_from_file_location("agentrl_bfcl_ast_checker", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop(stub_name, None)
        else:
            sys.modules[stub_name] = saved
    module.MODEL_CONFIG_MAPPING = _NoRenaming()  # type: ignore[attr-defined]
    return module


def check_calls(case: dict[str, Any], category: str, calls: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """BFCL's AST verdict (`{"valid": bool, "error": [...], ...}`) on `calls` (`[{name: arguments}]`)."""
    mod = checker_module()
    try:
        return mod.ast_checker(
            case["function"], calls, case["ground_truth"], mod.Language.PYTHON, category, _MODEL_NAME
        )
    except Exception as exc:  # the checker assumes well-typed input; odd model output must not crash it
        return {"valid": False, "error": [f"checker error: {type(exc).__name__}: {exc}"], "error_type": "crash"}


def _convert_schema(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("type", "properties", "items"):
            continue
        out[key] = copy.deepcopy(value)
    bfcl_type = schema.get("type")
    out["type"] = GORILLA_TO_OPENAPI.get(bfcl_type, "string") if isinstance(bfcl_type, str) else "string"
    if bfcl_type == "float":
        out["format"] = "float"
        out["description"] = str(out.get("description", "")) + " This is a float type value."
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _convert_schema(v) for k, v in schema["properties"].items() if isinstance(v, dict)}
    if isinstance(schema.get("items"), dict):
        out["items"] = _convert_schema(schema["items"])
    return out


def to_openai_tool(function: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function doc as an OpenAI function schema (BFCL's type mapping and Python hint)."""
    params = _convert_schema(function.get("parameters") or {"type": "dict", "properties": {}})
    params["type"] = "object"
    params.setdefault("properties", {})
    return {
        "type": "function",
        "function": {
            "name": function["name"],
            "description": str(function.get("description", "")) + PYTHON_HINT,
            "parameters": params,
        },
    }


def _first(values: Any) -> tuple[bool, Any]:
    """(present, value): the first acceptable value of a ground-truth list; "" first means 'omit it'."""
    if not isinstance(values, list) or not values:
        return True, values
    if values[0] == "":
        return False, None
    return True, values[0]


def _oracle_dict(answer: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, values in answer.items():
        present, value = _first(values)
        if present:
            out[key] = value
    return out


def _python_type(doc: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not doc:
        return None, None
    items = doc.get("items") if isinstance(doc.get("items"), dict) else {}
    return doc.get("type"), items.get("type")


def oracle_calls(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The ground truth as tool calls: each parameter takes its first acceptable value, where "" means 'omit it'.

    A required parameter whose first value is "" takes its next value instead, and an undocumented parameter
    that may be omitted is omitted (a few cases need this to pass BFCL's own checker). A dict parameter's
    acceptable value lists acceptable values per key (`{key: [v, ...]}`) and a list of dicts lists them per
    element, so those are built the same way one level down, as BFCL's dict checkers read them.
    """
    docs = {f["name"]: f for f in case["function"]}
    calls = []
    for entry in case["ground_truth"] or []:
        ((name, params),) = entry.items()
        doc_params = docs.get(name, {}).get("parameters", {})
        props = doc_params.get("properties", {})
        required = set(doc_params.get("required", []))
        arguments = {}
        for param, values in params.items():
            if isinstance(values, list) and "" in values and param not in props:
                continue
            if isinstance(values, list) and param in required:
                values = [v for v in values if v != ""] or values
            present, value = _first(values)
            if not present:
                continue
            outer, inner = _python_type(props.get(param))
            if outer == "dict" and isinstance(value, dict):
                value = _oracle_dict(value)
            elif outer in ("array", "tuple") and inner == "dict" and isinstance(value, list):
                value = [_oracle_dict(v) if isinstance(v, dict) else v for v in value]
            arguments[param] = value
        calls.append({"name": name, "arguments": arguments})
    return calls


def oracle_is_valid(case: dict[str, Any], category: str) -> bool:
    """True when the oracle's calls (the ground truth) pass BFCL's checker on this case."""
    if is_irrelevance(category):
        return True
    calls = [{c["name"]: c["arguments"]} for c in oracle_calls(case)]
    return bool(check_calls(case, category, calls).get("valid"))


@lru_cache(maxsize=32)
def load_cases(category: str) -> tuple[dict[str, Any], ...]:
    """The usable cases of a BFCL category (see `dropped_cases`); cached per process."""
    return tuple(c for c in load_all_cases(category) if oracle_is_valid(c, category))


def dropped_cases(category: str) -> list[str]:
    """Ids of the cases left out: their ground truth does not pass BFCL's own checker (data errors, such as an
    empty list of acceptable values or a parameter the function doc does not have)."""
    kept = {c["id"] for c in load_cases(category)}
    return [c["id"] for c in load_all_cases(category) if c["id"] not in kept]


class BFCLEnv(AgentEnv):
    """One BFCL v4 case per episode, judged on the first reply (see the module docstring)."""

    family = "tools"

    def __init__(self, category: str = "simple_python", max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.category = category
        self.cases = load_cases(category)
        self.case: dict[str, Any] = {}

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.case = self.cases[pick_index(self.reset_seed, rng, len(self.cases), self.reset_options)]
        self.tools = [to_openai_tool(f) for f in self.case["function"]]
        turn = self.case["question"][0]
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in turn]

    def oracle_action(self) -> dict[str, Any]:
        if is_irrelevance(self.category):
            return {"content": "None of the provided functions can be used for this request.", "tool_calls": []}
        return {"content": "", "tool_calls": oracle_calls(self.case)}

    def handle(self, action: Action) -> Outcome:
        if action.parse_errors:
            msg = "; ".join(action.parse_errors)[:500]
            return Outcome([user(f"Your tool call could not be parsed: {msg}.")], 0.0, True, errors=["parse error"])
        if is_irrelevance(self.category):
            if action.tool_calls:
                names = ", ".join(c.name for c in action.tool_calls)[:300]
                text = f"Wrong: none of the functions fits this request, but you called {names}."
                return Outcome([user(text)], 0.0, True, errors=["called a function"])
            if not _ABSTAIN.search(action.content):
                text = "No function was called, but the reply did not say that none of the functions can be used."
                return Outcome([user(text)], 0.0, True, errors=["unclear abstention"])
            return Outcome([user("Correct: no function fits this request.")], 1.0, True, True)
        if not action.tool_calls:
            text = "Wrong: this request needed a function call, and the reply made none."
            return Outcome([user(text)], 0.0, True, errors=["no function call"])
        calls = [{c.name: c.arguments} for c in action.tool_calls]
        verdict = check_calls(self.case, self.category, calls)
        if verdict.get("valid"):
            return Outcome([user("Correct function call(s).")], 1.0, True, True, {"ast_valid": 1.0})
        errors = verdict.get("error") or ["invalid"]
        detail = json.dumps(errors, ensure_ascii=False, default=str)[:600]
        text = f"Wrong function call(s) ({verdict.get('error_type', 'invalid')}): {detail}"
        return Outcome([user(text)], 0.0, True, False, {"ast_valid": 0.0}, errors=[str(verdict.get("error_type"))])


def _register() -> None:
    root = data_dir()
    if root is None:
        log.debug("bfcl-eval is not installed; no bench-bfcl-* envs registered")
        return
    for suffix, category in CATEGORIES.items():
        if not os.path.exists(os.path.join(root, f"BFCL_v4_{category}.json")):
            log.debug("bfcl-eval has no %s data; bench-bfcl-%s not registered", category, suffix)
            continue
        kind = "abstain (no function fits)" if is_irrelevance(category) else "call the right function(s)"
        register(
            f"bench-bfcl-{suffix}",
            "environments.bench.bfcl:BFCLEnv",
            family="tools",
            description=f"BFCL v4 {category}: {kind}; BFCL's AST checker decides",
            category=category,
            max_turns=1,
        )


_register()
