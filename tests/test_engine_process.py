"""The engine in its own process: same generations as in-process, weights and versions, cancellation, errors."""

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
from rollout.engines.select import build_engine, make_engine

PARAMS = GenParams(max_new_tokens=12, temperature=1.0, seed=7)
CFG = RolloutConfig(engine="transformers", max_concurrent_episodes=8)


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


def test_generations_equal_the_in_process_engine(engine: EngineProcess, policy: Path) -> None:
    async def one_by_one(eng):  # each request alone, so its batch and sampler seed are its own
        return [await eng.generate(p, GenParams(max_new_tokens=12, seed=s)) for s, p in enumerate(prompts)]

    prompts = [[5, 6, 7, 8, 9], [5, 6, 7, 8, 9], [11, 12, 13]]
    local = build_engine("transformers", policy, CFG)
    try:
        want = asyncio.run(one_by_one(local))
    finally:
        local.close()
    got = asyncio.run(one_by_one(engine))
    assert got[0].token_ids != got[1].token_ids or got[0].logprobs != got[1].logprobs
    assert [g.token_ids for g in got] == [w.token_ids for w in want]
    for g, w in zip(got, want, strict=True):
        assert g.logprobs == pytest.approx(w.logprobs, abs=1e-6)
        assert g.finish_reason == w.finish_reason
    asyncio.run(_generate(engine, prompts))  # concurrently: one batch, shared prefill
    stats = asyncio.run(engine.get_stats())
    assert stats["batches"] >= 1 and stats["row_steps"] >= sum(len(g.token_ids) for g in got)


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


def test_a_cancelled_request_leaves_and_others_finish(engine: EngineProcess) -> None:
    async def go():
        slow = asyncio.ensure_future(engine.generate([5, 6, 7], GenParams(max_new_tokens=4000, temperature=1.0)))
        await asyncio.sleep(0.5)
        slow.cancel()
        other = await asyncio.wait_for(engine.generate([8, 9], PARAMS), timeout=60)
        return slow, other

    slow, other = asyncio.run(go())
    assert slow.cancelled() and len(other.token_ids) >= 1


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
