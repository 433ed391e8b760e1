"""Blocksworld: rearrange stacks of lettered blocks into a goal configuration with a written plan.

The task shows a random initial configuration of N blocks (A, B, C, ...) in stacks on a table and a different
random goal configuration. The model answers with a plan, one move per line: `move A onto B` or
`move A onto table` (other lines are commentary). A block can be moved only when nothing is on it, onto the
table or onto another block with nothing on it. The env simulates the plan from the initial state; an
illegal or unreadable move stops the simulation there and the feedback names the line and the reason.
Success (reward 1) iff the final state equals the goal; `goal_fraction` (the share of goal relations
"X is on Y / on the table" that hold in the final state) is reported as partial credit.
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.planning.common import TextTaskEnv, plan_lines, quote
from environments.registry import register

TABLE = "table"
State = dict[str, str]
"""block -> what it sits on (another block or TABLE)."""

_MOVE = re.compile(
    r"^move\s+(?:block\s+)?([a-z])\s*,?\s+(?:onto|on\s+top\s+of|on|to)\s+(?:the\s+)?(?:block\s+)?(table|[a-z])\s*[.;]?$",
    re.IGNORECASE | re.ASCII,
)


def random_stacks(rng: np.random.Generator, blocks: list[str]) -> list[list[str]]:
    """A random configuration: the blocks shuffled and cut into stacks (each listed bottom to top)."""
    order = [blocks[i] for i in rng.permutation(len(blocks))]
    stacks: list[list[str]] = [[order[0]]]
    for b in order[1:]:
        if rng.random() < 0.45:
            stacks.append([b])
        else:
            stacks[-1].append(b)
    return stacks


def to_state(stacks: list[list[str]]) -> State:
    """The on-relation of a list of stacks."""
    state: State = {}
    for stack in stacks:
        for i, b in enumerate(stack):
            state[b] = TABLE if i == 0 else stack[i - 1]
    return state


def to_stacks(state: State) -> list[list[str]]:
    """The stacks (bottom to top) of a state, ordered by their bottom block."""
    above = {v: k for k, v in state.items() if v != TABLE}
    stacks = []
    for bottom in sorted(b for b, s in state.items() if s == TABLE):
        stack = [bottom]
        while stack[-1] in above:
            stack.append(above[stack[-1]])
        stacks.append(stack)
    return stacks


def describe(state: State) -> str:
    """Human-readable stacks, one per line."""
    return "\n".join(
        f"- stack {i}: {', '.join(s)}  ({s[0]} on the table" + (f", {s[-1]} on top)" if len(s) > 1 else ")")
        for i, s in enumerate(to_stacks(state), start=1)
    )


def clear(state: State, block: str) -> bool:
    """Nothing is on `block`."""
    return block not in state.values()


def goal_fraction(state: State, goal: State) -> float:
    """Share of the goal's on-relations that hold in `state`."""
    return sum(state[b] == goal[b] for b in goal) / len(goal)


def solve(state: State, goal: State) -> list[tuple[str, str]]:
    """A correct (not necessarily optimal) plan: put every misplaced block on the table, then build bottom-up.

    A block is well placed when it and everything under it already match the goal; those never move.
    """
    well: set[str] = set()
    for stack in to_stacks(state):
        for i, b in enumerate(stack):
            if state[b] == goal[b] and (i == 0 or stack[i - 1] in well):
                well.add(b)
            else:
                break
    plan: list[tuple[str, str]] = []
    for stack in to_stacks(state):
        for b in reversed(stack):
            if b in well:
                break
            if state[b] != TABLE:
                plan.append((b, TABLE))
    for stack in to_stacks(goal):
        for b in stack:
            if b not in well and goal[b] != TABLE:
                plan.append((b, goal[b]))
    return plan


