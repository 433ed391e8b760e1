"""Gymnasium spaces for chat environments, so gymnasium's own checker can run on every env.

- `ChatMessages`: an observation, a list of `{role, content}` messages (tool results carry `name`).
- `AssistantAction`: an action, `{content: str, tool_calls: [{name: str, arguments: dict}]}` with an optional
  `parse_errors: [str]` (what the rollout could not read as a tool call). `sample()` draws random text and
  tool calls, including calls to unknown tools and arguments of wrong types, which is what fuzzing needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

ROLES = ("system", "user", "assistant", "tool")
_ALPHABET = list("abcdefghijklmnopqrstuvwxyz0123456789 ,.:;{}[]\"'()-+*/=_\n") + ["é", "ß", "中", "🙂", "\u200b"]


def _random_text(rng: np.random.Generator, max_len: int = 24) -> str:
    n = int(rng.integers(0, max_len + 1))
    return "".join(_ALPHABET[i] for i in rng.integers(0, len(_ALPHABET), size=n))


class ChatMessages(spaces.Space[list]):
    """A list of chat messages: dicts with a known `role` and a string `content`."""

    def __init__(self, roles: Sequence[str] = ROLES, seed: int | np.random.Generator | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.roles = tuple(roles)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        n = int(self.np_random.integers(1, 3))
        return [
            {"role": self.roles[int(self.np_random.integers(len(self.roles)))], "content": _random_text(self.np_random)}
            for _ in range(n)
        ]

    def contains(self, x: Any) -> bool:
        if not isinstance(x, list):
            return False
        for m in x:
            if not isinstance(m, dict) or m.get("role") not in self.roles or not isinstance(m.get("content"), str):
                return False
            if not set(m) <= {"role", "content", "name", "tool_call_id"}:
                return False
        return True

    def __repr__(self) -> str:
        return f"ChatMessages(roles={self.roles})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatMessages) and other.roles == self.roles


class AssistantAction(spaces.Space[dict]):
    """An assistant message as structured content: `{content, tool_calls[, parse_errors]}`."""

    def __init__(self, tool_names: Sequence[str] = (), seed: int | np.random.Generator | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.tool_names = tuple(tool_names)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def _random_value(self) -> Any:
        kind = int(self.np_random.integers(5))
        if kind == 0:
            return int(self.np_random.integers(-1000, 1000))
        if kind == 1:
            return float(self.np_random.normal())
        if kind == 2:
            return _random_text(self.np_random, 8)
        if kind == 3:
            return None
        return [int(v) for v in self.np_random.integers(0, 9, size=2)]

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        calls = []
        for _ in range(int(self.np_random.integers(0, 3))):
            names = [*self.tool_names, "no_such_tool"]
            name = names[int(self.np_random.integers(len(names)))]
            keys = ["a", "b", "x", "query", "code", "item"]
            args = {keys[int(i)]: self._random_value() for i in self.np_random.integers(0, len(keys), size=2)}
            calls.append({"name": name, "arguments": args})
        return {"content": _random_text(self.np_random, 40), "tool_calls": calls}

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or not isinstance(x.get("content"), str):
            return False
        calls = x.get("tool_calls", [])
        if not isinstance(calls, list):
            return False
        for c in calls:
            if (
                not isinstance(c, dict)
                or not isinstance(c.get("name"), str)
                or not isinstance(c.get("arguments"), dict)
            ):
                return False
        errors = x.get("parse_errors", [])
        return isinstance(errors, list) and all(isinstance(e, str) for e in errors)

    def __repr__(self) -> str:
        return f"AssistantAction(tools={self.tool_names})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssistantAction) and other.tool_names == self.tool_names
