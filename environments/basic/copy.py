"""Copy a string from the prompt exactly: the skill every tool task leans on.

A tool call copies operands out of the user's message (`Compute 830 + 177.` -> `{"expression": "830 + 177"}`)
and an answer copies the result out of the tool's message. A policy from random init learns that copying (an
attention "induction" pattern) slowly from tool demonstrations alone, where a handful of digits per ~180-token
demo carry it; these tasks are nothing but copying, so a short SFT phase on them teaches it in a few hundred
steps (docs/sft.md, "Curriculum"). Success means the reply, stripped of surrounding whitespace, equals the string.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.base import Action, AgentEnv, Outcome, user
from environments.planning.common import quote
from environments.registry import register


class CopyEnv(AgentEnv):
    """Reply with `items` random integers of 1..`digits` digits (`min_digits` at least), joined by operators
    from `ops` (an expression) or by single spaces when `ops` is empty, copied exactly. With `signed`, each
    integer is negative with probability 1/2."""

    family = "basic"

    def __init__(
        self,
        items: int = 2,
        digits: int = 3,
        min_digits: int | None = None,
        ops: str = "+-",
        signed: bool = False,
        template: str = "Copy exactly: {text}",
        max_turns: int = 1,
        **kw: Any,
    ):
        min_digits = digits if min_digits is None else min_digits
        if items < 1 or not 1 <= min_digits <= digits or not set(ops) <= set("+-*"):
            raise ValueError("items >= 1, 1 <= min_digits <= digits, ops a subset of '+-*'")
        if "{text}" not in template:
            raise ValueError("template must contain '{text}', where the string to copy goes")
        self.items, self.digits, self.min_digits, self.ops, self.template = items, digits, min_digits, ops, template
        self.signed = signed
        super().__init__(max_turns=max_turns, **kw)

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        parts = []
        for i in range(self.items):
            d = int(rng.integers(self.min_digits, self.digits + 1))
            if i and self.ops:
                parts.append(self.ops[int(rng.integers(len(self.ops)))])
            n = int(rng.integers(10 ** (d - 1) if d > 1 else 0, 10**d))
            parts.append(str(-n if self.signed and rng.random() < 0.5 else n))
        self.target = " ".join(parts)
        return [user(self.template.replace("{text}", self.target))]  # other braces stay literal

    def handle(self, action: Action) -> Outcome:
        if action.tool_calls:
            return Outcome(
                [user("There are no tools here; reply with the text only.")],
                terminated=True,
                errors=["tool call in a task without tools"],
            )
        ok = action.content.strip() == self.target
        feedback = "Correct." if ok else f"Incorrect: {quote(action.content)!r} is not {self.target!r}."
        return Outcome([user(feedback)], reward=float(ok), terminated=True, success=ok)

    def oracle_action(self) -> dict[str, Any]:
        return {"content": self.target}


MODULE = f"{__name__}:CopyEnv"
register(
    "basic-copy-expression",
    MODULE,
    description="copy the expression of a tools-calculator-easy task ('A + B', two 3-digit numbers)",
    items=2,
    digits=3,
    template="Compute {text}.",
)
register(
    "basic-copy-result",
    MODULE,
    description="copy one signed number of 1-4 digits, like a tools-calculator-easy result into the answer",
    items=1,
    digits=4,
    min_digits=1,
    signed=True,
    template="Reply with {text}.",
)
register(
    "basic-copy-numbers",
    MODULE,
    description="copy 6 numbers of 1-5 digits separated by spaces",
    items=6,
    digits=5,
    min_digits=1,
    ops="",
)
