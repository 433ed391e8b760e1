"""Faults during training: a killed rollout worker, a dead learner, a kill -9 while a checkpoint is being
written, and an environment that hangs. Training finishes or resumes; nothing half-done is used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import ray

from rl.checkpoint import latest_checkpoint, list_checkpoints, read_state
from rl.config.run import RunConfig
from rl.train import train

pytestmark = pytest.mark.slow


def config(tmp_path: Path, name: str, steps: int = 3, **extra) -> RunConfig:
    data = {
        "run": {"name": name, "output_dir": str(tmp_path), "seed": 2},
        "policy": {
            "name_or_path": "nemotron-h-tiny",
            "overrides": {"hidden_size": 64, "hybrid_override_pattern": "ME*E"},
        },
        "rollout": {"workers": 1, "group_size": 2, "sampling": {"max_new_tokens": 8, "max_total_tokens": 700}},
        "algo": {
            "steps": steps,
            "groups_per_step": 2,
            "env_mix": {"tools-calculator-easy": 1.0},
            "dynamic_sampling": False,
            "lr": 1e-3,
            "checkpoint_every": 1,
            "keep_checkpoints": 5,
        },
        "loss": {"entropy_coef": 0.01},
        "ray": {"num_cpus": 3},
    }
    for section, values in extra.items():
        data[section] = {**data.get(section, {}), **values}
    return RunConfig.model_validate(data)


@pytest.fixture(autouse=True)
def _fresh_ray():
    ray.shutdown()
    yield
    ray.shutdown()


def test_a_killed_worker_is_restarted_with_current_weights(tmp_path: Path) -> None:
    seen: dict[int, list[int]] = {}

    def fault(step, record, handles):
        pool = handles["pool"]
        if step == 1:
            ray.kill(pool.workers[0])  # groups of the next step are in flight (max_staleness 1)
        else:
            seen[step] = pool.versions()

    result = train(config(tmp_path, "kill-worker", steps=3), progress=False, on_step=fault)
    assert result.steps == 3 and result.version == 3
    last = result.history[-1]
    assert last["workers/restarts"] >= 1 and last["groups/lost_total"] >= 1
    assert seen[2] == [2] and seen[3] == [3]  # the restarted worker runs the learner's current weights


def test_learner_death_then_resume(tmp_path: Path) -> None:
    cfg = config(tmp_path, "kill-learner", steps=3)

    def fault(step, record, handles):
        if step == 2:
            ray.kill(handles["learner"])

    with pytest.raises(ray.exceptions.RayActorError):
        train(cfg, progress=False, on_step=fault)
    run_dir = cfg.run.folder
    assert read_state(latest_checkpoint(run_dir))["step"] == 2
    ray.shutdown()
    resumed = train(cfg, resume=True, progress=False)
    assert [h["step"] for h in resumed.history] == [3] and resumed.version == 3


def test_kill_9_while_writing_a_checkpoint_leaves_the_previous_one_usable(tmp_path: Path) -> None:
    cfg = config(tmp_path, "kill-9", steps=1)
    train(cfg, progress=False)
    run_dir = cfg.run.folder
    before = [p.name for p in list_checkpoints(run_dir)]
    # a process that writes the next checkpoint the way the trainer does, slowly, and is killed mid-way
    writer = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from rl.checkpoint import tmp_dir
        from rl.learner import LearnerImpl
        run = Path({str(run_dir)!r})
        tmp = tmp_dir(run, 2)
        LearnerImpl(str(run / "initial_policy"), {{}}, {{}}).save(tmp, str(run / "initial_policy"))
        (tmp / "WRITTEN").write_text("x")
        time.sleep(600)  # killed here, before the commit (rename)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=Path(__file__).parents[1])
    marker = None
    for _ in range(600):
        found = list((run_dir / "checkpoints").glob(".tmp-*/WRITTEN"))
        if found:
            marker = found[0]
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker is not None, "the writer never got to the middle of its checkpoint"
    assert [p.name for p in list_checkpoints(run_dir)] == before  # the half-written one is not a checkpoint
    longer = cfg.model_copy(update={"algo": cfg.algo.model_copy(update={"steps": 2})})
    resumed = train(longer, resume=True, progress=False)
    assert [h["step"] for h in resumed.history] == [2]
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))  # leftovers are cleaned after the next commit


STUCK_ENV = """
import time
from environments import AgentEnv, Outcome, register, user


class StuckEnv(AgentEnv):
    family = "test"

    def new_task(self, rng):
        return [user("anything")]

    def handle(self, action):
        time.sleep(3600)  # a tool that never returns
        return Outcome([user("never")])

    def oracle_action(self):
        return {"content": "x"}


register("test-stuck", StuckEnv, max_turns=2)
"""


def test_a_stuck_environment_cannot_stall_training(tmp_path: Path) -> None:
    module = tmp_path / "stuck_env.py"
    module.write_text(STUCK_ENV)
    cfg = config(
        tmp_path,
        "stuck",
        steps=2,
        rollout={"env_modules": [str(module)], "episode_timeout_s": 4.0},
        algo={"env_mix": {"tools-calculator-easy": 3.0, "test-stuck": 1.0}},
    )
    result = train(cfg, progress=False)
    assert result.steps == 2
    assert result.history[-1]["groups/lost_total"] >= 1
