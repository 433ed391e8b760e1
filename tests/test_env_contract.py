"""The contract checker over every registered env config (the same check `agentrl envs check` runs)."""

from __future__ import annotations

import pytest

import environments

ENV_IDS = [s.id for s in environments.list_envs()]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_passes_the_contract(env_id: str) -> None:
    report = environments.check(env_id, seeds=3)
    assert report.ok, "\n".join(report.problems)


def test_the_checker_flags_an_env_that_ignores_the_requested_task_kind() -> None:
    from environments.code.envs import CodeFunctionEnv
    from environments.code.tasks import make_task

    class IgnoresKind(CodeFunctionEnv):
        def new_task(self, rng):  # draws any template whatever reset asked for
            self.task = make_task(rng, self.difficulty)
            self.task_kind = self.task.template
            self.submissions = 0
            return [environments.user(self.prompt())]

    environments.register("test-ignores-kind", IgnoresKind, family="code", description="broken", max_turns=2)
    try:
        problems = environments.check("test-ignores-kind", seeds=1).problems
    finally:
        environments.unregister("test-ignores-kind")
    assert any(p.startswith("reset asked for task_kind") for p in problems), problems
    assert len([p for p in problems if "task_kind" in p]) < len(CodeFunctionEnv().task_kinds())  # seed 0's kind ok
