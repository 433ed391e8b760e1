"""The shipped BPE tokenizer and the function that trains it."""

from __future__ import annotations

import json

import pytest

from rl.policy.tokenizer import (
    BPE_FILE,
    BPE_VOCAB_SIZE,
    build_bpe_tokenizer,
    build_byte_tokenizer,
    train_bpe_tokenizer,
)
from rollout.chat_format import SPECIAL_TOKENS
from sft.data import oracle_demo

CORPUS = [
    'Compute 830 + 177. Use the calculate tool.<|end|><|assistant|>{"name": "calculate"}',
    "def dedupe(items: list[int]) -> list[int]:\n    seen = set()\n    return items\n",
    "move A onto table\nmove B onto C\n",
] * 20


def test_training_is_deterministic_and_never_merges_digits() -> None:
    a = train_bpe_tokenizer(CORPUS, vocab_size=320)
    b = train_bpe_tokenizer(CORPUS, vocab_size=320)
    assert a.to_str() == b.to_str()
    vocab = a.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    merged = [t for t in vocab if len(t) > 1 and t not in SPECIAL_TOKENS]
    assert merged, "the corpus should produce merges"
    assert not [t for t in merged if any(c.isdigit() for c in t)]


def test_vocab_too_small_for_the_bytes_is_an_error() -> None:
    with pytest.raises(ValueError, match="vocab_size must be at least 266"):
        train_bpe_tokenizer(CORPUS, vocab_size=100)


def test_shipped_tokenizer_shape() -> None:
    tok = build_bpe_tokenizer()
    assert len(tok) == BPE_VOCAB_SIZE
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    ids = tok.encode("x = 90817 + 3", add_special_tokens=False)
    assert [tok.decode([i]) for i in ids if tok.decode([i]).strip().isdigit()] == list("908173")
    assert json.loads(BPE_FILE.read_text())["model"]["type"] == "BPE"


def test_bpe_shortens_demonstrations_against_bytes() -> None:
    """The reason the presets use it: the same calculator demonstration in far fewer tokens."""
    demo = oracle_demo("tools-calculator-easy", 1_000_000)
    lengths = {}
    for name, tok in (("byte", build_byte_tokenizer()), ("bpe", build_bpe_tokenizer())):
        text = tok.apply_chat_template(demo.messages, tools=demo.tools, tokenize=False)
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        lengths[name] = len(ids)
    assert lengths["bpe"] * 2.5 < lengths["byte"], lengths


def test_missing_file_names_the_file_and_the_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="tools/build_tokenizer.py"):
        build_bpe_tokenizer(path=tmp_path / "nope.json")
