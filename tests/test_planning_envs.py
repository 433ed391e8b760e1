"""The planning envs: oracles solve every config, tasks are seeded, verifiers catch wrong plans, garbage is safe."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import environments
from environments.planning.blocksworld import TABLE, BlocksworldEnv
from environments.planning.hanoi import HanoiEnv
from environments.planning.maze import DIRECTIONS, WALL, MazeEnv, bfs, path_to
from environments.registry import list_envs

PLANNING_IDS = [s.id for s in list_envs("planning") if str(s.entry_point).startswith("environments.planning.")]


def run_oracle(env: Any, seed: int) -> tuple[float, dict[str, Any], int]:
    env.reset(seed=seed)
    while True:
        obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        assert "env_error" not in info
        if terminated or truncated:
            return reward, info, env.turn


def test_registered_configs() -> None:
    assert len(PLANNING_IDS) >= 7
    for s in map(environments.spec, PLANNING_IDS):
        assert s.id.startswith("plan-") and s.family == "planning" and s.description
        assert "max_turns" in s.kwargs
        assert isinstance(environments.make(s.id), environments.AgentEnv)


@pytest.mark.parametrize("env_id", PLANNING_IDS)
def test_oracle_solves(env_id: str) -> None:
    env = environments.make(env_id)
    for seed in range(5):
        reward, info, turns = run_oracle(env, seed)
        assert reward == 1.0 and info["success"], (env_id, seed, info)
        assert turns <= env.max_turns


@pytest.mark.parametrize("env_id", PLANNING_IDS)
def test_seeded(env_id: str) -> None:
    env = environments.make(env_id)
    openings = []
    for seed in (0, 0, 1, 2, 3):
        obs, _ = env.reset(seed=seed)
        openings.append(obs[0]["content"])
    assert openings[0] == openings[1]
    assert len(set(openings[1:])) > 1
    env.action_space.seed(0)
    actions = [{"content": "move up"}, {"content": "move left"}, env.action_space.sample()]
    runs = []
    for _ in range(2):
        env.reset(seed=7)
        runs.append([env.step(a)[:4] for a in actions if not env.done])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("env_id", PLANNING_IDS)
def test_check_env(env_id: str) -> None:
    env = gymnasium.make(f"agentrl/{env_id}").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)


GARBAGE: list[Any] = [
    {"content": ""},
    {"content": "   \n  "},
    {"content": "I am not sure what to do."},
    {"content": "move"},
    {"content": "move 🙂 onto 中\nmove ß onto table"},
    {"content": "Meeting: 99:99-10:00"},
    {"content": "x" * 100_000},
    {"content": "move " * 20_000},
    {"content": "\u200b\u202e\x00\ufffd é"},
    {"content": "", "tool_calls": [{"name": "no_such_tool", "arguments": {"a": [1, 2]}}]},
    {"content": "move up", "tool_calls": [{"name": "move", "arguments": {"direction": 3}}]},
    {"content": "", "parse_errors": ["tool call 1: arguments are not valid JSON"]},
    {"content": None},
    {"content": 5},
    {"tool_calls": "not a list"},
    42,
    None,
]


@pytest.mark.parametrize("env_id", PLANNING_IDS)
def test_garbage_is_safe(env_id: str) -> None:
    env = environments.make(env_id)
    for i, action in enumerate(GARBAGE):
        env.reset(seed=i)
        obs, reward, terminated, truncated, info = env.step(action)
        assert "env_error" not in info, (action, info)
        assert obs and all(isinstance(m["content"], str) and m["content"] for m in obs)
        assert len(obs[0]["content"]) < 5_000
        if reward != 0.0:
            raise AssertionError((env_id, action, reward))
    env.reset(seed=0)
    for turn in range(1, env.max_turns + 1):
        _, reward, terminated, truncated, info = env.step({"content": "hmm, let me think"})
        assert reward == 0.0 and not terminated
        assert truncated == (turn == env.max_turns)


# --- blocksworld -------------------------------------------------------------------------------------------------
def blocks_env() -> BlocksworldEnv:
    env = BlocksworldEnv(n_blocks=3)
    env.reset(seed=0)
    env.initial = {"A": TABLE, "B": TABLE, "C": TABLE}
    env.goal = {"A": TABLE, "B": "A", "C": "B"}  # C on B on A
    return env


def test_blocksworld_accepts_correct_plan() -> None:
    env = blocks_env()
    _, reward, terminated, _, info = env.step({"content": "Plan:\n1. move B onto A\n2. `move C onto B`"})
    assert reward == 1.0 and terminated and info["success"]
    assert info["reward_components"]["goal_fraction"] == 1.0


def test_blocksworld_illegal_move() -> None:
    env = blocks_env()
    obs, reward, terminated, _, info = env.step({"content": "move B onto A\nmove A onto C\nmove C onto B"})
    assert reward == 0.0 and terminated and not info["success"]
    text = obs[0]["content"]
    assert "Line 2" in text and "B is on top of it" in text
    assert info["reward_components"]["goal_fraction"] == pytest.approx(2 / 3)
    assert info["reward_components"]["moves_applied"] == 1


def test_blocksworld_incomplete_plan_partial_credit() -> None:
    env = blocks_env()
    obs, reward, terminated, _, info = env.step({"content": "move C onto A"})
    assert reward == 0.0 and terminated and not info["success"]
    assert "not the goal" in obs[0]["content"]
    assert info["reward_components"]["goal_fraction"] == pytest.approx(1 / 3)  # only "A on the table" holds


@pytest.mark.parametrize(
    "plan,why",
    [
        ("move D onto A", "no block D"),
        ("move A onto A", "onto itself"),
        ("move A onto table", "already on the table"),
        ("move A to the moon", "not a"),
    ],
)
def test_blocksworld_reasons(plan: str, why: str) -> None:
    env = blocks_env()
    obs, reward, terminated, _, _ = env.step({"content": plan})
    assert reward == 0.0 and terminated and why in obs[0]["content"]


def test_blocksworld_retry_with_attempts() -> None:
    env = environments.make("plan-blocksworld-7")
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step({"content": "move A onto A"})
    assert reward == 0.0 and not terminated and "attempt" in env.transcript[-1]["content"]
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and terminated and info["success"]


# --- hanoi -------------------------------------------------------------------------------------------------------
def hanoi_env() -> HanoiEnv:
    env = HanoiEnv(n_disks=3)
    env.reset(seed=0)
    env.initial, env.target = {"A": [3, 2, 1], "B": [], "C": []}, "C"
    return env


def test_hanoi_illegal_and_partial() -> None:
    env = hanoi_env()
    obs, reward, terminated, _, info = env.step({"content": "move disk 1 from A to C\nmove disk 2 from A to C"})
    assert reward == 0.0 and terminated and "Line 2" in obs[0]["content"] and "smaller disk 1" in obs[0]["content"]
    assert info["reward_components"]["disks_on_target"] == pytest.approx(1 / 3)
    env = hanoi_env()
    obs, reward, terminated, _, _ = env.step({"content": "move disk 2 from A to B"})
    assert reward == 0.0 and "top disk of peg A is disk 1" in obs[0]["content"]
    env = hanoi_env()
    obs, reward, _, _, info = env.step({"content": "move disk 1 from A to C\nmove disk 2 from A to B"})
    assert reward == 0.0 and "not every disk" in obs[0]["content"]
    assert info["reward_components"]["disks_on_target"] == pytest.approx(1 / 3)
    env = hanoi_env()
    plan = (
        "move 1 from A to C\nmove from A to B\nmove disk 1 from C to B\nmove disk 3 from A to C\n"
        "move disk 1 from B to A\nmove disk 2 from B to C\nmove disk 1 from A to C"
    )
    _, reward, _, _, info = env.step({"content": plan})
    assert reward == 1.0 and info["success"] and info["reward_components"]["efficiency"] == 1.0


def test_hanoi_scrambled_start_is_legal() -> None:
    env = environments.make("plan-hanoi-5-scrambled")
    for seed in range(20):
        env.reset(seed=seed)
        assert sorted(d for p in env.initial.values() for d in p) == [1, 2, 3, 4, 5]
        assert all(p == sorted(p, reverse=True) for p in env.initial.values())
        assert len(env.initial[env.target]) < 5


# --- maze --------------------------------------------------------------------------------------------------------
def test_maze_walls_block_and_view_updates() -> None:
    env = MazeEnv(size=4, view=1, max_goal_distance=20, max_turns=40)
    obs, _ = env.reset(seed=3)
    r, c = env.pos
    blocked = next(d for d, (dr, dc) in DIRECTIONS.items() if env.grid[r + dr][c + dc] == WALL)
    obs, reward, terminated, truncated, info = env.step({"content": f"move {blocked}"})
    assert env.pos == (r, c) and reward == 0.0 and not terminated
    assert "wall" in obs[0]["content"] and f"row {r}, column {c}" in obs[0]["content"]
    before = obs[0]["content"].split("View:\n")[1]
    direction = env.oracle_action()["content"].split()[-1]
    obs, reward, terminated, _, _ = env.step({"content": f"I'll head {direction} now.\nmove {direction}"})
    dr, dc = DIRECTIONS[direction]
    assert env.pos == (r + dr, c + dc)
    view = obs[0]["content"].split("View:\n")[1].splitlines() if not terminated else []
    if view:
        assert view[1][1] == "@" and view != before.splitlines()
        for i, row in enumerate(view):
            for j, ch in enumerate(row):
                sq = (env.pos[0] + i - 1, env.pos[1] + j - 1)
                expected = "@" if sq == env.pos else "G" if sq == env.goal else env.grid[sq[0]][sq[1]]
                assert ch == expected


def test_maze_synonyms_and_last_move_wins() -> None:
    env = environments.make("plan-maze-5")
    env.reset(seed=0)
    r, c = env.pos
    direction = env.oracle_action()["content"].split()[-1]
    synonym = {"up": "north", "down": "south", "left": "west", "right": "east"}[direction]
    wrong = next(d for d in DIRECTIONS if d != direction)
    env.step({"content": f"Not move {wrong}; instead: Move {synonym.upper()}"})
    dr, dc = DIRECTIONS[direction]
    assert env.pos == (r + dr, c + dc)


def test_maze_goal_within_reach() -> None:
    for env_id in ("plan-maze-5", "plan-maze-8"):
        env = environments.make(env_id)
        for seed in range(25):
            env.reset(seed=seed)
            dist = len(path_to(bfs(env.grid, env.pos), env.goal)) - 1
            assert 0 < dist <= min(env.max_goal_distance, env.max_turns) and dist == env.optimal


# --- meeting -----------------------------------------------------------------------------------------------------
def test_meeting_verifier() -> None:
    env = environments.make("plan-meeting-hard")
    for seed in range(10):
        env.reset(seed=seed)
        assert 1 <= len(env.grid_solutions()) <= 2
    env.reset(seed=0)
    person = next(p for p in env.people if env.busy[p])
    a, _ = env.busy[person][0]
    start = max(9 * 60, a - 15)
    slot = f"{start // 60:02d}:{start % 60:02d}-{(start + 60) // 60:02d}:{(start + 60) % 60:02d}"
    obs, reward, terminated, _, info = env.step({"content": f"Meeting: {slot}"})
    assert reward == 0.0 and terminated and f"{person} is busy" in obs[0]["content"]
    assert 0 < info["reward_components"]["constraints_met"] < 1


def test_meeting_formats_and_length() -> None:
    env = environments.make("plan-meeting-easy")
    env.reset(seed=0)  # earliest free 30-minute slot is 10:00-10:30
    obs, reward, terminated, _, _ = env.step({"content": "No idea."})
    assert reward == 0.0 and not terminated and "Meeting: HH:MM-HH:MM" in obs[0]["content"]
    obs, reward, terminated, _, info = env.step({"content": "Meeting: 10:00-11:00"})
    assert reward == 0.0 and terminated and "lasts 60 minutes" in obs[0]["content"]
    env.reset(seed=0)
    _, reward, _, _, info = env.step({"content": "How about 10:00 am to 10:30 am?"})
    assert reward == 1.0 and info["success"]
