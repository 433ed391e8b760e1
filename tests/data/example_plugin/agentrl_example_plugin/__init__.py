"""An example third-party environment package: one env, registered through the `agentrl.environments` entry point."""

from __future__ import annotations

from typing import Any

import numpy as np

from environments import Action, AgentEnv, Outcome, register, user

WORDS = ["lantern", "orbit", "meadow", "quartz", "saddle", "tundra"]


class ShoutEnv(AgentEnv):
    """Reply with the given word in upper case."""

    family = "example"

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.word = WORDS[int(rng.integers(len(WORDS)))]
        return [user(f"Reply with the word '{self.word}' in upper case, nothing else.")]

    def handle(self, action: Action) -> Outcome:
        if action.tool_calls or action.parse_errors:
            return Outcome([user("This task has no tools; just reply with the word.")], errors=["tool call"])
        ok = action.content.strip() == self.word.upper()
        return Outcome([user("Correct." if ok else "Wrong.")], reward=float(ok), terminated=True, success=ok)

    def oracle_action(self) -> dict[str, Any]:
        return {"content": self.word.upper(), "tool_calls": []}


def register_all() -> None:
    register("example-shout", f"{__name__}:ShoutEnv", description="shout a word back", max_turns=2)
