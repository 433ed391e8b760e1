"""Tower of Hanoi: write the list of moves that gathers all disks on the target peg, verified by simulation.

Disks 1 (smallest) to n sit on pegs A, B and C. In the standard variant they all start on one peg, drawn
from the seed, and must go to another drawn peg; in the `scrambled` variant every disk starts on a random peg
(a legal position). The model answers with one move per line, `move disk 2 from A to C` (the disk number may
be left out: `move from A to C`; when given it must be the top disk of the source peg). A move is legal when
the source peg is not empty and its top disk is smaller than the target peg's top disk. The env simulates the
moves; an illegal or unreadable line stops there and the feedback names the line and the reason. Success
(reward 1) iff every disk ends on the target peg; `disks_on_target` (share of disks there at the end, or where
the simulation stopped) is reported as partial credit.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.planning.common import TextTaskEnv, plan_lines, quote
from environments.registry import register

PEGS = ("A", "B", "C")
Pegs = dict[str, list[int]]
"""peg -> disks bottom to top (larger numbers are larger disks)."""

_MOVE = re.compile(
    r"^move\s+(?:(?:disk\s+)?#?([0-9]{1,6})\s+)?from\s+(?:peg\s+)?([abc])\s+(?:to|onto)\s+(?:peg\s+)?([abc])\s*[.;]?$",
    re.IGNORECASE | re.ASCII,
)


def solve(pegs: Pegs, target: str) -> list[tuple[int, str, str]]:
    """An optimal plan from any legal position: (disk, from, to) moves that gather every disk on `target`."""
    where = {d: p for p, disks in pegs.items() for d in disks}
    moves: list[tuple[int, str, str]] = []

    def gather(k: int, dest: str) -> None:  # put disks 1..k on `dest`, in order
        if k == 0:
            return
        if where[k] == dest:
            gather(k - 1, dest)
            return
        spare = next(p for p in PEGS if p not in (where[k], dest))
        gather(k - 1, spare)
        moves.append((k, where[k], dest))
        where[k] = dest
        gather(k - 1, dest)

    gather(len(where), target)
    return moves


def describe(pegs: Pegs) -> str:
    """One line per peg, disks bottom to top."""
    return "\n".join(f"- peg {p}: {', '.join(map(str, pegs[p])) if pegs[p] else '(empty)'}" for p in PEGS)


class HanoiEnv(TextTaskEnv):
    """Write the moves that bring every disk onto the target peg without ever putting a disk on a smaller one."""

    format_hint = "Write one move per line in the form `move disk 1 from A to C`."

    def __init__(
        self,
        n_disks: int = 3,
        scrambled: bool = False,
        max_turns: int = 3,
        attempts: int = 1,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, attempts=attempts, render_mode=render_mode)
        if not 1 <= n_disks <= 10:
            raise ValueError(f"n_disks must be in [1, 10], got {n_disks}")
        self.n_disks = int(n_disks)
        self.scrambled = bool(scrambled)
        self.initial: Pegs = {}
        self.target = "C"

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        disks = range(self.n_disks, 0, -1)
        while True:
            self.target = PEGS[int(rng.integers(3))]
            if self.scrambled:
                homes = {d: PEGS[int(rng.integers(3))] for d in disks}
            else:
                source = PEGS[(PEGS.index(self.target) + 1 + int(rng.integers(2))) % 3]
                homes = {d: source for d in disks}
            self.initial = {p: [d for d in disks if homes[d] == p] for p in PEGS}
            if len(self.initial[self.target]) < self.n_disks:
                break
        text = (
            f"Tower of Hanoi with {self.n_disks} disks, numbered 1 (smallest) to {self.n_disks} (largest), on pegs "
            f"A, B and C. Disks are listed bottom to top.\n\nStart:\n{describe(self.initial)}\n\n"
            f"Goal: all {self.n_disks} disks on peg {self.target}.\n\n"
            "Rules: move one disk at a time, always the top disk of a peg, and never put a disk on top of a smaller "
            "disk. Write the complete list of moves, one per line, in the form `move disk 1 from A to C`. Lines "
            "that do not start with `move` are ignored. The moves are checked by simulating them from the start."
        )
        return [user(text)]

    def simulate(self, content: str) -> tuple[Pegs, int, str]:
        """Run the moves; returns (final pegs, moves applied, error or '' if every move was legal)."""
        pegs = {p: list(d) for p, d in self.initial.items()}
        applied = 0
        for number, line in plan_lines(content):
            where = f"Line {number} (`{quote(line)}`)"
            m = _MOVE.match(line)
            if not m:
                return pegs, applied, f"{where} is not a move of the form `move disk N from X to Y`."
            disk, src, dst = m.group(1), m.group(2).upper(), m.group(3).upper()
            if src == dst:
                return pegs, applied, f"{where}: the source and target pegs are the same."
            if not pegs[src]:
                return pegs, applied, f"{where}: peg {src} is empty."
            top = pegs[src][-1]
            if disk is not None and int(disk) != top:
                return pegs, applied, f"{where}: the top disk of peg {src} is disk {top}, not disk {int(disk)}."
            if pegs[dst] and pegs[dst][-1] < top:
                return pegs, applied, f"{where}: disk {top} cannot go on the smaller disk {pegs[dst][-1]} on peg {dst}."
            pegs[dst].append(pegs[src].pop())
            applied += 1
        return pegs, applied, ""

    def handle_text(self, content: str) -> Outcome:
        if not plan_lines(content):
            return self.format_error("No moves found in your answer.")
        pegs, applied, error = self.simulate(content)
        frac = len(pegs[self.target]) / self.n_disks
        components = {"disks_on_target": frac, "moves_applied": float(applied)}
        if error:
            return self.verdict(
                False, f"Illegal move. {error} {applied} move(s) were applied before it.", components, "illegal move"
            )
        if frac == 1.0:
            optimal = len(solve(self.initial, self.target))
            components["efficiency"] = optimal / max(applied, 1)
            return self.verdict(True, f"Correct: all disks are on peg {self.target} after {applied} moves.", components)
        return self.verdict(
            False,
            f"All {applied} moves are legal, but not every disk is on peg {self.target}:\n{describe(pegs)}",
            components,
            "goal not reached",
        )

    def oracle_action(self) -> dict[str, Any]:
        moves = solve(self.initial, self.target)
        lines = [f"move disk {d} from {a} to {b}" for d, a, b in moves]
        intro = (
            f"To put disk k on peg {self.target}, I first move the smaller disks out of the way onto the spare "
            f"peg, then move disk k, then bring the smaller disks back on top of it. That gives "
            f"{len(moves)} moves:"
        )
        return {"content": intro + "\n\n" + "\n".join(lines)}


_EP = "environments.planning.hanoi:HanoiEnv"
register(
    "plan-hanoi-3",
    _EP,
    family="planning",
    n_disks=3,
    max_turns=3,
    description="Tower of Hanoi, 3 disks from one peg to another: a list of moves, verified by simulation.",
)
register(
    "plan-hanoi-4",
    _EP,
    family="planning",
    n_disks=4,
    max_turns=3,
    description="Tower of Hanoi, 4 disks from one peg to another: a list of moves, verified by simulation.",
)
register(
    "plan-hanoi-5-scrambled",
    _EP,
    family="planning",
    n_disks=5,
    scrambled=True,
    max_turns=3,
    description="Tower of Hanoi, 5 disks from a random legal position onto one peg: moves, verified by simulation.",
)
