"""The chat and tool-call format shared by the tokenizer presets, the agent loop and the SFT stage.

Rendering is a Hugging Face chat template (Jinja) so that `tokenizer.apply_chat_template`, TRL and vLLM all
render exactly what the rollout renders. The format has no separators between messages, so rendering a
conversation in pieces and concatenating equals rendering it whole (the agent loop relies on this to append
observation tokens after generated tokens without re-tokenising):

    <|tools|>[...OpenAI function schemas...]<|end|>          (only when tools are given)
    <|system|>text<|end|>  <|user|>text<|end|>  <|tool|>result<|end|>
    <|assistant|>{% generation %}text<|tool_call|>{"name": ..., "arguments": {...}}<|/tool_call|><|end|>
                 {% endgeneration %}

`<|end|>` is the end-of-turn (EOS) token and lies inside the generation span, so the policy learns to stop.
`parse_assistant` turns generated text back into `{content, tool_calls}`; text that does not parse stays in
the content and the problem is recorded, never raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PAD = "<|pad|>"
BOS = "<|begin|>"
END = "<|end|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
TOOL = "<|tool|>"
TOOLS = "<|tools|>"
TOOL_CALL = "<|tool_call|>"
TOOL_CALL_END = "<|/tool_call|>"
SPECIAL_TOKENS: tuple[str, ...] = (
    PAD,
    BOS,
    END,
    SYSTEM,
    USER,
    ASSISTANT,
    TOOL,
    TOOLS,
    TOOL_CALL,
    TOOL_CALL_END,
)
ROLES = ("system", "user", "assistant", "tool")

CHAT_TEMPLATE = (
    "{%- if tools %}<|tools|>{{ tools | tojson }}<|end|>{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "<|assistant|>{% generation %}{{ message['content'] or '' }}"
    "{%- for tc in message['tool_calls'] or [] %}"
    "{%- set f = tc['function'] if tc['function'] is defined else tc %}"
    '<|tool_call|>{"name": {{ f["name"] | tojson }}, "arguments": '
    "{%- if f['arguments'] is string %} {{ f['arguments'] }}{%- else %} {{ f['arguments'] | tojson }}{%- endif %}"
    "}<|/tool_call|>"
    "{%- endfor %}"
    "<|end|>{% endgeneration %}"
    "{%- elif message['role'] in ['system', 'user', 'tool'] %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- else %}{{ raise_exception('unknown chat role: ' ~ message['role']) }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>{%- endif %}"
)


@dataclass
class ToolCall:
    """One parsed tool call."""

    name: str
    arguments: dict[str, Any]

    def to_openai(self, index: int) -> dict[str, Any]:
        """The OpenAI chat-completions form of this call."""
        return {
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass
class ParsedAssistant:
    """An assistant turn parsed from generated text."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Why some text could not be read as a tool call (that text stays in `content`)."""
    finished: bool = True
    """False when the text did not end with the end-of-turn token (cut off by a length limit)."""

    @property
    def ok(self) -> bool:
        """True when every tool-call block parsed."""
        return not self.errors

    def to_message(self) -> dict[str, Any]:
        """The OpenAI-style assistant message."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [tc.to_openai(i) for i, tc in enumerate(self.tool_calls)]
        return msg


def _parse_call(raw: str) -> tuple[ToolCall | None, str | None]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at char {exc.pos})"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object with 'name' and 'arguments', got {type(obj).__name__}"
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None, "missing or non-string 'name'"
    args = obj.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return None, f"'arguments' is a string that is not JSON ({exc.msg})"
    if not isinstance(args, dict):
        return None, f"'arguments' must be a JSON object, got {type(args).__name__}"
    extra = set(obj) - {"name", "arguments"}
    if extra:
        return None, f"unexpected keys {sorted(extra)} (expected 'name' and 'arguments')"
    return ToolCall(name=name, arguments=args), None


def parse_assistant(text: str) -> ParsedAssistant:
    """Parse generated assistant text (special tokens kept) into content and tool calls.

    Never raises: a block that is not a valid tool call is kept verbatim in `content` with an error.
    """
    finished = False
    if END in text:
        text = text[: text.index(END)]
        finished = True
    content_parts: list[str] = []
    calls: list[ToolCall] = []
    errors: list[str] = []
    rest = text
    n = 0
    while True:
        start = rest.find(TOOL_CALL)
        if start < 0:
            content_parts.append(rest)
            break
        content_parts.append(rest[:start])
        n += 1
        body_start = start + len(TOOL_CALL)
        end = rest.find(TOOL_CALL_END, body_start)
        if end < 0:
            errors.append(f"tool call {n}: missing {TOOL_CALL_END}")
            content_parts.append(rest[start:])
            break
        raw = rest[body_start:end]
        call, err = _parse_call(raw)
        if call is None:
            errors.append(f"tool call {n}: {err}")
            content_parts.append(rest[start : end + len(TOOL_CALL_END)])
        else:
            calls.append(call)
        rest = rest[end + len(TOOL_CALL_END) :]
    stray = [tok for tok in (TOOL_CALL_END,) if tok in "".join(content_parts) and not errors]
    if stray:
        errors.append(f"stray {TOOL_CALL_END} without an opening {TOOL_CALL}")
    return ParsedAssistant(content="".join(content_parts), tool_calls=calls, errors=errors, finished=finished)


def normalize_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message reduced to what the format carries (for comparisons): role, content, tool calls."""
    out: dict[str, Any] = {"role": message["role"], "content": message.get("content") or ""}
    calls = []
    for tc in message.get("tool_calls") or []:
        f = tc.get("function", tc)
        args = f.get("arguments", {})
        calls.append({"name": f["name"], "arguments": json.loads(args) if isinstance(args, str) else args})
    if calls:
        out["tool_calls"] = calls
    return out
