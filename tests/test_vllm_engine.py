"""Real vLLM (the CPU build here) serves a saved granite-hybrid-tiny directory exactly like transformers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROMPTS = [
    [{"role": "user", "content": "Add 2 and 3."}],
    [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Look up the weather in Oslo"}],
]
N_NEW = 16


@pytest.fixture(scope="module")
def engine(saved_policies: dict[str, Path]):
    from vllm import LLM

    path = saved_policies["granite-hybrid-tiny"]
    llm = LLM(model=str(path), dtype="float32", max_model_len=512, enforce_eager=True, seed=0)
    yield llm, path
    del llm


@torch.no_grad()
def test_vllm_greedy_continuation_equals_transformers(engine) -> None:
    from vllm import SamplingParams

    llm, path = engine
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()
    prompts = [
        list(tok.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
        for p in PROMPTS
    ]
    params = SamplingParams(temperature=0.0, max_tokens=N_NEW, ignore_eos=True, logprobs=0)
    outputs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    for prompt, output in zip(prompts, outputs, strict=True):
        completion = output.outputs[0]
        vllm_ids = list(completion.token_ids)
        assert len(vllm_ids) == N_NEW
        hf = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=N_NEW,
            min_new_tokens=N_NEW,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
        assert vllm_ids == hf[0, len(prompt) :].tolist()
        # the engine's logprobs of its own tokens match the model's (fp32, CPU)
        full = torch.tensor([prompt + vllm_ids])
        logp = torch.log_softmax(model(input_ids=full).logits[0, len(prompt) - 1 : -1].float(), dim=-1)
        ref = logp.gather(1, torch.tensor(vllm_ids)[:, None])[:, 0]
        engine_lp = torch.tensor([lp[t].logprob for lp, t in zip(completion.logprobs, vllm_ids, strict=True)])
        torch.testing.assert_close(engine_lp, ref, rtol=0, atol=1e-4)
