"""Shared base of the planning envs: tasks answered in plain text (plans, moves, time slots), with no tools.

`TextTaskEnv.handle` turns tool calls, unparsable tool calls and empty messages into feedback (reward 0, the
episode goes on), and passes the text of every other message to `handle_text`. `verdict` builds the outcome of a
checked submission: success ends the episode with reward 1; a failure ends it with reward 0 once `attempts`
submissions have failed, and otherwise asks for another try. Rewards are paid only on the terminating step.
"""

from __future__ import annotations

import re
from typing import Any

from environments.base import Action, AgentEnv, Outcome, user

MAX_QUOTE_CHARS = 80
_BULLET = re.compile(r"^\s*(?:[-*+\u2022>]+|\(?[0-9]{1,4}[.):]|step\s+[0-9]{1,4}\s*[.):]?)?\s*", re.IGNORECASE)


def quote(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """`text` shortened to `limit` characters for feedback (a model's line may be 100k characters long)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plan_lines(content: str, keyword: str = "move") -> list[tuple[int, str]]:
    """The lines of `content` that start with `keyword` once list markers, numbering and markdown are removed.

    Returns (1-based line number in the content, cleaned line) pairs; other lines are commentary and ignored.
    """
    out = []
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.replace("`", "").replace("**", "").strip()
        line = _BULLET.sub("", line, count=1).strip()
        if re.match(rf"{keyword}\b", line, re.IGNORECASE):
            out.append((number, line))
    return out


def clock(minutes: int) -> str:
    """Minutes after midnight as HH:MM."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class TextTaskEnv(AgentEnv):
    """A planning task answered in plain text; subclasses write `new_task`, `handle_text` and `oracle_action`."""

    family = "planning"
    format_hint = "Answer in plain text as the task describes."
    """One sentence reminding the model of the answer format (used in feedback)."""

    def __init__(self, max_turns: int = 3, attempts: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.attempts = int(attempts)
        self.failed_attempts = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, str]], dict[str, Any]]:
        self.failed_attempts = 0
        return super().reset(seed=seed, options=options)

    def handle_text(self, content: str) -> Outcome:
        """Check the text of a (tool-free, non-empty) assistant message."""
        raise NotImplementedError

    def handle(self, action: Action) -> Outcome:
        if action.tool_calls or action.parse_errors:
            names = sorted({c.name for c in action.tool_calls})
            what = f"tool call(s) to {', '.join(quote(n, 40) for n in names)}" if names else "an unparsable tool call"
            return Outcome(
                [user(f"This task has no tools, but your message contained {what}. {self.format_hint}")],
                errors=["tool call in a tool-free task", *action.parse_errors],
            )
        if not action.content.strip():
            return Outcome([user(f"Your message was empty. {self.format_hint}")], errors=["empty message"])
        return self.handle_text(action.content)

    def format_error(self, problem: str) -> Outcome:
        """Feedback for a message with no recognisable answer (reward 0; does not use up an attempt)."""
        return Outcome([user(f"{problem} {self.format_hint}")], errors=[problem])

    def verdict(self, success: bool, feedback: str, components: dict[str, float], error: str = "") -> Outcome:
        """The outcome of a checked submission (see the module docstring)."""
        if success:
            return Outcome([user(feedback)], reward=1.0, terminated=True, success=True, components=components)
        self.failed_attempts += 1
        errors = [error or "wrong answer"]
        left = self.attempts - self.failed_attempts
        if left <= 0:
            return Outcome(
                [user(f"{feedback} The episode is over.")], terminated=True, components=components, errors=errors
            )
        plural = "s" if left > 1 else ""
        return Outcome(
            [user(f"{feedback} Try again ({left} attempt{plural} left).")], components=components, errors=errors
        )
