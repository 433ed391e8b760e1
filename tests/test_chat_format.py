"""Chat template, tool-call parser, and the byte and BPE tokenizers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl.policy.tokenizer import build_bpe_tokenizer, build_byte_tokenizer
from rollout.chat_format import (
    ASSISTANT,
    END,
    SPECIAL_TOKENS,
    TOOL_CALL,
    TOOL_CALL_END,
    normalize_message,
    parse_assistant,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
]

CONVERSATION = [
    {"role": "system", "content": "You are a careful agent."},
    {"role": "user", "content": "What is 2 + 3, and who wrote «Faust»?"},
    {
        "role": "assistant",
        "content": "I'll use the tools.",
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}},
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": "Faust"}'},
            },
        ],
    },
    {"role": "tool", "content": "5"},
    {"role": "tool", "content": "Goethe"},
    {"role": "assistant", "content": None, "tool_calls": [{"name": "add", "arguments": {"a": 5, "b": 0}}]},
    {"role": "tool", "content": "5"},
    {"role": "assistant", "content": "5, and Goethe."},
]


@pytest.fixture(scope="module", params=["byte", "bpe"])
def tok(request):
    return build_byte_tokenizer() if request.param == "byte" else build_bpe_tokenizer()


def _assistant_texts(rendered: str) -> list[str]:
    parts = rendered.split(ASSISTANT)[1:]
    return [p[: p.index(END) + len(END)] for p in parts]


def test_render_then_parse_gives_back_the_same_structure(tok) -> None:
    rendered = tok.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=False)
    assert rendered.startswith("<|tools|>") and json.dumps(TOOLS[0]["function"]["parameters"]) in rendered
    texts = _assistant_texts(rendered)
    expected = [normalize_message(m) for m in CONVERSATION if m["role"] == "assistant"]
    assert len(texts) == len(expected) == 3
    for text, want in zip(texts, expected, strict=True):
        parsed = parse_assistant(text)
        assert parsed.ok and parsed.finished, parsed.errors
        assert normalize_message(parsed.to_message()) == want


def test_generation_spans_cover_exactly_the_assistant_turns(tok) -> None:
    enc = tok.apply_chat_template(
        CONVERSATION, tools=TOOLS, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(enc["input_ids"]), list(enc["assistant_masks"])
    assistant, end = tok.convert_tokens_to_ids([ASSISTANT, END])
    # Independent reference: tokens after each <|assistant|> up to and including the next <|end|>.
    want = [0] * len(ids)
    inside = False
    for i, t in enumerate(ids):
        if inside:
            want[i] = 1
            if t == end:
                inside = False
        elif t == assistant:
            inside = True
    assert mask == want
    masked_text = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert masked_text == "".join(_assistant_texts(tok.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=False)))
    assert "Goethe<|end|>" not in masked_text  # tool results carry no loss
    assert "careful agent" not in masked_text


def test_rendering_in_pieces_equals_rendering_whole(tok) -> None:
    """What the agent loop does: prompt, then generated text, then observation messages + the next header."""
    conv = CONVERSATION
    text = tok.apply_chat_template(conv[:2], tools=TOOLS, tokenize=False, add_generation_prompt=True)
    ids = tok.encode(text, add_special_tokens=False)
    for i in range(2, len(conv)):
        msg = conv[i]
        next_is_assistant = i + 1 < len(conv) and conv[i + 1]["role"] == "assistant"
        piece = tok.apply_chat_template([msg], tokenize=False)
        if msg["role"] == "assistant":
            piece = piece.removeprefix(ASSISTANT)
        elif next_is_assistant:
            piece += ASSISTANT
        text += piece
        ids += tok.encode(piece, add_special_tokens=False)
        whole = tok.apply_chat_template(
            conv[: i + 1], tools=TOOLS, tokenize=False, add_generation_prompt=next_is_assistant
        )
        assert text == whole
        assert ids == tok.encode(whole, add_special_tokens=False)


def test_unknown_role_is_an_error(tok) -> None:
    with pytest.raises(Exception, match="unknown chat role: robot"):
        tok.apply_chat_template([{"role": "robot", "content": "hi"}], tokenize=False)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (f"x{TOOL_CALL}{{not json}}{TOOL_CALL_END}{END}", "invalid JSON"),
        (f'{TOOL_CALL}{{"name": "add", "arguments": {{"a": 1}}{END}', "missing <|/tool_call|>"),
        (f'{TOOL_CALL}{{"name": "add", "arguments": [1, 2]}}{TOOL_CALL_END}{END}', "must be a JSON object"),
        (f'{TOOL_CALL}{{"arguments": {{}}}}{TOOL_CALL_END}{END}', "'name'"),
        (f'{TOOL_CALL}["add"]{TOOL_CALL_END}{END}', "expected a JSON object"),
        (f'{TOOL_CALL}{{"name": "a", "arguments": "{{bad"}}{TOOL_CALL_END}{END}', "not JSON"),
        (f'{TOOL_CALL}{{"name": "a", "arguments": {{}}, "x": 1}}{TOOL_CALL_END}{END}', "unexpected keys"),
        (f"done{TOOL_CALL_END}{END}", "stray"),
    ],
)
def test_unparseable_tool_calls_stay_content_with_an_error(text: str, error: str) -> None:
    parsed = parse_assistant(text)
    assert not parsed.ok
    assert any(error in e for e in parsed.errors), parsed.errors
    assert parsed.tool_calls == []
    assert parsed.content == text[: text.index(END)]


def test_valid_and_invalid_calls_mixed() -> None:
    good = f'{TOOL_CALL}{{"name": "add", "arguments": {{"a": 1, "b": 2}}}}{TOOL_CALL_END}'
    bad = f"{TOOL_CALL}oops{TOOL_CALL_END}"
    parsed = parse_assistant(f"pre {good}{bad}{END}")
    assert [c.name for c in parsed.tool_calls] == ["add"]
    assert parsed.content == f"pre {bad}" and len(parsed.errors) == 1 and "tool call 2" in parsed.errors[0]


def test_text_cut_off_before_end_is_marked_unfinished() -> None:
    parsed = parse_assistant("partial answer")
    assert parsed.content == "partial answer" and not parsed.finished and parsed.ok


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(SPECIAL_TOKENS)), max_size=12))
def test_parser_never_raises(pieces: list[str]) -> None:
    parsed = parse_assistant("".join(pieces))
    assert isinstance(parsed.content, str)
    for call in parsed.tool_calls:
        assert isinstance(call.name, str) and isinstance(call.arguments, dict)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_tokenizers_round_trip_any_text(text: str) -> None:
    for tok in _TOKS:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        assert all(0 <= i < len(tok) for i in ids)


_TOKS = (build_byte_tokenizer(), build_bpe_tokenizer())


def test_special_tokens_are_single_tokens(tok) -> None:
    for special in SPECIAL_TOKENS:
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    assert tok.eos_token == END and tok.pad_token_id == 0
