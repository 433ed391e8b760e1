"""Real engines on CPU: behaviour logprobs equal the learner's recomputation, before and after a weight update."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import environments
from rollout.agent_loop import ChatRenderer, run_episode
from rollout.config import SamplingConfig, VllmOptions
from rollout.engines import EngineChoiceError, choose_engine
from rollout.trajectory import Trajectory

TEMPERATURE = 0.8
SAMPLING = SamplingConfig(temperature=TEMPERATURE, max_new_tokens=24, max_total_tokens=1400)
ENV = "plan-maze-5"  # replies that are not moves get feedback and the episode goes on: many turns


def learner_logprobs(model, traj: Trajectory) -> torch.Tensor:
    """Logprobs of every token given its prefix, by one forward pass (what the learner computes)."""
    ids = torch.tensor([traj.token_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float() / TEMPERATURE
    lp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
    return torch.cat([torch.zeros(1), lp])


def compare(model, trajs: list[Trajectory]) -> tuple[float, float]:
    """(mean, max) |engine - learner| over generated tokens."""
    diffs = []
    for tr in trajs:
        mask = torch.tensor(tr.loss_mask, dtype=torch.bool)
        diffs.append((learner_logprobs(model, tr)[mask] - torch.tensor(tr.logprobs)[mask]).abs())
    d = torch.cat(diffs)
    return d.mean().item(), d.max().item()


def play(engine, tok, seeds: list[int], sample_base: int) -> list[Trajectory]:
    renderer = ChatRenderer(tok)

    async def main():
        return await asyncio.gather(
            *[
                run_episode(engine, environments.make(ENV), renderer, SAMPLING, ENV, s, sample_seed=sample_base + s)
                for s in seeds
            ]
        )

    return asyncio.run(main())


def perturbed(model) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {n: p.detach() + 0.05 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}


def check_engine(engine, path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()
    trajs = play(engine, tok, [0, 1, 2], 10)
    assert all(tr.turns >= 2 for tr in trajs), [tr.turns for tr in trajs]
    assert all(v == 0 for tr in trajs for v in tr.turn_versions)
    mean, worst = compare(model, trajs)
    print(f"{engine.name}: engine vs learner logprobs, mean {mean:.2e}, max {worst:.2e}")
    assert mean < 1e-4

    new_weights = perturbed(model)
    asyncio.run(engine.update_weights(new_weights, version=1))
    old = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()
    model.load_state_dict(new_weights, strict=False)
    after = play(engine, tok, [3, 4], 20)
    assert all(v == 1 for tr in after for v in tr.turn_versions)
    mean_new, worst_new = compare(model, after)
    mean_old, _ = compare(old, after)
    print(f"{engine.name} after update: vs new weights mean {mean_new:.2e} max {worst_new:.2e}; vs old {mean_old:.2e}")
    assert mean_new < 1e-4
    assert mean_old > 1e-2


def test_transformers_engine_logprobs_match_the_learner(saved_policies: dict[str, Path]) -> None:
    from rollout.engines.transformers_engine import TransformersEngine

    path = saved_policies["nemotron-h-tiny"]
    engine = TransformersEngine(path)
    try:
        check_engine(engine, path)
    finally:
        engine.close()


def test_transformers_engine_in_its_own_process_matches_the_learner(saved_policies: dict[str, Path]) -> None:
    from rollout.engines.engine_process import EngineProcess, EngineSpec

    path = saved_policies["nemotron-h-tiny"]
    engine = EngineProcess(EngineSpec("transformers", str(path), {"engine": "transformers"}))
    try:
        check_engine(engine, path)
    finally:
        engine.close()


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_engine_logprobs_match_the_learner(saved_policies: dict[str, Path]) -> None:
    from rollout.engines.vllm_engine import VllmEngine

    path = saved_policies["granite-hybrid-tiny"]
    engine = VllmEngine(path, VllmOptions(max_model_len=2048))
    try:
        check_engine(engine, path)
    finally:
        engine.close()


def test_auto_engine_choice_says_why(saved_policies: dict[str, Path]) -> None:
    nemo, granite = saved_policies["nemotron-h-tiny"], saved_policies["granite-hybrid-tiny"]
    name, why = choose_engine(nemo, "auto", cuda=False)
    assert name == "transformers" and "Nemotron-H MoE" in why
    assert choose_engine(granite, "auto", cuda=False)[0] == "vllm"
    assert choose_engine(nemo, "auto", cuda=True)[0] == "vllm"
    assert choose_engine(granite, "transformers", cuda=False)[0] == "transformers"
    with pytest.raises(EngineChoiceError, match="rollout.engine=vllm cannot serve"):
        choose_engine(nemo, "vllm", cuda=False)
