"""The local tokenizers of the policy presets, built with the `tokenizers` library (nothing is downloaded).

Two tokenizers share the chat template of `rollout.chat_format` and its special tokens (ids 0-9):

- `build_bpe_tokenizer()`, what the presets use: byte-level BPE with a 2048-token vocabulary, trained by
  `train_bpe_tokenizer` on env-oracle demonstrations (`tools/build_tokenizer.py` regenerates the shipped
  `agentrl-bpe-2048.json`). Digits are always single tokens, as in Llama-style tokenizers, so numbers are
  written and copied digit by digit; every byte is in the base alphabet, so any text round-trips. A
  tools-calculator-easy demonstration is ~180 tokens with it against ~580 with the byte tokenizer.
- `build_byte_tokenizer()`: one token per byte. Simple to reason about (tests use it where token counts must be
  obvious), but sequences are ~3x longer.

Both keep the property the agent loop relies on: special tokens split the text before any merge, so a
conversation tokenized message by message equals the whole conversation tokenized at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from rollout.chat_format import BOS, CHAT_TEMPLATE, END, PAD, SPECIAL_TOKENS

BPE_VOCAB_SIZE = 2048
BPE_FILE = Path(__file__).with_name(f"agentrl-bpe-{BPE_VOCAB_SIZE}.json")
"""The shipped BPE tokenizer (tokenizers JSON), written by `tools/build_tokenizer.py`."""


def _wrap(tok: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=END,
        pad_token=PAD,
        model_max_length=model_max_length,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_byte_tokenizer(model_max_length: int = 4096) -> PreTrainedTokenizerFast:
    """The byte-level tokenizer with the agentrl chat template: special tokens first, then the 256 bytes."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return _wrap(tok, model_max_length)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = BPE_VOCAB_SIZE) -> Tokenizer:
    """Train the byte-level BPE on `texts` (deterministic for the same texts): special tokens first, the 256
    bytes, then merges; digits are split before merging so no merge ever contains a digit."""
    least = len(SPECIAL_TOKENS) + 256
    if vocab_size < least:
        raise ValueError(f"vocab_size must be at least {least} (special tokens + bytes), got {vocab_size}")
    tok = Tokenizer(models.BPE(fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


@lru_cache(maxsize=4)
def _load_bpe(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"BPE tokenizer file {file} is missing; regenerate it with tools/build_tokenizer.py")
    return file.read_text()


def build_bpe_tokenizer(model_max_length: int = 4096, path: str | Path = BPE_FILE) -> PreTrainedTokenizerFast:
    """The shipped byte-level BPE tokenizer with the agentrl chat template."""
    return _wrap(Tokenizer.from_str(_load_bpe(str(path))), model_max_length)
