"""The engine in its own process: seeded repeats, counters, cancellation, weights and versions, errors."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import torch

from rollout.config import RolloutConfig
from rollout.engines.base import GenParams
from rollout.engines.engine_process import EngineProcess, EngineProcessError, EngineSpec
from rollout.engines.select import make_engine

PARAMS = GenParams(max_new_tokens=12, temperature=1.0, seed=7)
CFG = RolloutConfig(engine="transformers", max_concurrent_episodes=8, engine_threads=1)


def _spec(path: Path) -> EngineSpec:
    return EngineSpec("transformers", str(path), CFG.model_dump())


@pytest.fixture(scope="module")
def policy(saved_policies: dict[str, Path]) -> Path:
    return saved_policies["nemotron-h-tiny"]


@pytest.fixture(scope="module")
def engine(policy: Path):
    eng = EngineProcess(_spec(policy))
    yield eng
    eng.close()


async def _generate(engine, prompts: list[list[int]], params: GenParams = PARAMS):
    return await asyncio.gather(*(engine.generate(p, params) for p in prompts))


def test_a_seeded_request_repeats_and_counters_come_back(engine: EngineProcess) -> None:
    """Correctness against the learner's logprobs is tests/test_rollout_engines.py's check_engine."""

    async def one_by_one():  # each request alone, so its batch and sampler seed are its own
        return [await engine.generate(p, GenParams(max_new_tokens=12, seed=s)) for s, p in enumerate(prompts)]

    prompts = [[5, 6, 7, 8, 9], [5, 6, 7, 8, 9], [11, 12, 13]]
    first, again = asyncio.run(one_by_one()), asyncio.run(one_by_one())
    assert [g.token_ids for g in first] == [g.token_ids for g in again]
    assert first[0].token_ids != first[1].token_ids  # same prompt, other seed
    assert all(g.version == 0 and len(g.logprobs) == len(g.token_ids) for g in first)
    asyncio.run(_generate(engine, prompts))  # concurrently: one batch, shared prefill
    stats = asyncio.run(engine.get_stats())
    assert stats["batches"] >= 7 and stats["row_steps"] >= 2 * sum(len(g.token_ids) for g in first)


def test_cancelled_requests_leave_the_childs_batch(engine: EngineProcess) -> None:
    long = GenParams(max_new_tokens=4000, temperature=1.0)

    async def go():
        slow = [asyncio.ensure_future(engine.generate([5 + i, 6, 7], long)) for i in range(4)]
        await asyncio.sleep(1.0)
        for task in slow:
            task.cancel()
        await asyncio.sleep(0.5)
        before = (await engine.get_stats())["decode_steps"]
        await asyncio.sleep(0.5)
        after = (await engine.get_stats())["decode_steps"]  # still decoding if the child kept the rows
        other = await asyncio.wait_for(engine.generate([8, 9], PARAMS), timeout=60)
        return slow, before, after, other

    slow, before, after, other = asyncio.run(go())
    assert any(task.cancelled() for task in slow)
    assert after == before and len(other.token_ids) >= 1


def test_weights_reach_the_child_with_their_version(engine: EngineProcess, policy: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(policy, local_files_only=True)
    before = asyncio.run(_generate(engine, [[5, 6, 7]], GenParams(max_new_tokens=8, temperature=1.0, seed=3)))[0]
    g = torch.Generator().manual_seed(0)
    weights = {n: p.detach() + 0.5 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
    asyncio.run(engine.update_weights(weights, 5))
    assert engine.version == 5
    after = asyncio.run(_generate(engine, [[5, 6, 7]], GenParams(max_new_tokens=8, temperature=1.0, seed=3)))[0]
    assert after.version == 5 and before.version == 0
    assert after.logprobs != pytest.approx(before.logprobs, abs=1e-4)
    with pytest.raises(KeyError, match="no parameters named"):
        asyncio.run(engine.update_weights({"not.a.parameter": torch.zeros(2)}, 6))
    assert engine.version == 5


def test_a_dead_engine_process_fails_waiting_requests(policy: Path) -> None:
    eng = EngineProcess(_spec(policy))

    async def go():
        waiting = asyncio.ensure_future(eng.generate([5, 6, 7], GenParams(max_new_tokens=4000, temperature=1.0)))
        await asyncio.sleep(0.5)
        os.kill(eng.proc.pid, signal.SIGKILL)
        return await asyncio.wait_for(waiting, timeout=30)

    with pytest.raises(EngineProcessError, match="exited"):
        asyncio.run(go())
    with pytest.raises(EngineProcessError, match="exited"):  # and so does every later request
        asyncio.run(eng.generate([5, 6], PARAMS))
    eng.close()


def test_a_checkpoint_that_does_not_load_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EngineProcessError, match=str(tmp_path)):
        EngineProcess(EngineSpec("transformers", str(tmp_path), CFG.model_dump()))


def test_make_engine_runs_the_engine_in_a_child_unless_told_not_to(policy: Path) -> None:
    eng, reason = make_engine(policy, CFG)
    try:
        assert isinstance(eng, EngineProcess) and eng.proc.pid != os.getpid() and "own process" in reason
    finally:
        eng.close()
    assert eng.proc.poll() is not None
    local, reason = make_engine(policy, CFG.model_copy(update={"engine_process": False}))
    local.close()
    assert not isinstance(local, EngineProcess) and "own process" not in reason
