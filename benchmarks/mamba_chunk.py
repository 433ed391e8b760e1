"""Training step time of nemotron-h-tiny per Mamba-2 scan chunk size, side by side in one run.

    .venv/bin/python benchmarks/mamba_chunk.py [--chunks 16,32,64,128] [--batch 4] [--length 180] [--repeats 3]

On CPU, transformers runs Mamba-2 with its reference PyTorch chunked scan, whose cost depends on the chunk size
(quadratic work inside a chunk, a sequential pass between chunks); the result is the same for any chunk size.
This times forward + backward + AdamW steps on random token ids (180 BPE tokens is the length of a
tools-calculator-easy demonstration), interleaving the chunk sizes over `--repeats` rounds and reporting medians
and the ratio to chunk size 64 (the earlier preset value).
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import print_table, write_result


def step_seconds(chunk: int, batch: int, length: int, steps: int) -> float:
    """Median seconds per training step of the preset with `chunk_size=chunk`."""
    import torch

    from rl.policy.build import load_policy
    from rl.policy.config import PolicyConfig

    model, _ = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny", overrides={"chunk_size": chunk}))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(20, 200, (batch, length), generator=torch.Generator().manual_seed(0))
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= 2:  # the first steps warm allocator and kernels up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", default="16,32,64,128")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=180)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chunks = [int(c) for c in args.chunks.split(",")]
    samples: dict[int, list[float]] = {c: [] for c in chunks}
    for _ in range(args.repeats):
        for c in chunks:
            samples[c].append(step_seconds(c, args.batch, args.length, args.steps))
    base = statistics.median(samples[64]) if 64 in samples else None
    rows = []
    for c in chunks:
        med = statistics.median(samples[c])
        rows.append(
            {
                "chunk_size": c,
                "step_s_median": round(med, 4),
                "tokens_per_s": round(args.batch * args.length / med),
                "speedup_vs_64": round(base / med, 3) if base else None,
            }
        )
    print_table("nemotron-h-tiny training step per Mamba-2 chunk size", rows)
    print(f"wrote {write_result('mamba_chunk', vars(args), rows)}")


if __name__ == "__main__":
    main()
