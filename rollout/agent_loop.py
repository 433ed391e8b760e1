"""The multi-turn agent loop: one episode of one env through one engine, token-in/token-out.

    env.reset -> render messages with the chat template -> prompt ids -> engine.generate -> parse the generated
    text into {content, tool_calls} (unparseable text stays content, the parse errors go to the env) -> env.step
    -> render only the new observation messages as ids, append them after the generated ids -> repeat until
    terminated, truncated, or the token budget is spent.

Generated text is decoded only to build the env's action; it is never re-tokenised. The trajectory holds the
engine's ids and logprobs plus the rendered observation ids. A turn cut off by `max_new_tokens` gets the
end-of-turn token appended without loss (the model did not generate it), so the rendered format stays valid.
Env steps run on a thread pool so a blocking step (the code sandbox) never stalls other episodes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

from transformers import PreTrainedTokenizerBase

from rollout.chat_format import parse_assistant
from rollout.config import SamplingConfig
from rollout.engines.base import Engine, GenParams
from rollout.trajectory import Trajectory


class ChatRenderer:
    """Renders messages to token ids with the tokenizer's chat template, incrementally."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tok = tokenizer
        self.eos_id = tokenizer.eos_token_id

    def _render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, gen_prompt: bool) -> str:
        return self.tok.apply_chat_template(
            messages, tools=tools or None, tokenize=False, add_generation_prompt=gen_prompt
        )

    def encode(self, text: str) -> list[int]:
        """Token ids of already rendered text (special tokens included, nothing added)."""
        return list(self.tok.encode(text, add_special_tokens=False))

    def prompt_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        """The opening prompt, ending with the assistant header."""
        return self.encode(self._render(messages, tools, True))

    def conversation_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        """A whole conversation, without a generation prompt."""
        return self.encode(self._render(messages, tools, False))

    def observation_ids(
        self, history: list[dict[str, Any]], new: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[int]:
        """Ids of `new` messages rendered after `history`, plus the next assistant header.

        Computed as the difference of two renderings, which is exact for chat templates that render a
        conversation as the concatenation of its messages (a ValueError says so when a template does not).
        """
        before = self._render(history, tools, False)
        after = self._render(history + new, tools, True)
        if not after.startswith(before):
            raise ValueError("the chat template does not render conversations incrementally (prefix-stable)")
        return self.encode(after[len(before) :])

    def decode(self, ids: list[int]) -> str:
        """Generated ids as text with special tokens kept (for the tool-call parser)."""
        return self.tok.decode(ids, skip_special_tokens=False)


def to_action(text: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(env action, assistant message for the transcript, finished) from generated text."""
    parsed = parse_assistant(text)
    action = {
        "content": parsed.content,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in parsed.tool_calls],
        "parse_errors": list(parsed.errors),
    }
    return action, parsed.to_message(), parsed.finished


async def run_episode(
    engine: Engine,
    env: Any,
    renderer: ChatRenderer,
    sampling: SamplingConfig,
    env_id: str,
    seed: int,
    env_pool: concurrent.futures.Executor | None = None,
    sample_seed: int | None = None,
    group_id: str = "",
    options: dict[str, Any] | None = None,
) -> Trajectory:
    """Play one episode and return its trajectory."""
    loop = asyncio.get_running_loop()

    async def in_pool(fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = await loop.run_in_executor(env_pool, lambda: fn(*args, **kwargs))
        traj.env_s += time.perf_counter() - t0
        return result

    traj = Trajectory(env_id=env_id, seed=seed, group_id=group_id)
    obs, info = await in_pool(env.reset, seed=seed, options=options)
    traj.task_kind = str(info.get("task_kind") or "")
    tools = info.get("tools") or []
    traj.tools = tools
    history: list[dict[str, Any]] = list(obs)
    traj.append(renderer.prompt_ids(history, tools), generated=False)
    traj.prompt_len = len(traj.token_ids)
    turn = 0
    while True:
        budget = sampling.max_total_tokens - len(traj.token_ids)
        if budget <= 0:
            traj.finish = "max_tokens"
            break
        params = GenParams(
            max_new_tokens=min(sampling.max_new_tokens, budget),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=None if sample_seed is None else sample_seed * 1009 + turn,
        )
        t0 = time.perf_counter()
        gen = await engine.generate(list(traj.token_ids), params)
        traj.generation_s += time.perf_counter() - t0
        traj.append(gen.token_ids, generated=True, logprobs=gen.logprobs, version=gen.version)
        traj.turn_versions.append(gen.version)
        traj.generated_tokens += len(gen.token_ids)
        action, message, finished = to_action(renderer.decode(gen.token_ids))
        if not finished and renderer.eos_id is not None:
            traj.append([renderer.eos_id], generated=False)
        traj.parse_errors += bool(action["parse_errors"])
        traj.tool_calls += len(action["tool_calls"])
        history.append(message)
        obs, reward, terminated, truncated, info = await in_pool(env.step, action)
        turn += 1
        traj.reward += float(reward)
        traj.reward_components = dict(info.get("reward_components", {}))
        traj.success = bool(info.get("success", False))
        if terminated or truncated:
            history += obs
            traj.finish = "terminated" if terminated else "truncated"
            break
        obs_ids = renderer.observation_ids(history, obs, tools)
        history += obs
        if len(traj.token_ids) + len(obs_ids) >= sampling.max_total_tokens:
            traj.finish = "max_tokens"
            break
        traj.append(obs_ids, generated=False)
    traj.turns = turn
    traj.messages = history
    traj.check()
    return traj
