"""Meeting scheduling: find a slot of the required length when every attendee is free and all constraints hold.

Each task has `n_people` attendees with busy intervals during working hours 09:00-17:00, a meeting length, and
(for harder configs) extra constraints: a person who cannot meet before some time, a latest end time, or a
lunch break to avoid. The generator first hides a valid slot and draws busy times and constraints around it,
so a solution always exists; with `max_solutions` it then adds busy times until at most that many slots on
the `granularity`-minute grid remain. The model answers with a line `Meeting: HH:MM-HH:MM` (24-hour clock; the last
time range in the message counts). Success (reward 1) iff the slot has the required length, lies within
working hours, overlaps no busy interval (touching ends is fine) and satisfies every extra constraint;
`constraints_met` (the share of those checks passed) is reported as partial credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.planning.common import TextTaskEnv, clock
from environments.registry import register

DAY_START, DAY_END = 9 * 60, 17 * 60
LUNCH = (12 * 60, 13 * 60)
NAMES = ("Alice", "Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
Interval = tuple[int, int]

_TIME = r"([0-9]{1,2})\s*[:.h]\s*([0-9]{2})\s*(am|pm|a\.m\.|p\.m\.)?"
_RANGE = re.compile(rf"{_TIME}\s*(?:-|\u2013|\u2014|to|until|till)\s*{_TIME}", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Constraint:
    """An extra hard constraint on the meeting slot [start, end)."""

    kind: str
    """'not_before' (start >= t), 'end_by' (end <= t) or 'avoid' (no overlap with [t, t2))."""
    t: int
    t2: int = 0
    who: str = ""

    def ok(self, start: int, end: int) -> bool:
        """Whether the slot satisfies this constraint."""
        if self.kind == "not_before":
            return start >= self.t
        if self.kind == "end_by":
            return end <= self.t
        return end <= self.t or start >= self.t2

    def text(self) -> str:
        """The constraint as the task states it."""
        if self.kind == "not_before":
            return f"{self.who} cannot meet before {clock(self.t)}."
        if self.kind == "end_by":
            return f"{self.who} has to leave at {clock(self.t)}, so the meeting must end by then."
        return f"The meeting must not overlap the lunch break {clock(self.t)}-{clock(self.t2)}."


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, merged intervals."""
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def overlaps(a: Interval, b: Interval) -> bool:
    """Half-open intervals share some time."""
    return a[0] < b[1] and b[0] < a[1]


def parse_time(hour: str, minute: str, suffix: str | None) -> int | None:
    """Minutes after midnight, or None if not a valid clock time."""
    h, m = int(hour), int(minute)
    if suffix:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if suffix.lower().startswith("p") else 0)
    if h > 23 or m > 59:
        return None
    return h * 60 + m


