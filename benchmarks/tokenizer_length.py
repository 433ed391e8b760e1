"""Sequence length per tokenizer: the same held-out demonstrations in byte tokens and in the presets' BPE tokens.

    .venv/bin/python benchmarks/tokenizer_length.py [--seeds 32]

Renders env-oracle demonstrations of one env config per family (tool specs included) with the chat template,
tokenizes them with the byte tokenizer and with the shipped BPE tokenizer, and reports mean tokens per demo and
the ratio. A training step and a rollout cost roughly in proportion to the tokens, so the ratio is the speed-up
the tokenizer gives every stage (docs/sft.md "Measured" has the effect on SFT steps). Counts, not times: the
result is exact and the same on any machine.
"""

from __future__ import annotations

import argparse
from typing import Any

from common import print_table, write_result

ENVS = ("tools-calculator-easy", "tools-units-direct", "code-fn-easy", "plan-blocksworld-3")


def lengths(env_id: str, seeds: range, byte: Any, bpe: Any) -> dict[str, Any]:
    """Mean byte and BPE tokens per demonstration of `env_id` over `seeds`."""
    from sft.data import oracle_demo

    n_byte = n_bpe = 0
    for seed in seeds:
        demo = oracle_demo(env_id, seed)
        text = byte.apply_chat_template(demo.messages, tools=demo.tools or None, tokenize=False)
        n_byte += len(byte.encode(text, add_special_tokens=False))
        n_bpe += len(bpe.encode(text, add_special_tokens=False))
    return {
        "env": env_id,
        "demos": len(seeds),
        "byte_tokens": round(n_byte / len(seeds), 1),
        "bpe_tokens": round(n_bpe / len(seeds), 1),
        "byte_over_bpe": round(n_byte / n_bpe, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--first-seed", type=int, default=1_000_000, help="held-out seeds by default")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    from rl.policy.tokenizer import build_bpe_tokenizer, build_byte_tokenizer

    byte, bpe = build_byte_tokenizer(), build_bpe_tokenizer()
    rows = [lengths(env, seeds, byte, bpe) for env in ENVS]
    print_table("tokens per demonstration", rows)
    print(f"wrote {write_result('tokenizer_length', vars(args), rows)}")


if __name__ == "__main__":
    main()
