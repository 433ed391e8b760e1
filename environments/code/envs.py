"""Code environments: write a Python function (one shot) or repair it against test feedback (multi-turn).

The model answers with a ```python code block; the env extracts it and runs it in the sandbox
(`environments.code.sandbox`) under a test harness that calls the function on every test input and reports the
returned values (the expected outputs never enter the sandbox; the comparison happens here).

- `CodeFunctionEnv` (code-fn-*): the first code submission runs the hidden tests and ends the episode with
  reward 1.0 when all pass, else 0.0. A reply without a code block gets feedback (reward 0) and, when
  `max_turns` allows, another try.
- `CodeRepairEnv` (code-repair-*): each submission runs the visible tests; failures (call, expected, got, or the
  exception / timeout) come back as feedback. Once every visible test passes, the hidden tests decide the
  final reward and the episode ends; `max_turns` truncates.

Identical code against identical tests runs in the sandbox once per process (`environments.code.run_cache`; a
GRPO group's samples are often the same text); `memo_runs=False` runs every submission.

Rewards are given only on the terminating step; `reward_components["hidden_pass_fraction"]` is the partial
credit and `info["success"]` is True only when every hidden test passes. Anything malformed (no code block,
tool calls, code that does not parse, hangs, floods output or exits early) becomes feedback with reward 0.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from environments.base import Action, AgentEnv, Outcome, user
from environments.code.run_cache import RunCache
from environments.code.sandbox import HARNESS_PRELUDE, HarnessResult, Sandbox, SandboxConfig, SandboxUnavailableError
from environments.code.tasks import DIFFICULTIES, Case, CodeTask, make_task, templates, values_equal
from environments.registry import register

MAX_CODE_CHARS = 20_000
"""Longer code blocks are rejected before they reach the sandbox."""
PER_TEST_S = 1.0
"""Time limit of one test call inside the harness."""
TOTAL_TESTS_S = 2.5
"""Test calls starting after this much time in the tests are skipped (and fail)."""
DEFAULT_SANDBOX: dict[str, Any] = {"timeout_s": 15.0, "cpu_s": 10}
"""Sandbox settings of the code envs unless their `sandbox` argument overrides them (room for the harness's
load and per-test time limits)."""
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n`]*\n(.*?)(?:```|\Z)", re.S)
"""A fenced block: its info string (language) has no backticks, as in CommonMark; that also keeps a reply of
100k backticks linear (with `[^\n]*` each of them started a scan to the end of the line: quadratic)."""

HARNESS_BODY = r"""
import copy, io, signal, time


class _TestTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _TestTimeout()


def _describe(exc):
    detail = str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _encode(value):
    try:
        text = _json.dumps(value)
    except Exception:
        try:
            shown = repr(value)
        except BaseException:
            shown = f"<unprintable {type(value).__name__}>"
        return {"status": "ok", "repr": shown[:300], "unserializable": True}
    if len(text) > 4000:
        return {"status": "ok", "repr": text[:300] + "...", "too_large": True}
    return {"status": "ok", "value": value}


