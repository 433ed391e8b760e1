"""The transformers engine's token sampling on CPU: `torch.multinomial`, the exponential race (vLLM's sampler:
`probs / Exponential(1)`, argmax) and an inverse CDF from one uniform per row (`rollout.engines.sampling`, the
shipped path), side by side in one run.

    .venv/bin/python benchmarks/sampling.py [--rows 8,20,32] [--vocab 2048] [--calls 300] [--repeats 3]

Each call samples one token per row from softmax probabilities of random logits, as one decode step of the engine
does (the engine runs 17-21 rows per step in grpo-tiny), on one thread. Variants interleave over `--repeats`
rounds; medians of microseconds per call.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import print_table, write_result

from rollout.engines.sampling import sample_rows


def variants(g: torch.Generator):
    def multinomial(p: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(p, 1, generator=g)[:, 0]

    def exponential_race(p: torch.Tensor) -> torch.Tensor:
        return (p / torch.empty_like(p).exponential_(generator=g)).argmax(-1)

    def inverse_cdf(p: torch.Tensor) -> torch.Tensor:
        return sample_rows(p, g)

    return {"multinomial": multinomial, "exponential race": exponential_race, "inverse CDF (shipped)": inverse_cdf}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="8,20,32")
    parser.add_argument("--vocab", type=int, default=2048, help="nemotron-h-tiny's vocabulary")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    ways = variants(g)
    us: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.repeats):
        for rows in [int(r) for r in args.rows.split(",")]:
            probs = torch.softmax(torch.randn(rows, args.vocab, generator=g) * 3, dim=-1)
            for name, fn in ways.items():
                fn(probs)
                t0 = time.perf_counter()
                for _ in range(args.calls):
                    fn(probs)
                us.setdefault((rows, name), []).append((time.perf_counter() - t0) / args.calls * 1e6)
    rows_out = []
    for (rows, name), v in us.items():
        base = statistics.median(us[(rows, "multinomial")])
        rows_out.append(
            {"rows": rows, "sampler": name, "us_per_call": statistics.median(v), "speedup": base / statistics.median(v)}
        )
    print_table(f"sampling one token per row, vocab {args.vocab}, one thread (medians)", rows_out)
    path = write_result("sampling", vars(args), {"rows": rows_out})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
