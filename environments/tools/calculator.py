"""Multi-digit arithmetic that needs a calculator tool.

The task is an expression over several multi-digit integers; the `calculate` tool evaluates an arithmetic
expression (integers, + - * / and parentheses, evaluated with a small AST walker, never `eval`). The final
answer is the last number in the assistant's tool-free message; success means it equals the exact value.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.registry import register
from environments.tool_env import Tool, ToolEnv, answer, call, format_number, last_number, params, same_number

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
MAX_MAGNITUDE = 10**30


def safe_eval(expression: str) -> float:
    """Evaluate + - * / and parentheses over numbers; ValueError for anything else."""
    if len(expression) > 500:
        raise ValueError("expression longer than 500 characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression ({exc.msg})") from None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = walk(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ValueError("division by zero")
            value = _OPS[type(node.op)](left, right)
            if abs(value) > MAX_MAGNITUDE:
                raise ValueError("result too large")
            return value
        raise ValueError(f"unsupported element {type(node).__name__}; use numbers, + - * / and parentheses")

    return walk(tree)


def calculator_tool() -> Tool:
    """The `calculate` tool."""

    def calculate(expression: str) -> str:
        return format_number(safe_eval(expression))

    return Tool(
        "calculate",
        "Evaluate an arithmetic expression with + - * / and parentheses, e.g. '(12 + 7) * 3'.",
        params({"expression": "string"}),
        calculate,
    )


class CalculatorEnv(ToolEnv):
    """Compute an expression of `terms` integers with `digits` digits each, using the calculator."""

    def __init__(self, terms: int = 2, digits: int = 3, ops: str = "+-*", max_turns: int = 4, **kw: Any):
        if terms < 2 or digits < 1 or not set(ops) <= set("+-*"):
            raise ValueError("terms >= 2, digits >= 1, ops a subset of '+-*'")
        self.terms, self.digits, self.ops = terms, digits, ops
        super().__init__([calculator_tool()], max_turns=max_turns, **kw)

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        lo, hi = 10 ** (self.digits - 1), 10**self.digits
        nums = [int(rng.integers(lo, hi)) for _ in range(self.terms)]
        ops = [self.ops[int(rng.integers(len(self.ops)))] for _ in range(self.terms - 1)]
        expr = str(nums[0])
        for op, n in zip(ops, nums[1:], strict=True):
            # parenthesise the running expression now and then so precedence matters
            expr = f"({expr}) {op} {n}" if op == "*" and rng.random() < 0.5 else f"{expr} {op} {n}"
        self.expression = expr
        self.target = safe_eval(expr)
        self.oracle_plan = [
            {"content": "I'll use the calculator.", "tool_calls": [call("calculate", expression=expr)]},
            answer(f"{expr} = {format_number(self.target)}. The answer is {format_number(self.target)}."),
        ]
        return [
            user(
                f"Compute {expr}. Use the calculate tool for the arithmetic, then reply with the final "
                "number (a message without tool calls ends the task)."
            )
        ]

    def check_answer(self, content: str) -> Outcome:
        got = last_number(content)
        used = any(name == "calculate" for name, _ in self.tool_calls_made)
        if got is None:
            return Outcome(
                [user("No number found in your answer.")],
                terminated=True,
                components={"correct": 0.0, "used_tool": float(used)},
                errors=["no number in answer"],
            )
        ok = same_number(got, self.target)
        return Outcome(
            [user("Correct." if ok else f"Incorrect: {format_number(got)} is not the value of the expression.")],
            reward=1.0 if ok else 0.0,
            terminated=True,
            success=ok,
            components={"correct": float(ok), "used_tool": float(used)},
        )


MODULE = f"{__name__}:CalculatorEnv"
register(
    "tools-calculator-easy",
    MODULE,
    description="a + b or a - b with 3-digit numbers",
    terms=2,
    digits=3,
    ops="+-",
    max_turns=4,
)
register("tools-calculator-medium", MODULE, description="3 terms, 4 digits, + - *", terms=3, digits=4, max_turns=4)
register(
    "tools-calculator-hard",
    MODULE,
    description="4 terms, 5 digits, + - * with parentheses",
    terms=4,
    digits=5,
    max_turns=5,
)
