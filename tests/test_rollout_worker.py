"""Rollout workers as real Ray actors: groups end to end, streaming, least-loaded dispatch, weight broadcast."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
import torch

from rollout.config import RolloutConfig
from rollout.pool import GroupTask, RolloutPool

SAMPLING = {"max_new_tokens": 24, "max_total_tokens": 1000}


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_pool_needs_ray() -> None:
    ray.shutdown()  # whatever an earlier module left running
    with pytest.raises(RuntimeError, match=r"ray.init\(\) must be called"):
        RolloutPool("unused", RolloutConfig())


def _valid(traj) -> None:
    traj.check()
    assert traj.turns >= 1 and traj.finish in {"terminated", "truncated", "max_tokens"}
    gen = [i for i, m in enumerate(traj.loss_mask) if m]
    assert gen and gen[0] >= traj.prompt_len
    assert all(traj.logprobs[i] <= 0 for i in gen)
    assert all(traj.logprobs[i] == 0 and traj.versions[i] == -1 for i, m in enumerate(traj.loss_mask) if not m)


def test_groups_stream_from_two_transformers_workers(ray_local, saved_policies: dict[str, Path]) -> None:
    cfg = RolloutConfig(workers=2, group_size=2, sampling=SAMPLING)
    pool = RolloutPool(saved_policies["nemotron-h-tiny"], cfg)
    try:
        assert [i["engine"] for i in pool.infos] == ["transformers", "transformers"]
        assert "Nemotron-H MoE" in pool.infos[0]["reason"]
        tasks = [
            GroupTask(e, s)
            for e, s in [("tools-kb-2hop", 0), ("plan-maze-5", 1), ("code-fn-easy", 2), ("tools-calculator-easy", 3)]
        ]
        results = list(pool.run(tasks))
        assert sorted((r.task.env_id, r.task.seed) for r in results) == sorted((t.env_id, t.seed) for t in tasks)
        assert {r.worker for r in results} == {0, 1}
        for r in results:
            assert len(r.trajectories) == 2
            assert len({t.group_id for t in r.trajectories}) == 1
            assert all(t.env_id == r.task.env_id and t.seed == r.task.seed for t in r.trajectories)
            for t in r.trajectories:
                _valid(t)
        maze = next(r for r in results if r.task.env_id == "plan-maze-5")
        assert all(t.turns > 1 for t in maze.trajectories)  # malformed moves get feedback; the episode goes on

        weights = {n: torch.zeros_like(p) for n, p in _named_params(saved_policies["nemotron-h-tiny"])}
        seconds = pool.update_weights(weights, version=3)
        assert seconds > 0 and pool.versions() == [3, 3]
        after = list(pool.run([GroupTask("tools-kb-2hop", 5)]))[0]
        assert all(t.turn_versions == [3] * t.turns for t in after.trajectories)

        # in the background: a group that needs a newer version waits on its worker until the weights come
        early = pool.submit(GroupTask("tools-kb-2hop", 6, min_version=4))
        assert ray.wait([early], timeout=3)[0] == []  # version 3 is loaded, 4 is not sent yet
        pool.start_weight_update(weights, version=4)
        assert pool.synced_version in (3, 4)
        waited = pool.next_finished(timeout=120)
        assert waited is not None and all(t.turn_versions == [4] * t.turns for t in waited.trajectories)
        assert pool.finish_weight_update() >= 0 and pool.synced_version == 4 and pool.versions() == [4, 4]
        pool.start_weight_update(weights, version=5)
        pool.start_weight_update(weights, version=6)  # the first broadcast is finished before the next starts
        assert pool.finish_weight_update() >= 0 and pool.synced_version == 6 and pool.versions() == [6, 6]
        ray.kill(pool.workers[1])  # dies before it can load the next broadcast: restarted with those weights
        pool.start_weight_update(weights, version=7)
        pool.finish_weight_update()
        assert pool.restarts == 1 and pool.synced_version == 7 and pool.versions() == [7, 7]
    finally:
        pool.shutdown()


def _named_params(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, local_files_only=True).named_parameters()


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_worker_through_ray(ray_local, saved_policies: dict[str, Path]) -> None:
    cfg = RolloutConfig(workers=1, group_size=3, sampling=SAMPLING, vllm={"max_model_len": 2048})
    pool = RolloutPool(saved_policies["granite-hybrid-tiny"], cfg)
    try:
        assert pool.infos[0]["engine"] == "vllm"
        results = list(pool.run([GroupTask("plan-maze-5", 0), GroupTask("tools-units-direct", 1)]))
        assert len(results) == 2
        for r in results:
            assert len(r.trajectories) == 3
            for t in r.trajectories:
                _valid(t)
    finally:
        pool.shutdown()