class _Sink(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


def _main():
    signal.signal(signal.SIGALRM, _alarm)
    _sys.stdout = _sys.stderr = _Sink()
    per_test = PAYLOAD["per_test_s"]
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        source = open(PAYLOAD["source_file"], encoding="utf-8", errors="replace").read()
        code = compile(source, "solution.py", "exec")
        signal.setitimer(signal.ITIMER_REAL, PAYLOAD["load_s"])
        try:
            exec(code, namespace)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TestTimeout:
        return {"load_error": f"defining the code took longer than {PAYLOAD['load_s']} s"}
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return {"load_error": f"SyntaxError: {exc.msg}{where}"}
    except BaseException as exc:
        return {"load_error": _describe(exc)}
    fn = namespace.get(PAYLOAD["func"])
    if not callable(fn):
        return {"load_error": f"no function named {PAYLOAD['func']} is defined"}
    results = []
    budget_end = time.monotonic() + PAYLOAD["total_s"]
    for args in PAYLOAD["tests"]:
        if time.monotonic() > budget_end:
            results.append({"status": "skipped"})
            continue
        try:
            signal.setitimer(signal.ITIMER_REAL, per_test)
            try:
                value = fn(*copy.deepcopy(args))
                result = _encode(value)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _TestTimeout:
            result = {"status": "timeout"}
        except BaseException as exc:
            result = {"status": "error", "error": _describe(exc)}
        results.append(result)
    return {"results": results}


_report(_main())
"""


def extract_code(content: str) -> str | None:
    """The code of the last fenced block (```python preferred, an untagged block accepted), or None."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(content)]
    python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    untagged = [body for lang, body in blocks if lang == ""]
    chosen = python or untagged
    return chosen[-1] if chosen else None


def submitted_code(action: Action, example: str = "```python\n...\n```") -> tuple[str | None, Outcome | None]:
    """The code block of a code-task reply, or the feedback Outcome when there is no usable code (tool calls, no
    or an empty block, too long). `example` shows the expected block in the no-code-block feedback."""
    if action.tool_calls or action.parse_errors:
        names = ", ".join(sorted({c.name for c in action.tool_calls})) or "unparsed tool calls"
        msg = (
            f"This task has no tools (you called: {names[:200]}). Reply with the complete function "
            "in a ```python code block instead."
        )
        return None, Outcome([user(msg)], errors=["tool calls in a code task"])
    code = extract_code(action.content)
    if code is None:
        msg = f"No code block found. Reply with the complete function in a fenced block:\n{example}"
        return None, Outcome([user(msg)], errors=["no code block"])
    if not code.strip():
        return None, Outcome([user("Your code block is empty. Send the complete function.")], errors=["empty"])
    if len(code) > MAX_CODE_CHARS:
        msg = f"Your code block has {len(code)} characters; the limit is {MAX_CODE_CHARS}. Send a shorter one."
        return None, Outcome([user(msg)], errors=["code too long"])
    return code, None


@dataclass
class TestRun:
    """The outcome of running some tests of a task against submitted code."""

    passed: list[bool]
    lines: list[str]
    """One line per failed test (call, expected, got or the error)."""
    problem: str | None = None
    """Why no test could be judged (load error, early exit, timeout, ...); all count as failed."""

    @property
    def fraction(self) -> float:
        """Fraction of tests passed."""
        return sum(self.passed) / len(self.passed) if self.passed else 0.0

    @property
    def all_passed(self) -> bool:
        """True when every test passed."""
        return bool(self.passed) and all(self.passed)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


RUNS: RunCache[HarnessResult] = RunCache(maxsize=4096)
"""This process's memo of harness runs (key: harness, payload, code, sandbox mode and settings)."""


def _reusable(res: HarnessResult) -> bool:
    """A clean report whose every test finished: nothing in it depends on how busy the machine was."""
    report = res.report
    if res.run.status != "ok" or not isinstance(report, dict):
        return False
    results = report.get("results", [])
    return isinstance(results, list) and all(
        isinstance(r, dict) and r.get("status") not in ("timeout", "skipped") for r in results
    )


class CodeFunctionEnv(AgentEnv):
    """Write a Python function from a spec; hidden unit tests decide the reward (see the module docstring)."""

    family = "code"

    def __init__(
        self,
        difficulty: str = "easy",
        template: str | None = None,
        max_turns: int = 2,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
        memo_runs: bool = True,
    ):
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.difficulty = difficulty
        self.template = template
        if not isinstance(sandbox, SandboxConfig):
            sandbox = SandboxConfig(**{**DEFAULT_SANDBOX, **(sandbox or {})})
        self.sandbox = Sandbox(sandbox)
        self.memo_runs = memo_runs
        self.task: CodeTask | None = None
        self.submissions = 0

    # --- task ----------------------------------------------------------------------------------------------------
    def task_kinds(self) -> tuple[str, ...]:
        """The function templates tasks are drawn from (one when the env is pinned to a template)."""
        return (self.template,) if self.template else tuple(templates(self.difficulty))

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.task = make_task(rng, self.difficulty, self.requested_kind() or self.template)
        self.task_kind = self.task.template
        self.submissions = 0
        return [user(self.prompt())]

    def prompt(self) -> str:
        """The opening message."""
        assert self.task is not None
        return (
            f"{self.task.prompt_block()}\n\nReply with the complete function in a single ```python code block. "
            "Only the Python standard library is available; do not read input or print anything. Hidden tests "
            "will check your function."
        )

    def oracle_action(self) -> dict[str, Any]:
        assert self.task is not None
        return {"content": f"Here is the function:\n```python\n{self.task.reference}```", "tool_calls": []}

    # --- verifying -----------------------------------------------------------------------------------------------
    def submitted_code(self, action: Action) -> tuple[str | None, Outcome | None]:
        """The code of an action, or the feedback Outcome when there is no usable code."""
        assert self.task is not None
        return submitted_code(action, f"```python\n{self.task.signature}:\n    ...\n```")

    def run_tests(self, code: str, cases: tuple[Case, ...]) -> TestRun:
        """Run `cases` against `code` in the sandbox and judge the returned values."""
        assert self.task is not None
        payload = {
            "func": self.task.func_name,
            "tests": [list(c.args) for c in cases],
            "per_test_s": PER_TEST_S,
            "load_s": 2.0,
            "total_s": TOTAL_TESTS_S,
            "source_file": "solution.py",
        }

        def run() -> HarnessResult:
            return self.sandbox.run_harness(HARNESS_PRELUDE_AND_BODY, payload, files={"solution.py": code})

        if self.memo_runs:
            setting = [self.sandbox.mode()[0], self.sandbox.config.model_dump(mode="json")]
            blob = json.dumps([HARNESS_PRELUDE_AND_BODY, payload, code, setting], sort_keys=True)
            res = RUNS.get_or_run(hashlib.sha256(blob.encode()).hexdigest(), run, keep=_reusable)
        else:
            res = run()
        if res.run.status == "refused":
            raise SandboxUnavailableError(res.run.detail)
        if res.run.status == "sandbox_error":
            raise RuntimeError(f"the code sandbox failed: {res.run.detail}")
        failed = [False] * len(cases)
        report = res.report
        if not isinstance(report, dict):
            return TestRun(failed, [], problem=self._run_problem(res.problems, res.run.stderr))
        if "load_error" in report:
            return TestRun(failed, [], problem=f"your code failed before any test ran: {report['load_error']}")
        results = report.get("results")
        if not isinstance(results, list) or len(results) != len(cases):
            return TestRun(failed, [], problem="the test harness returned an incomplete report")
        passed, lines = [], []
        for case, r in zip(cases, results, strict=True):
            call = case.call(self.task.func_name)
            call = call if len(call) <= 300 else call[:300] + "...)"
            status = r.get("status") if isinstance(r, dict) else None
            if status == "ok" and "value" in r and values_equal(r["value"], case.expected):
                passed.append(True)
                continue
            passed.append(False)
            if status == "timeout":
                lines.append(f"{call}: timed out (over {PER_TEST_S:g} s)")
            elif status == "skipped":
                lines.append(f"{call}: not run (earlier tests used up the {TOTAL_TESTS_S:g} s time budget)")
            elif status == "error":
                lines.append(f"{call}: raised {str(r.get('error'))[:300]}")
            elif status == "ok" and "value" in r:
                lines.append(f"{call}: expected {_short(case.expected)}, got {_short(r['value'])}")
            elif status == "ok":
                why = "too large" if r.get("too_large") else "not a plain value"
                lines.append(f"{call}: expected {_short(case.expected)}, got {str(r.get('repr'))[:200]} ({why})")
            else:
                lines.append(f"{call}: no result")
        return TestRun(passed, lines)

    @staticmethod
    def _run_problem(problems: list[str], stderr: str) -> str:
        why = "; ".join(p for p in problems if p) or "the program did not finish the tests"
        tail = stderr.strip()[-300:]
        return f"{why}" + (f" (stderr: {tail})" if tail else "")

    def final_outcome(self, code: str, visible: TestRun | None = None) -> Outcome:
        """Run the hidden tests and end the episode."""
        assert self.task is not None
        hidden = self.run_tests(code, self.task.hidden)
        components = {"hidden_pass_fraction": hidden.fraction}
        if visible is not None:
            components["visible_pass_fraction"] = visible.fraction
        n = len(self.task.hidden)
        if hidden.all_passed:
            return Outcome([user(f"All {n} hidden tests passed.")], 1.0, True, True, components)
        if hidden.problem:
            text = f"0 of {n} hidden tests passed: {hidden.problem}."
        else:
            text = f"{sum(hidden.passed)} of {n} hidden tests passed."
        return Outcome([user(text)], 0.0, True, False, components, errors=["hidden tests failed"])

    def handle(self, action: Action) -> Outcome:
        code, feedback = self.submitted_code(action)
        if feedback is not None:
            return feedback
        assert code is not None
        self.submissions += 1
        return self.final_outcome(code)


class CodeRepairEnv(CodeFunctionEnv):
    """Write a function, see which visible tests fail, and repair it; hidden tests decide the final reward."""

    def __init__(
        self,
        difficulty: str = "easy",
        template: str | None = None,
        max_turns: int = 4,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
        memo_runs: bool = True,
    ):
        super().__init__(difficulty, template, max_turns, sandbox, render_mode, memo_runs)

    def prompt(self) -> str:
        assert self.task is not None
        return (
            f"{self.task.prompt_block()}\n\nReply with the complete function in a ```python code block. Only the "
            "Python standard library is available; do not read input or print anything. Each submission is run "
            "on the examples above and you will see the failures, so you can send a corrected version (up to "
            f"{self.max_turns} replies). Once all examples pass, hidden tests decide your score."
        )

    def oracle_action(self) -> dict[str, Any]:
        assert self.task is not None
        lead = "Here is my solution:" if self.submissions == 0 else "Here is the corrected function:"
        return {"content": f"{lead}\n```python\n{self.task.reference}```", "tool_calls": []}

    def handle(self, action: Action) -> Outcome:
        assert self.task is not None
        code, feedback = self.submitted_code(action)
        if feedback is not None:
            return feedback
        assert code is not None
        self.submissions += 1
        visible = self.run_tests(code, self.task.visible)
        if visible.all_passed:
            return self.final_outcome(code, visible)
        components = {"visible_pass_fraction": visible.fraction}
        n = len(self.task.visible)
        if visible.problem:
            head = f"None of the {n} example tests could be checked: {visible.problem}."
        else:
            head = f"{n - sum(visible.passed)} of {n} example tests failed:\n" + "\n".join(
                f"- {line}" for line in visible.lines
            )
        text = f"{head}\nFix the function and send the complete corrected version in a ```python block."
        return Outcome([user(text)], 0.0, False, False, components, errors=["example tests failed"])


HARNESS_PRELUDE_AND_BODY = HARNESS_PRELUDE + HARNESS_BODY
"""The full harness script run in the sandbox."""

MODULE_FN = "environments.code.envs:CodeFunctionEnv"
MODULE_REPAIR = "environments.code.envs:CodeRepairEnv"
for _level, _turns in (("easy", 4), ("medium", 5), ("hard", 6)):
    register(
        f"code-fn-{_level}",
        MODULE_FN,
        family="code",
        description=f"write one {_level} Python function from a spec; hidden unit tests decide the reward",
        difficulty=_level,
        max_turns=2,
    )
    register(
        f"code-repair-{_level}",
        MODULE_REPAIR,
        family="code",
        description=f"write a {_level} Python function and repair it from example-test failures (up to "
        f"{_turns} submissions); hidden tests decide the reward",
        difficulty=_level,
        max_turns=_turns,
    )