class MeetingEnv(TextTaskEnv):
    """Pick a meeting slot that fits every attendee's calendar and the extra constraints."""

    format_hint = "Answer with a line `Meeting: HH:MM-HH:MM` (24-hour clock)."

    def __init__(
        self,
        n_people: int = 3,
        duration: int = 30,
        granularity: int = 30,
        busy_per_person: tuple[int, int] = (2, 4),
        n_constraints: int = 0,
        max_solutions: int | None = None,
        max_turns: int = 3,
        attempts: int = 1,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, attempts=attempts, render_mode=render_mode)
        if not 1 <= n_people <= len(NAMES):
            raise ValueError(f"n_people must be in [1, {len(NAMES)}], got {n_people}")
        if granularity <= 0 or duration <= 0 or duration % granularity or duration > DAY_END - DAY_START:
            raise ValueError("duration must be a positive multiple of granularity that fits in the working day")
        self.n_people, self.duration, self.granularity = int(n_people), int(duration), int(granularity)
        self.busy_per_person = (int(busy_per_person[0]), int(busy_per_person[1]))
        self.n_constraints = int(n_constraints)
        self.max_solutions = max_solutions
        self.people: list[str] = []
        self.busy: dict[str, list[Interval]] = {}
        self.constraints: list[Constraint] = []

    # --- generation -------------------------------------------------------------------------------------------
    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        grid = list(range(DAY_START, DAY_END - self.duration + 1, self.granularity))
        s = grid[int(rng.integers(len(grid)))]
        hidden = (s, s + self.duration)
        self.people = [NAMES[int(i)] for i in sorted(rng.choice(len(NAMES), size=self.n_people, replace=False))]
        self.busy = {}
        for p in self.people:
            spans = []
            for _ in range(int(rng.integers(self.busy_per_person[0], self.busy_per_person[1] + 1))):
                a = DAY_START + self.granularity * int(rng.integers((DAY_END - DAY_START) // self.granularity))
                b = min(DAY_END, a + self.granularity * int(rng.integers(1, max(2, 90 // self.granularity + 1))))
                if not overlaps((a, b), hidden):
                    spans.append((a, b))
            self.busy[p] = merge(spans)
        self.constraints = []
        kinds = ["not_before", "end_by", "avoid"]
        for i in rng.permutation(3)[: self.n_constraints]:
            kind, who = kinds[int(i)], self.people[int(rng.integers(self.n_people))]
            if kind == "not_before" and s > DAY_START:
                t = DAY_START + self.granularity * int(rng.integers(1, (s - DAY_START) // self.granularity + 1))
                self.constraints.append(Constraint(kind, t, who=who))
            elif kind == "end_by" and hidden[1] < DAY_END:
                t = hidden[1] + self.granularity * int(rng.integers(0, (DAY_END - hidden[1]) // self.granularity))
                self.constraints.append(Constraint(kind, t, who=who))
            elif kind == "avoid" and not overlaps(hidden, LUNCH):
                self.constraints.append(Constraint(kind, *LUNCH))
        if self.max_solutions is not None:
            self._narrow(rng, hidden)
        return [user(self.statement())]

    def _narrow(self, rng: np.random.Generator, hidden: Interval) -> None:
        """Add short busy intervals outside the hidden slot until at most `max_solutions` grid slots remain."""
        while True:
            others = [slot for slot in self.grid_solutions() if slot != hidden]
            if len(others) + 1 <= max(1, int(self.max_solutions or 1)):
                return
            a, b = others[int(rng.integers(len(others)))]
            block = (a, a + self.granularity) if a < hidden[0] else (b - self.granularity, b)
            p = self.people[int(rng.integers(self.n_people))]
            self.busy[p] = merge([*self.busy[p], block])

    def statement(self) -> str:
        """The task text."""
        names = ", ".join(self.people[:-1]) + (" and " if len(self.people) > 1 else "") + self.people[-1]
        lines = [
            f"Schedule a {self.duration}-minute meeting today for {names}. Working hours are "
            f"{clock(DAY_START)}-{clock(DAY_END)}, and the meeting must lie entirely within them.",
            "",
            "Busy times (a meeting may start exactly when a busy interval ends, or end exactly when one starts):",
        ]
        for p in self.people:
            spans = ", ".join(f"{clock(a)}-{clock(b)}" for a, b in self.busy[p])
            lines.append(f"- {p}: {spans or 'free all day'}")
        if self.constraints:
            lines += ["", "Other constraints:", *(f"- {c.text()}" for c in self.constraints)]
        lines += [
            "",
            "Give the start and end time of a slot that works for everyone, on a line of the form "
            "`Meeting: HH:MM-HH:MM` (24-hour clock).",
        ]
        return "\n".join(lines)

    # --- verification -----------------------------------------------------------------------------------------
    def checks(self, start: int, end: int) -> list[tuple[bool, str]]:
        """Every constraint check of a proposed slot: (passed, what failed)."""
        out = [
            (end - start == self.duration, f"the slot lasts {end - start} minutes, not {self.duration}"),
            (
                DAY_START <= start and end <= DAY_END and start < end,
                f"the slot is not within working hours {clock(DAY_START)}-{clock(DAY_END)}",
            ),
        ]
        for p in self.people:
            clash = [iv for iv in self.busy[p] if overlaps((start, end), iv)]
            out.append((not clash, f"{p} is busy {', '.join(f'{clock(a)}-{clock(b)}' for a, b in clash)}"))
        for c in self.constraints:
            out.append((c.ok(start, end), f"it breaks the constraint: {c.text()}"))
        return out

    def grid_solutions(self) -> list[Interval]:
        """Valid slots starting on the `granularity` grid, earliest first."""
        slots = [(a, a + self.duration) for a in range(DAY_START, DAY_END - self.duration + 1, self.granularity)]
        return [s for s in slots if all(ok for ok, _ in self.checks(*s))]

    def handle_text(self, content: str) -> Outcome:
        found = list(_RANGE.finditer(content))
        if not found:
            return self.format_error("No time range found in your answer.")
        m = found[-1]
        start, end = parse_time(*m.group(1, 2, 3)), parse_time(*m.group(4, 5, 6))
        if start is None or end is None:
            return self.format_error(f"`{m.group(0)[:40]}` is not a valid time range.")
        checks = self.checks(start, end)
        failed = [why for ok, why in checks if not ok]
        components = {"constraints_met": sum(ok for ok, _ in checks) / len(checks)}
        slot = f"{clock(start)}-{clock(end)}"
        if not failed:
            return self.verdict(True, f"{slot} works for everyone. Meeting scheduled.", components)
        return self.verdict(False, f"{slot} does not work: {'; '.join(failed)}.", components, "constraint violated")

    def oracle_action(self) -> dict[str, Any]:
        a, b = self.grid_solutions()[0]
        extra = " and meets every other constraint" if self.constraints else ""
        return {
            "content": f"The earliest {self.duration}-minute slot where all attendees are free is "
            f"{clock(a)}-{clock(b)}; it lies within working hours{extra}.\n\n"
            f"Meeting: {clock(a)}-{clock(b)}"
        }


_EP = "environments.planning.meeting:MeetingEnv"
register(
    "plan-meeting-easy",
    _EP,
    family="planning",
    n_people=3,
    duration=30,
    granularity=30,
    busy_per_person=(2, 4),
    max_turns=3,
    description="Meeting scheduling: 3 people, 30-minute slot, busy calendars only.",
)
register(
    "plan-meeting-hard",
    _EP,
    family="planning",
    n_people=5,
    duration=60,
    granularity=15,
    busy_per_person=(3, 6),
    n_constraints=2,
    max_solutions=2,
    max_turns=3,
    description="Meeting scheduling: 5 people, 60-minute slot, extra time constraints, at most 2 grid solutions.",
)
