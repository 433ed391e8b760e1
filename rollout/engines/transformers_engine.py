"""The transformers engine: batched `generate` with cache, for policies vLLM cannot serve on this device.

Requests that arrive while a batch is running wait for the next batch (micro-batching): each batch is
left-padded and run to completion by `model.generate`, so unlike vLLM there is no continuous batching across
episodes mid-generation. Left padding was checked to give the same logits as unpadded generation for the
hybrid Mamba presets. Sampling uses torch's global generator on the engine thread, seeded per batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rollout.engines.base import Engine, Generation, GenParams

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class _Request:
    prompt_ids: list[int]
    params: GenParams
    future: asyncio.Future = field(repr=False)


class TransformersEngine(Engine):
    """Serve a Hugging Face checkpoint directory with `transformers`."""

    name = "transformers"

    def __init__(
        self, path: str | Path, dtype: str = "float32", max_batch: int = 32, seed: int = 0, device: str | None = None
    ):
        super().__init__()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], local_files_only=True)
        self.model.to(self.device).eval()
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.eos_id = tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_id
        self.max_batch = max_batch
        self._pending: list[_Request] = []
        self._runner: asyncio.Task | None = None
        self._batches = 0
        self._seed = seed

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(list(prompt_ids), params, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        while self._pending:
            # one batch shares temperature/top_p; others wait for the next round
            first = self._pending[0].params
            batch = [
                r for r in self._pending if (r.params.temperature, r.params.top_p) == (first.temperature, first.top_p)
            ][: self.max_batch]
            for r in batch:
                self._pending.remove(r)
            try:
                results = await self._on_engine_thread(self._generate_batch, batch, self.version)
            except Exception as exc:  # infrastructure failure: every waiting episode sees it
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r, res in zip(batch, results, strict=True):
                if not r.future.done():
                    r.future.set_result(res)

    @torch.no_grad()
    def _generate_batch(self, batch: list[_Request], version: int) -> list[Generation]:
        self._batches += 1
        seed = batch[0].params.seed
        torch.manual_seed(seed if seed is not None else self._seed * 1_000_003 + self._batches)
        width = max(len(r.prompt_ids) for r in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, width - len(r.prompt_ids) :] = torch.tensor(r.prompt_ids)
            mask[i, width - len(r.prompt_ids) :] = 1
        p = batch[0].params
        max_new = max(r.params.max_new_tokens for r in batch)
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=max_new,
            do_sample=True,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=0,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
            output_logits=True,
            return_dict_in_generate=True,
            use_cache=True,
        )
        new = out.sequences[:, width:].cpu()
        logits = torch.stack(out.logits, dim=1).float().cpu() / p.temperature  # [batch, steps, vocab]
        logp = torch.log_softmax(logits, dim=-1).gather(-1, new[:, : logits.shape[1], None])[..., 0]
        results = []
        for i, r in enumerate(batch):
            toks = new[i].tolist()
            limit = r.params.max_new_tokens
            if self.eos_id in toks[:limit]:
                n, reason = toks.index(self.eos_id) + 1, "stop"
            else:
                n, reason = min(limit, len(toks)), "length"
            results.append(Generation(toks[:n], logp[i, :n].tolist(), reason, version))
        return results

    def _load_weights(self, items: list[tuple[str, torch.Tensor]]) -> None:
        params = dict(self.model.named_parameters())
        unknown = [n for n, _ in items if n not in params]
        if unknown:
            raise KeyError(f"update_weights: the served model has no parameters named {unknown[:5]}")
        with torch.no_grad():
            for name, tensor in items:
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))
