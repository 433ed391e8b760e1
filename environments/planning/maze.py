"""Maze navigation: an interactive, multi-turn walk through a hidden maze seen only through a local window.

The maze is a grid of squares (`#` wall, `.` open), generated from the seed as a random spanning tree of
`size` x `size` cells (randomised depth-first search) with a few extra openings that create loops, so it is
always solvable. The model sees its position, the goal's position and the squares within `view` steps of it
(a (2*view+1)^2 window; `@` is the model, `G` the goal when in sight, squares outside the map show as `#`).
Each turn it writes a move, `move up|down|left|right` (north/south/west/east also accepted; the last move in
a message is the one executed), and gets the new window back. Walking into a wall leaves it in place, with
feedback. Reaching the goal ends the episode with reward 1 (success); `efficiency` (shortest path length /
moves used) is reported. The goal is at most `max_goal_distance` steps away, and max_turns leaves slack.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.planning.common import TextTaskEnv
from environments.registry import register

WALL, OPEN = "#", "."
DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
SYNONYMS = {
    "north": "up",
    "south": "down",
    "west": "left",
    "east": "right",
    "u": "up",
    "d": "down",
    "l": "left",
    "r": "right",
}
_MOVE = re.compile(r"\bmove\s*:?\s*(up|down|left|right|north|south|east|west)\b", re.IGNORECASE)
_BARE = re.compile(r"^\W*(up|down|left|right|north|south|east|west|u|d|l|r)\W*$", re.IGNORECASE)
Pos = tuple[int, int]


def generate_maze(rng: np.random.Generator, size: int, loop_fraction: float) -> list[list[str]]:
    """A (2*size+1)-square grid maze: a random spanning tree of the cells plus some extra openings."""
    n = 2 * size + 1
    grid = [[WALL] * n for _ in range(n)]
    start = (int(rng.integers(size)), int(rng.integers(size)))
    seen = {start}
    stack = [start]
    grid[2 * start[0] + 1][2 * start[1] + 1] = OPEN
    while stack:
        r, c = stack[-1]
        nbrs = [
            (r + dr, c + dc)
            for dr, dc in DIRECTIONS.values()
            if 0 <= r + dr < size and 0 <= c + dc < size and (r + dr, c + dc) not in seen
        ]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[int(rng.integers(len(nbrs)))]
        grid[r + nr + 1][c + nc + 1] = OPEN  # the wall square between the two cells
        grid[2 * nr + 1][2 * nc + 1] = OPEN
        seen.add((nr, nc))
        stack.append((nr, nc))
    inner_walls = [
        (r, c) for r in range(1, n - 1) for c in range(1, n - 1) if grid[r][c] == WALL and (r % 2) != (c % 2)
    ]
    for i in rng.permutation(len(inner_walls))[: int(loop_fraction * size * size)]:
        r, c = inner_walls[int(i)]
        grid[r][c] = OPEN
    return grid


def bfs(grid: list[list[str]], start: Pos) -> dict[Pos, Pos | None]:
    """Breadth-first search over open squares: square -> predecessor (None for the start)."""
    parent: dict[Pos, Pos | None] = {start: None}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in DIRECTIONS.values():
            nxt = (r + dr, c + dc)
            if grid[nxt[0]][nxt[1]] == OPEN and nxt not in parent:
                parent[nxt] = (r, c)
                queue.append(nxt)
    return parent


def path_to(parent: dict[Pos, Pos | None], goal: Pos) -> list[Pos]:
    """The BFS path from the search's start to `goal` (both included)."""
    path = [goal]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])  # type: ignore[arg-type]
    return path[::-1]


