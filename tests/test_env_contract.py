"""The contract checker over every registered env config (the same check `agentrl envs check` runs)."""

from __future__ import annotations

import pytest

import environments

ENV_IDS = [s.id for s in environments.list_envs()]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_passes_the_contract(env_id: str) -> None:
    report = environments.check(env_id, seeds=3)
    assert report.ok, "\n".join(report.problems)