class BlocksworldEnv(TextTaskEnv):
    """Write a plan that turns the initial block stacks into the goal stacks (verified by simulation)."""

    format_hint = "Write your plan with one move per line, e.g. `move A onto B` or `move A onto table`."

    def __init__(self, n_blocks: int = 4, max_turns: int = 3, attempts: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, attempts=attempts, render_mode=render_mode)
        if not 2 <= n_blocks <= 26:
            raise ValueError(f"n_blocks must be in [2, 26], got {n_blocks}")
        self.n_blocks = int(n_blocks)
        self.blocks = list(string.ascii_uppercase[: self.n_blocks])
        self.initial: State = {}
        self.goal: State = {}

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.initial = to_state(random_stacks(rng, self.blocks))
        self.goal = self.initial
        while self.goal == self.initial:
            self.goal = to_state(random_stacks(rng, self.blocks))
        text = (
            f"Blocksworld with {self.n_blocks} blocks ({', '.join(self.blocks)}). Stacks are listed bottom to top.\n\n"
            f"Initial state:\n{describe(self.initial)}\n\nGoal state:\n{describe(self.goal)}\n\n"
            "Rules: you may move a block only if no block is on top of it, and only onto the table or onto a block "
            "that has nothing on top of it. Write a plan that turns the initial state into the goal state, one move "
            "per line, using exactly the form `move X onto Y` (Y a block) or `move X onto table`. Lines that do "
            "not start with `move` are ignored. The plan is checked by simulating it from the initial state."
        )
        return [user(text)]

    def simulate(self, content: str) -> tuple[State, int, str]:
        """Run the plan; returns (final state, moves applied, error or '' if every move was legal)."""
        state = dict(self.initial)
        applied = 0
        for number, line in plan_lines(content):
            where = f"Line {number} (`{quote(line)}`)"
            m = _MOVE.match(line)
            if not m:
                return state, applied, f"{where} is not a move of the form `move X onto Y` / `move X onto table`."
            block, target = m.group(1).upper(), m.group(2)
            target = TABLE if target.lower() == TABLE else target.upper()
            for name in (block, target):
                if name != TABLE and name not in state:
                    return state, applied, f"{where}: there is no block {name}."
            if block == target:
                return state, applied, f"{where}: a block cannot be moved onto itself."
            if not clear(state, block):
                top = next(b for b, s in state.items() if s == block)
                return state, applied, f"{where}: {block} cannot be moved because {top} is on top of it."
            if target != TABLE and not clear(state, target):
                top = next(b for b, s in state.items() if s == target)
                return state, applied, f"{where}: {block} cannot go onto {target} because {top} is on top of {target}."
            if state[block] == target:
                return state, applied, f"{where}: {block} is already on {'the table' if target == TABLE else target}."
            state[block] = target
            applied += 1
        return state, applied, ""

    def handle_text(self, content: str) -> Outcome:
        if not plan_lines(content):
            return self.format_error("No moves found in your answer.")
        state, applied, error = self.simulate(content)
        frac = goal_fraction(state, self.goal)
        components = {"goal_fraction": frac, "moves_applied": float(applied)}
        if error:
            return self.verdict(
                False,
                f"Illegal plan. {error} {applied} move(s) were applied before it; "
                f"{frac:.0%} of the goal relations hold at that point.",
                components,
                "illegal move",
            )
        if state == self.goal:
            return self.verdict(True, f"Correct: the {applied}-move plan reaches the goal state.", components)
        return self.verdict(
            False,
            f"All {applied} moves are legal, but the final state is not the goal:\n"
            f"{describe(state)}\n{frac:.0%} of the goal relations hold.",
            components,
            "goal not reached",
        )

    def oracle_action(self) -> dict[str, Any]:
        plan = solve(self.initial, self.goal)
        lines = [f"move {b} onto {t}" for b, t in plan]
        if any(t == TABLE for _, t in plan):
            intro = (
                "I'll first move every block that is not already in its final position onto the table, "
                "then build the goal stacks from the bottom up."
            )
        else:
            intro = "Every block I need to move is already clear, so I can build the goal stacks from the bottom up."
        return {"content": intro + "\n\n" + "\n".join(lines)}


_EP = "environments.planning.blocksworld:BlocksworldEnv"
register(
    "plan-blocksworld-3",
    _EP,
    family="planning",
    n_blocks=3,
    max_turns=3,
    description="Blocksworld, 3 blocks: write a plan of `move X onto Y` lines, verified by simulation.",
)
register(
    "plan-blocksworld-5",
    _EP,
    family="planning",
    n_blocks=5,
    max_turns=3,
    description="Blocksworld, 5 blocks: write a plan of `move X onto Y` lines, verified by simulation.",
)
register(
    "plan-blocksworld-7",
    _EP,
    family="planning",
    n_blocks=7,
    max_turns=4,
    attempts=2,
    description="Blocksworld, 7 blocks, two attempts: a plan of `move X onto Y` lines, verified by simulation.",
)
