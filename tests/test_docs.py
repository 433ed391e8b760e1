"""The worked example in docs/environments.md runs as written and passes the contract checker."""

from __future__ import annotations

import re
from pathlib import Path

import environments

DOC = Path(__file__).resolve().parents[1] / "docs" / "environments.md"


def test_worked_example_registers_and_passes_the_checker() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # the one-file env, exactly as documented
    for env_id in ("text-reverse-5", "text-reverse-9"):
        assert environments.spec(env_id).family == "text"
        report = environments.check(env_id, seeds=3)
        assert report.ok, report.problems
    env = environments.make("text-reverse-5", max_turns=3)
    obs, _ = env.reset(seed=1)
    word = obs[0]["content"].split("'")[1]
    _, reward, terminated, _, info = env.step({"content": word[::-1]})
    assert reward == 1.0 and terminated and info["success"]
    for env_id in ("text-reverse-5", "text-reverse-9"):
        environments.unregister(env_id)