class MazeEnv(TextTaskEnv):
    """Walk to the goal of a hidden maze, one move per turn, seeing only a local window."""

    format_hint = "End your message with one move: `move up`, `move down`, `move left` or `move right`."

    def __init__(
        self,
        size: int = 5,
        view: int = 1,
        loop_fraction: float = 0.1,
        max_goal_distance: int = 24,
        max_turns: int = 60,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, attempts=1, render_mode=render_mode)
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        if view < 1:
            raise ValueError(f"view must be >= 1, got {view}")
        if max_goal_distance < 2:
            raise ValueError(f"max_goal_distance must be >= 2, got {max_goal_distance}")
        self.size, self.view, self.loop_fraction = int(size), int(view), float(loop_fraction)
        self.max_goal_distance = int(max_goal_distance)
        self.grid: list[list[str]] = []
        self.pos: Pos = (1, 1)
        self.goal: Pos = (1, 1)
        self.optimal = 0
        self.moves = 0
        self.bumps = 0

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.grid = generate_maze(rng, self.size, self.loop_fraction)
        self.pos = (2 * int(rng.integers(self.size)) + 1, 2 * int(rng.integers(self.size)) + 1)
        parent = bfs(self.grid, self.pos)
        cap = min(self.max_goal_distance, self.max_turns)
        dist = {p: len(path_to(parent, p)) - 1 for p in parent if p[0] % 2 == 1 and p[1] % 2 == 1}
        candidates = sorted((d, p) for p, d in dist.items() if 0 < d <= cap)
        far = [p for d, p in candidates if d >= 0.6 * candidates[-1][0]]
        self.goal = far[int(rng.integers(len(far)))]
        self.optimal = dist[self.goal]
        self.moves = self.bumps = 0
        n = 2 * self.size + 1
        text = (
            f"You are in a maze of {n}x{n} squares (rows 0-{n - 1} from top to bottom, columns 0-{n - 1} from left "
            f"to right; the outer border is wall). You cannot see the whole maze: each turn you see the squares "
            f"within {self.view} step{'s' if self.view > 1 else ''} of you. In the view, `@` is you, `#` is a wall, "
            "`.` is open floor and `G` is the goal.\n"
            "Each turn, make exactly one move by ending your message with `move up`, `move down`, `move left` or "
            "`move right` (up decreases the row, left decreases the column). Walking into a wall leaves you where "
            f"you are. Reach the goal within {self.max_turns} turns.\n\n{self.status()}"
        )
        return [user(text)]

    def status(self) -> str:
        """Position, goal and the local window."""
        (r, c), (gr, gc) = self.pos, self.goal
        rel = []
        if gr != r:
            rel.append(f"{abs(gr - r)} row{'s' if abs(gr - r) > 1 else ''} {'down' if gr > r else 'up'}")
        if gc != c:
            rel.append(f"{abs(gc - c)} column{'s' if abs(gc - c) > 1 else ''} {'right' if gc > c else 'left'}")
        n = len(self.grid)
        rows = []
        for rr in range(r - self.view, r + self.view + 1):
            row = ""
            for cc in range(c - self.view, c + self.view + 1):
                if (rr, cc) == self.pos:
                    row += "@"
                elif (rr, cc) == self.goal:
                    row += "G"
                elif 0 <= rr < n and 0 <= cc < n:
                    row += self.grid[rr][cc]
                else:
                    row += WALL
            rows.append(row)
        where = ", ".join(rel) if rel else "here"
        return f"Position: row {r}, column {c}. Goal: row {gr}, column {gc} ({where}).\nView:\n" + "\n".join(rows)

    def handle_text(self, content: str) -> Outcome:
        found = _MOVE.findall(content)
        if found:
            word = found[-1].lower()
        else:
            bare = _BARE.match(content)
            if not bare:
                return self.format_error(f"No move found in your message.\n{self.status()}\n")
            word = bare.group(1).lower()
        direction = SYNONYMS.get(word, word)
        dr, dc = DIRECTIONS[direction]
        nxt = (self.pos[0] + dr, self.pos[1] + dc)
        self.moves += 1
        if self.grid[nxt[0]][nxt[1]] == WALL:
            self.bumps += 1
            return Outcome(
                [user(f"You cannot move {direction}: there is a wall. You stay where you are.\n{self.status()}")],
                errors=["walked into a wall"],
            )
        self.pos = nxt
        if self.pos == self.goal:
            components = {"efficiency": self.optimal / self.moves, "wall_bumps": float(self.bumps)}
            return Outcome(
                [user(f"You moved {direction} and reached the goal in {self.moves} moves!")],
                reward=1.0,
                terminated=True,
                success=True,
                components=components,
            )
        return Outcome([user(f"You moved {direction}.\n{self.status()}")])

    def oracle_action(self) -> dict[str, Any]:
        path = path_to(bfs(self.grid, self.pos), self.goal)
        if len(path) < 2:
            return {"content": "move up"}
        step = (path[1][0] - path[0][0], path[1][1] - path[0][1])
        direction = next(d for d, v in DIRECTIONS.items() if v == step)
        return {"content": f"move {direction}"}


_EP = "environments.planning.maze:MazeEnv"
register(
    "plan-maze-5",
    _EP,
    family="planning",
    size=5,
    view=2,
    max_goal_distance=24,
    max_turns=60,
    description="Maze, 5x5 cells (11x11 squares), 5x5 local view, goal <= 24 steps: one move per turn.",
)
register(
    "plan-maze-8",
    _EP,
    family="planning",
    size=8,
    view=2,
    max_goal_distance=40,
    max_turns=100,
    description="Maze, 8x8 cells (17x17 squares), 5x5 local view, goal <= 40 steps: one move per turn.",
)
register(
    "plan-maze-8-dark",
    _EP,
    family="planning",
    size=8,
    view=1,
    max_goal_distance=40,
    max_turns=120,
    description="Maze, 8x8 cells (17x17 squares), only a 3x3 local view, goal <= 40 steps: one move per turn.",
)
