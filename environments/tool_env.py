"""`ToolEnv`: the base for tasks solved by calling Python-function tools and then answering.

An author lists `Tool`s (name, description, JSON-schema parameters, a Python function) and writes
`new_task`, `check_answer(content)` (the verifier for the final, tool-free message) and `oracle_action`.
Tool calls are validated against their schema with `jsonschema`; an unknown tool, bad arguments or an
exception inside the tool becomes an error tool-result message with reward 0, never a raised exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from environments.base import Action, AgentEnv, Outcome, tool_result, user

MAX_TOOL_OUTPUT_CHARS = 4_000


@dataclass
class Tool:
    """A callable tool with an OpenAI function schema."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-schema form shown to the model."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def params(required: dict[str, str], **optional: str) -> dict[str, Any]:
    """A JSON schema of an object with the given `name -> json type` properties (required unless optional)."""
    props = {k: {"type": t} for k, t in {**required, **optional}.items()}
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def call(name: str, **arguments: Any) -> dict[str, Any]:
    """A tool call as it appears in an action."""
    return {"name": name, "arguments": arguments}


def answer(text: str) -> dict[str, Any]:
    """A final-answer action (no tool calls)."""
    return {"content": text, "tool_calls": []}


def format_number(x: float) -> str:
    """A number as a person writes it: integers without '.0', others rounded to 6 significant digits."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.6g}"


def last_number(text: str) -> int | float | None:
    """The last number written in `text` (commas between digit groups allowed): an int when written without a
    decimal point (exact, however long), else a float; None when there is none."""
    found = _NUMBER.findall(text.replace(",", ""))
    if not found:
        return None
    if "." in found[-1] or len(found[-1]) > 300:  # no right answer is that long: inf, not an int that
        return float(found[-1])  # overflows float arithmetic (or breaks Python's 4300-digit int parsing limit)
    return int(found[-1])


def same_number(got: int | float, want: int | float, rel_tol: float = 1e-9) -> bool:
    """Exact for integers, relative tolerance otherwise."""
    if isinstance(got, int) and isinstance(want, int):
        return got == want
    return abs(got - want) <= rel_tol * max(1.0, abs(want))


class ToolEnv(AgentEnv):
    """Tasks solved by tool calls followed by a final answer (a message without tool calls)."""

    family = "tools"

    def __init__(self, tools: list[Tool], max_turns: int = 8, render_mode: str | None = None):
        self.toolbox = {t.name: t for t in tools}
        super().__init__(max_turns=max_turns, render_mode=render_mode, tool_names=tuple(self.toolbox))
        self.tool_calls_made: list[tuple[str, dict[str, Any]]] = []
        self.oracle_plan: list[dict[str, Any]] = []
        """The scripted solution of the current task, one action per turn (set by `new_task`)."""

    def oracle_action(self) -> dict[str, Any]:
        """The next action of `oracle_plan` (tasks whose solution does not depend on tool output order)."""
        if not self.oracle_plan:
            raise NotImplementedError(f"{type(self).__name__} sets no oracle_plan and defines no oracle_action")
        return self.oracle_plan[min(self.turn, len(self.oracle_plan) - 1)]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.tool_calls_made = []
        self.oracle_plan = []
        messages, info = super().reset(seed=seed, options=options)
        if not self.tools:
            self.tools = [t.spec() for t in self.toolbox.values()]
            info["tools"] = self.tools
        return messages, info

    def check_answer(self, content: str) -> Outcome:
        """Verify the final answer (the assistant message without tool calls)."""
        raise NotImplementedError

    def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[str, str | None]:
        """Run one tool call; returns (result text, error or None)."""
        offered = {t["function"]["name"] for t in self.tools}
        tool = self.toolbox.get(name)
        if tool is None or name not in offered:
            return f"error: unknown tool {name!r}; available tools: {', '.join(sorted(offered))}", "unknown tool"
        try:
            jsonschema.validate(arguments, tool.parameters)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "arguments"
            return f"error: bad arguments for {name}: {where}: {exc.message[:300]}", "bad arguments"
        try:
            result = tool.fn(**arguments)
        except Exception as exc:  # a tool failing on odd input is feedback for the model
            return f"error: {name} failed: {type(exc).__name__}: {str(exc)[:300]}", "tool raised"
        self.tool_calls_made.append((name, arguments))
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        if len(text) > MAX_TOOL_OUTPUT_CHARS:
            text = text[:MAX_TOOL_OUTPUT_CHARS] + " ...[truncated]"
        return text, None

    def handle(self, action: Action) -> Outcome:
        if action.parse_errors and not action.tool_calls:
            msg = "; ".join(action.parse_errors)
            return Outcome(
                [user(f"Your tool call could not be parsed: {msg}. Use the documented format.")],
                errors=list(action.parse_errors),
            )
        if not action.tool_calls:
            return self.check_answer(action.content)
        results, errors = [], list(action.parse_errors)
        for call in action.tool_calls[:16]:
            text, err = self.call_tool(call.name, call.arguments)
            results.append(tool_result(call.name, text))
            if err:
                errors.append(f"{call.name}: {err}")
        if len(action.tool_calls) > 16:
            results.append(user("Only the first 16 tool calls of a message are run."))
        return Outcome(results, errors=errors)
