"""Regenerate the shipped BPE tokenizer (`rl/policy/agentrl-bpe-2048.json`) from env-oracle demonstrations.

The corpus is every built-in env config except the `bench-*` ones (their tasks are public benchmarks, kept out
so the tokenizer holds nothing of an eval set), oracle episodes on training seeds 0..N-1 rendered with the chat
template, tool specs included. Training is deterministic: the same corpus gives the same file.

    .venv/bin/python tools/build_tokenizer.py [--seeds 40] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments import registry  # noqa: E402
from rl.policy.tokenizer import BPE_FILE, BPE_VOCAB_SIZE, build_byte_tokenizer, train_bpe_tokenizer  # noqa: E402
from sft.data import oracle_demo  # noqa: E402


def corpus(seeds: int) -> list[str]:
    """Rendered oracle demonstrations of the built-in non-benchmark env configs on seeds 0..seeds-1."""
    render = build_byte_tokenizer()
    texts = []
    for spec in registry.list_envs():
        if spec.id.startswith("bench-"):
            continue
        for seed in range(seeds):
            try:
                demo = oracle_demo(spec.id, seed)
            except RuntimeError:  # the oracle did not solve this seed; it is not a demonstration
                continue
            texts.append(render.apply_chat_template(demo.messages, tools=demo.tools or None, tokenize=False))
    return texts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=40, help="oracle episodes per env config")
    p.add_argument("--vocab-size", type=int, default=BPE_VOCAB_SIZE)
    p.add_argument("--out", type=Path, default=BPE_FILE)
    a = p.parse_args()
    texts = corpus(a.seeds)
    tok = train_bpe_tokenizer(texts, a.vocab_size)
    tok.save(str(a.out), pretty=False)
    print(f"wrote {a.out}: vocab {tok.get_vocab_size()}, corpus {len(texts)} demos, {sum(map(len, texts))} chars")


if __name__ == "__main__":
    main()
