"""The agent environment API: a `gymnasium.Env` for one episode of one task, spoken in chat messages.

    obs, info = env.reset(seed=3)              # obs: [{"role": "user", "content": "..."}]; env.tools: specs
    obs, reward, terminated, truncated, info = env.step(
        {"content": "...", "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}
    )                                          # obs: the new messages (tool results, feedback)

An author subclasses `AgentEnv` (or `ToolEnv`, for tasks solved with Python-callable tools) and writes three
methods: `new_task(rng)` (build the task, return the opening messages), `handle(action)` (the verifier: what
the action does and earns) and `oracle_action()` (a scripted solver's next action, used to prove the task
solvable and to make SFT demonstrations). The base class does the rest: seeding, turn counting and the
max-turns truncation, and turning any malformed action, parse error or author bug into an observation with
reward 0 (`info["env_error"]` marks the latter so the contract checker can flag it), never an exception.

Task kinds. An env whose tasks come in named kinds (the code envs' function templates) lists them in
`task_kinds()`, sets `self.task_kind` in `new_task`, and honours `reset(options={"task_kind": k})`: the
task is then drawn from kind `k`. `reset` reports the kind in `info["task_kind"]` ("" for envs without kinds),
so evaluation can break results down by kind and a curriculum (`algo.curriculum`) can choose kinds.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from environments.spaces import AssistantAction, ChatMessages

MAX_ACTION_CHARS = 100_000
"""Longer action content is cut before an env sees it (a model can emit anything)."""


@dataclass
class Call:
    """One tool call of an action."""

    name: str
    arguments: dict[str, Any]


@dataclass
class Action:
    """A validated assistant action."""

    content: str
    tool_calls: list[Call] = field(default_factory=list)
    parse_errors: list[str] = field(default_factory=list)

    @classmethod
    def coerce(cls, raw: Any) -> Action:
        """Validate a raw action (dict or Action); raise ValueError saying what is wrong."""
        if isinstance(raw, Action):
            return raw
        if isinstance(raw, str):
            return cls(content=raw[:MAX_ACTION_CHARS])
        if not isinstance(raw, dict):
            raise ValueError(f"an action must be a message dict with 'content', got {type(raw).__name__}")
        content = raw.get("content")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise ValueError(f"'content' must be a string, got {type(content).__name__}")
        calls_raw = raw.get("tool_calls") or []
        if not isinstance(calls_raw, list):
            raise ValueError(f"'tool_calls' must be a list, got {type(calls_raw).__name__}")
        calls = []
        for i, c in enumerate(calls_raw, start=1):
            if isinstance(c, dict) and isinstance(c.get("function"), dict):  # OpenAI form
                c = c["function"]
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise ValueError(f"tool call {i} must be an object with a string 'name'")
            args = c.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except json.JSONDecodeError as exc:
                    raise ValueError(f"tool call {i} ({c['name']}): arguments are not valid JSON ({exc.msg})") from None
            if not isinstance(args, dict):
                raise ValueError(f"tool call {i} ({c['name']}): arguments must be a JSON object")
            calls.append(Call(name=c["name"][:200], arguments=args))
        errors = raw.get("parse_errors") or []
        if not isinstance(errors, list):
            errors = [str(errors)]
        return cls(content=content[:MAX_ACTION_CHARS], tool_calls=calls, parse_errors=[str(e) for e in errors])


@dataclass
class Outcome:
    """What one action did: new messages, reward, and whether the episode ended."""

    observation: list[dict[str, str]]
    reward: float = 0.0
    terminated: bool = False
    success: bool = False
    components: dict[str, float] = field(default_factory=dict)
    """Named parts of the reward (e.g. partial credit), reported in info."""
    errors: list[str] = field(default_factory=list)
    """What was wrong with the action, if anything."""


def user(text: str) -> dict[str, str]:
    """A user (environment feedback) message."""
    return {"role": "user", "content": text}


def tool_result(name: str, text: str) -> dict[str, str]:
    """A tool-result message."""
    return {"role": "tool", "name": name, "content": text}


class AgentEnv(gym.Env):
    """Base class of every agentrl environment. See the module docstring for the contract."""

    family: ClassVar[str] = "misc"
    """The task family: tools, code, planning (or a plugin's own)."""
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, max_turns: int = 8, render_mode: str | None = None, tool_names: tuple[str, ...] = ()):
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.max_turns = int(max_turns)
        self.render_mode = render_mode
        self.observation_space = ChatMessages()
        self.action_space = AssistantAction(tool_names)
        self.tools: list[dict[str, Any]] = []
        """OpenAI function schemas of the tools of the current task."""
        self.turn = 0
        self.done = False
        self.transcript: list[dict[str, Any]] = []
        self.last_reward = 0.0
        self.reset_seed: int | None = None
        """The seed of the last reset (None when reset without one)."""
        self.reset_options: dict[str, Any] | None = None
        """The options of the last reset."""
        self.task_kind = ""
        """The kind of the current task (one of `task_kinds()`), set by `new_task`; "" for envs without kinds."""

    def task_kinds(self) -> tuple[str, ...]:
        """The named kinds this env's tasks are drawn from (empty when it has none)."""
        return ()

    def requested_kind(self) -> str | None:
        """The kind the last reset asked for (`options["task_kind"]`), or None: for `new_task`."""
        return (self.reset_options or {}).get("task_kind")

    # --- what an author writes -------------------------------------------------------------------------------
    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        """Draw a task from `rng`, store its hidden state on self, set `self.tools`, return the opening messages."""
        raise NotImplementedError

    def handle(self, action: Action) -> Outcome:
        """Apply a (well-formed) action: the verifier."""
        raise NotImplementedError

    def oracle_action(self) -> dict[str, Any]:
        """The scripted solver's next action in the current state (reaches full reward from any seed)."""
        raise NotImplementedError

    # --- gymnasium API ----------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, str]], dict[str, Any]]:
        super().reset(seed=seed)
        self.turn = 0
        self.done = False
        self.last_reward = 0.0
        self.tools = []
        kind = (options or {}).get("task_kind")
        if kind is not None and kind not in self.task_kinds():
            known = ", ".join(self.task_kinds()) or "none"
            name = type(self).__name__
            raise ValueError(f"{name}: reset option task_kind={kind!r} is not one of its kinds ({known})")
        self.reset_seed, self.reset_options = seed, options  # for envs that index a dataset by seed
        self.task_kind = ""
        messages = self.new_task(self.np_random)
        self.transcript = [dict(m) for m in messages]
        info = {"tools": self.tools, "max_turns": self.max_turns, "family": self.family, "task_kind": self.task_kind}
        return messages, info

    def step(self, action: Any) -> tuple[list[dict[str, str]], float, bool, bool, dict[str, Any]]:
        if self.done:
            outcome = Outcome([user("The episode is over; call reset().")], terminated=True)
            return outcome.observation, 0.0, True, False, self._info(outcome)
        env_error = None
        try:
            act = Action.coerce(action)
        except ValueError as exc:
            outcome = Outcome([user(f"Invalid action: {exc}.")], errors=[str(exc)])
            act = None
        if act is not None:
            try:
                outcome = self.handle(act)
            except Exception as exc:  # an env bug must not kill a training run; the checker flags it
                env_error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                outcome = Outcome([user(f"The environment failed to handle this action ({env_error}).")])
        self.turn += 1
        reward = float(outcome.reward)
        terminated = bool(outcome.terminated)
        truncated = not terminated and self.turn >= self.max_turns
        self.done = terminated or truncated
        self.last_reward = reward
        assistant_msg: dict[str, Any] = {"role": "assistant", "content": act.content if act else str(action)[:2000]}
        if act and act.tool_calls:
            assistant_msg["tool_calls"] = [{"name": c.name, "arguments": c.arguments} for c in act.tool_calls]
        self.transcript += [assistant_msg, *outcome.observation]
        info = self._info(outcome)
        if env_error:
            info["env_error"] = env_error
        return outcome.observation, reward, terminated, truncated, info

    def _info(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "success": bool(outcome.success),
            "reward_components": dict(outcome.components),
            "errors": list(outcome.errors),
            "turn": self.turn,
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for m in self.transcript:
            lines.append(f"[{m['role']}] {m.get('content', '')}")
            for c in m.get("tool_calls", []):
                lines.append(f"    -> {c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})")
        return "\n".join(lines)
