"""The transformers engine's continuous batching: merged cache rows give the logits of one batched forward,
requests join a running batch, finished and cancelled rows leave it, and weight updates land between decode
steps (or, with `update_in_flight=False`, wait for the batch to drain)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from rollout.engines.base import GenParams
from rollout.engines.transformers_engine import TransformersEngine, merge_rows, mergeable, positions


def _prefill(model, prompts: list[list[int]], pad: int = 0):
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = torch.tensor(p), 1
    cache = DynamicCache(config=model.config)
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions(mask), past_key_values=cache, logits_to_keep=1
    )
    return out.past_key_values, mask, out.logits[:, -1]


def _decode(model, cache, mask, tokens: list[int]):
    mask = torch.cat([mask, mask.new_ones((len(tokens), 1))], dim=1)
    ids = torch.tensor(tokens)[:, None]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)[:, -1:], past_key_values=cache)
    return mask, out.logits[:, -1]


@pytest.mark.parametrize("preset", ["nemotron-h-tiny", "granite-hybrid-tiny"])
def test_merged_rows_decode_like_one_batch(saved_policies: dict[str, Path], preset: str) -> None:
    model = AutoModelForCausalLM.from_pretrained(saved_policies[preset], local_files_only=True).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger than initial weights, so every layer's state moves the logits
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    prompts = [torch.randint(5, 2000, (n,), generator=g).tolist() for n in (9, 23, 4, 15)]
    with torch.no_grad():
        _, _, together = _prefill(model, prompts)
        run_cache, run_mask, _ = _prefill(model, prompts[:2])
        new_cache, new_mask, new_logits = _prefill(model, prompts[2:])
        assert mergeable(run_cache)
        # the running rows take one decode step before the new ones join, as in the engine
        run_mask, _ = _decode(model, run_cache, run_mask, [7, 8])
        merged = merge_rows(run_cache, run_mask, new_cache, new_mask)
        _, step_logits = _decode(model, run_cache, merged, [11, 12, 13, 14])
        _, _, want = _prefill(model, [prompts[0] + [7, 11], prompts[1] + [8, 12], prompts[2] + [13], prompts[3] + [14]])
    assert merged.shape == (4, 24) and merged.sum(1).tolist() == [10, 24, 4, 15]
    assert torch.allclose(new_logits, together[2:], atol=1e-4)  # left padding does not change a row
    assert torch.allclose(step_logits, want, atol=1e-4), (step_logits - want).abs().max()


@pytest.fixture(scope="module")
def engine(saved_policies: dict[str, Path]):
    eng = TransformersEngine(saved_policies["nemotron-h-tiny"], max_batch=4)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # as in the merge test: every layer's cached state must matter
        for p in eng.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    yield eng
    eng.close()


def _stats(engine: TransformersEngine) -> dict[str, float]:
    return dict(engine.stats)


def test_requests_join_a_running_batch_and_finished_rows_leave(engine: TransformersEngine) -> None:
    before = _stats(engine)

    async def main():
        short = [engine.generate([3, 4, 5], GenParams(max_new_tokens=2, seed=1)) for _ in range(3)]
        long = engine.generate([6, 7], GenParams(max_new_tokens=30, seed=1))
        # a request that arrives once the first batch runs joins it instead of waiting for it to drain
        first = asyncio.gather(*short, long)
        await asyncio.sleep(0)
        late = [engine.generate([9, 10, 11, 12], GenParams(max_new_tokens=5)) for _ in range(6)]
        return await first, await asyncio.gather(*late)

    (*shorts, long), late = asyncio.run(main())
    after = _stats(engine)
    assert [len(s.token_ids) <= 2 for s in shorts] == [True] * 3
    assert all(len(g.token_ids) <= 5 for g in late) and len(long.token_ids) <= 30
    assert all(g.finish_reason in ("stop", "length") for g in [*shorts, long, *late])
    assert after["joined_running_batch"] > before["joined_running_batch"]
    # rows leave when they finish: the batch never advances more rows than it holds
    assert after["row_steps"] - before["row_steps"] == sum(len(g.token_ids) for g in [*shorts, long, *late])


def test_a_weight_update_lands_between_decode_steps(engine: TransformersEngine) -> None:
    original = {n: p.detach().clone() for n, p in engine.model.named_parameters()}
    head = engine.model.get_output_embeddings()
    assert head.bias is None
    head_name = next(n for n, p in engine.model.named_parameters() if p is head.weight)
    uniform = {**original, head_name: torch.zeros_like(original[head_name])}  # every logit 0: logprob -log V
    log_v = math.log(head.weight.shape[0])
    # The perturbed old weights give logprobs spread around -log V too; at 1e-4 one of ~900 sampled tokens
    # sometimes fell inside by chance. fp32 puts the uniform head's logprobs within ~1e-6 of -log V.
    UNIFORM_TOL = 1e-5  # noqa: N806
    engine.update_in_flight = True

    async def main():
        running = [asyncio.ensure_future(engine.generate([3, 4], GenParams(max_new_tokens=300))) for _ in range(3)]
        await asyncio.sleep(0.1)
        await engine.update_weights(uniform, version=engine.version + 1)
        still_running = sum(not r.done() for r in running)
        after = await engine.generate([5, 6], GenParams(max_new_tokens=3))
        return await asyncio.gather(*running), still_running, after

    old_version = engine.version
    try:
        running, still_running, after = asyncio.run(main())
    finally:
        asyncio.run(engine.update_weights(original, version=engine.version + 1))
        engine.update_in_flight = False
    assert still_running > 0  # the update did not wait for the batch
    assert all(g.version == old_version for g in running)  # a completion carries the oldest weights it used
    assert after.version == old_version + 1
    assert all(abs(lp + log_v) < UNIFORM_TOL for lp in after.logprobs)
    spanning = [g for g in running if any(abs(lp + log_v) < UNIFORM_TOL for lp in g.logprobs)]
    assert spanning
    for g in spanning:  # tokens before the update came from the old weights, every one after from the new
        first = next(i for i, lp in enumerate(g.logprobs) if abs(lp + log_v) < UNIFORM_TOL)
        assert first > 0 and all(abs(lp + log_v) < UNIFORM_TOL for lp in g.logprobs[first:])


def test_a_weight_update_can_wait_for_the_running_batch(engine: TransformersEngine) -> None:
    weights = {n: p.detach().clone() for n, p in engine.model.named_parameters()}
    assert not engine.update_in_flight  # the default

    async def main():
        running = [engine.generate([3, 4], GenParams(max_new_tokens=200)) for _ in range(3)]
        task = asyncio.gather(*running)
        await asyncio.sleep(0.05)
        update = asyncio.ensure_future(engine.update_weights(weights, version=engine.version + 1))
        await asyncio.sleep(0)
        during = engine.generate([5, 6], GenParams(max_new_tokens=3))  # held back until the update is in
        return await task, await update, await during

    old_version = engine.version
    running, _, during = asyncio.run(main())
    assert all(g.version == old_version for g in running)
    assert during.version == old_version + 1


def test_other_sampling_settings_wait_their_turn_and_cancelled_rows_leave(engine: TransformersEngine) -> None:
    async def main():
        a = [engine.generate([3, 4], GenParams(max_new_tokens=4, temperature=1.0)) for _ in range(2)]
        b = [engine.generate([3, 4], GenParams(max_new_tokens=4, temperature=0.5, top_p=0.9)) for _ in range(2)]
        doomed = asyncio.ensure_future(engine.generate([3], GenParams(max_new_tokens=10_000)))
        await asyncio.sleep(0.05)
        doomed.cancel()
        return await asyncio.gather(*a, *b)

    before = _stats(engine)
    out = asyncio.run(main())
    assert len(out) == 4 and all(1 <= len(g.token_ids) <= 4 for g in out)
    assert engine.stats["row_steps"] - before["row_steps"] < 1000  # the cancelled request stopped generating


def test_a_batch_that_fails_fails_every_request_it_took(engine: TransformersEngine, monkeypatch) -> None:
    calls = {"n": 0}
    real = engine._prefill

    def flaky(batch):
        calls["n"] += 1
        if calls["n"] == 2:  # the prefill of requests joining the running batch
            raise RuntimeError("boom")
        return real(batch)

    monkeypatch.setattr(engine, "_prefill", flaky)

    async def main():
        first = [asyncio.ensure_future(engine.generate([3, 4], GenParams(max_new_tokens=200))) for _ in range(2)]
        await asyncio.sleep(0.05)
        joining = [asyncio.ensure_future(engine.generate([5], GenParams(max_new_tokens=3))) for _ in range(2)]
        return await asyncio.gather(*first, *joining, return_exceptions=True)

    out = asyncio.run(main())
    assert calls["n"] == 2
    assert all(isinstance(r, RuntimeError) for r in out), out
    monkeypatch.setattr(engine, "_prefill", real)
    after = asyncio.run(engine.generate([3, 4], GenParams(max_new_tokens=2)))  # the engine keeps serving
    assert 1 <= len(after.token_ids) <= 2


def test_rows_that_joined_a_running_batch_carry_the_learners_logprobs(engine: TransformersEngine) -> None:
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(5, 2000, (n,), generator=g).tolist() for n in (5, 31, 12, 2, 19, 8, 26, 14)]
    before = engine.stats["joined_running_batch"]

    async def main():
        # max_batch 4: the first four run, the rest join as rows finish at their different budgets
        return await asyncio.gather(
            *[engine.generate(p, GenParams(max_new_tokens=3 + 4 * i, temperature=0.9)) for i, p in enumerate(prompts)]
        )

    gens = asyncio.run(main())
    assert engine.stats["joined_running_batch"] - before >= 4
    with torch.no_grad():
        for p, gen in zip(prompts, gens, strict=True):
            ids = torch.tensor([p + gen.token_ids])
            logits = engine.model(input_ids=ids).logits[0, len(p) - 1 : -1].float() / 0.9
            want = torch.log_softmax(logits, -1).gather(1, ids[0, len(p) :, None])[:, 0]
            assert torch.allclose(torch.tensor(gen.logprobs), want, atol=1e-4), torch.tensor(gen.logprobs) - want


def test_requests_with_one_prompt_share_its_prefill_and_sample_apart(engine: TransformersEngine) -> None:
    g = torch.Generator().manual_seed(4)
    group, other = (torch.randint(5, 2000, (n,), generator=g).tolist() for n in (17, 6))
    before = engine.stats["shared_prefill_rows"]

    prompts = [group, other, group, group]  # max_batch 4: one prefill

    async def main():
        params = GenParams(max_new_tokens=12, temperature=1.0, seed=7)
        engine._updates_waiting += 1  # hold the batch back, as a weight update does, until all four wait
        futures = [asyncio.ensure_future(engine.generate(p, params)) for p in prompts]
        await asyncio.sleep(0.05)
        engine._updates_waiting -= 1
        engine._kick()
        return await asyncio.gather(*futures)

    gens = asyncio.run(main())
    assert engine.stats["shared_prefill_rows"] - before == 2  # one forward row per distinct prompt
    assert len({tuple(x.token_ids) for x in gens}) > 2  # the copied rows still sample on their own
    with torch.no_grad():
        for p, gen in zip(prompts, gens, strict=True):
            ids = torch.tensor([p + gen.token_ids])
            logits = engine.model(input_ids=ids).logits[0, len(p) - 1 : -1].float()
            want = torch.log_softmax(logits, -1).gather(1, ids[0, len(p) :, None])[:, 0]
            assert torch.allclose(torch.tensor(gen.logprobs), want, atol=1e-4), torch.tensor(gen.logprobs) - want
