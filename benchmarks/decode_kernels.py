"""The transformers engine's decode step on CPU with `rollout.engines.cpu_decode` and with transformers' own
fallbacks, side by side in one run.

    .venv/bin/python benchmarks/decode_kernels.py [--policy CKPT] [--batches 8,32] [--prompt 250] [--repeats 3]

Two measurements, each interleaving the two settings over `--repeats` rounds (medians), on one thread like a
rollout engine beside the learner:

- the forward of one decode step of nemotron-h-tiny over `--batch` rows with `--prompt` cached tokens (the
  length of a code-fn-easy opening plus its answer), timed over `--steps` greedy steps after a prefill;
- the engine end to end: `--requests` random prompts of `--prompt` tokens, `--new-tokens` sampled each, through
  `TransformersEngine(decode_kernels=...)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

import torch
from common import policy_dir, print_table, write_result
from transformers import AutoModelForCausalLM, DynamicCache

from rollout.engines import cpu_decode
from rollout.engines.base import GenParams
from rollout.engines.transformers_engine import TransformersEngine, positions


def step_ms(model, batch: int, prompt: int, steps: int, fast: bool) -> float:
    """Median milliseconds of one decode forward over `batch` rows after a `prompt`-token prefill."""
    ids = torch.randint(20, 2000, (batch, prompt), generator=torch.Generator().manual_seed(batch))
    mask = torch.ones_like(ids)
    cache = DynamicCache(config=model.config)
    model.set_attn_implementation(cpu_decode.ATTENTION if fast else "sdpa")
    times = []
    with torch.no_grad(), cpu_decode.enabled() if fast else contextlib.nullcontext():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), past_key_values=cache)
        for _ in range(steps):
            mask = torch.cat([mask, mask.new_ones((batch, 1))], dim=1)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            out = model(input_ids=nxt, attention_mask=mask, position_ids=positions(mask)[:, -1:], past_key_values=cache)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[2:])


def engine_seconds(path: str, requests: int, prompt: int, new_tokens: int, fast: bool) -> tuple[float, float]:
    """(wall seconds, seconds in decode forwards) for `requests` prompts through one engine."""
    engine = TransformersEngine(path, max_batch=requests, decode_kernels=fast)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(20, 2000, (prompt,), generator=g).tolist() for _ in range(requests)]
    params = GenParams(max_new_tokens=new_tokens, temperature=1.0, seed=0)

    async def run():
        return await asyncio.gather(*[engine.generate(p, params) for p in prompts])

    try:
        t0 = time.perf_counter()
        asyncio.run(run())
        return time.perf_counter() - t0, engine.stats["decode_s"]
    finally:
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=None, help="checkpoint directory (default: random-init nemotron-h-tiny)")
    ap.add_argument("--batches", default="8,32")
    ap.add_argument("--prompt", type=int, default=250)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = policy_dir(args.policy)
    cpu_decode.install()
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        ms: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for fast in (False, True):
                ms[fast].append(step_ms(model, batch, args.prompt, args.steps, fast))
        base, fast = statistics.median(ms[False]), statistics.median(ms[True])
        rows.append(
            {
                "measure": f"decode forward, {batch} rows x {args.prompt} cached tokens",
                "transformers_ms": round(base, 2),
                "cpu_decode_ms": round(fast, 2),
                "speedup": round(base / fast, 3),
            }
        )
        print(rows[-1], flush=True)
    wall: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(args.repeats):
        for fast in (False, True):
            wall[fast].append(engine_seconds(path, args.requests, args.prompt, args.new_tokens, fast))
    for i, what in enumerate(("wall s", "decode s")):
        base = statistics.median(w[i] for w in wall[False])
        fast = statistics.median(w[i] for w in wall[True])
        rows.append(
            {
                "measure": f"engine, {args.requests} requests x {args.new_tokens} new tokens: {what}",
                "transformers_ms": round(1000 * base, 1),
                "cpu_decode_ms": round(1000 * fast, 1),
                "speedup": round(base / fast, 3),
            }
        )
    print_table("transformers engine decode: cpu_decode vs transformers' fallbacks (1 thread)", rows)
    print(f"wrote {write_result('decode_kernels', vars(args), rows)}")


if __name__ == "__main__":
    main()
