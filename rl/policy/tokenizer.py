"""A byte-level tokenizer built locally with the `tokenizers` library (nothing is downloaded).

Every byte is one token, so any text round-trips exactly; the chat format's role and tool-call markers
are single special tokens. The tokenizer carries the chat template of `rollout.chat_format`.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rollout.chat_format import BOS, CHAT_TEMPLATE, END, PAD, SPECIAL_TOKENS


def build_byte_tokenizer(model_max_length: int = 4096) -> PreTrainedTokenizerFast:
    """The byte-level tokenizer with the agentrl chat template: special tokens first, then the 256 bytes."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
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
