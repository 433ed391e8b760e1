"""The agent loop in isolation: a scripted engine (the one mock here) replays chosen assistant texts, so the
token bookkeeping can be checked exactly across multi-turn tool episodes, malformed output and length cuts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import environments
from rl.policy.tokenizer import build_byte_tokenizer
from rollout.agent_loop import ChatRenderer, run_episode
from rollout.chat_format import ASSISTANT, END, TOOL_CALL, TOOL_CALL_END
from rollout.config import SamplingConfig
from rollout.engines.base import Engine, Generation, GenParams

TOK = build_byte_tokenizer()
SAMPLING = SamplingConfig(max_new_tokens=400, max_total_tokens=6000)


def assistant_text(action: dict) -> str:
    """How a model writes `action` in this chat format (the template's assistant rendering, minus the header)."""
    msg = {"role": "assistant", "content": action.get("content", ""), "tool_calls": action.get("tool_calls") or []}
    return TOK.apply_chat_template([msg], tokenize=False).removeprefix(ASSISTANT)


class ScriptedEngine(Engine):
    """Replays texts; for each it returns their ids and a fixed logprob per token."""

    name = "scripted"

    def __init__(self, texts: list[str], cut: set[int] = frozenset(), delay: float = 0.0):
        super().__init__()
        self.texts, self.cut, self.delay = list(texts), set(cut), delay
        self.outputs: list[list[int]] = []
        self.prompts: list[list[int]] = []

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        if self.delay:
            await asyncio.sleep(self.delay)
        n = len(self.outputs)
        text = self.texts[min(n, len(self.texts) - 1)]
        ids = TOK.encode(text, add_special_tokens=False)
        reason = "stop"
        if n in self.cut:  # pretend the turn hit max_new_tokens: drop the end-of-turn token
            ids, reason = ids[:-1], "length"
        self.prompts.append(list(prompt_ids))
        self.outputs.append(ids)
        return Generation(ids, [-0.5] * len(ids), reason, self.version)


def oracle_texts(env_id: str, seed: int) -> list[str]:
    env = environments.make(env_id)
    env.reset(seed=seed)
    texts = []
    while True:
        action = env.oracle_action()
        texts.append(assistant_text(action))
        *_, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return texts


def play(engine: Engine, env_id: str, seed: int, sampling: SamplingConfig = SAMPLING):
    return asyncio.run(run_episode(engine, environments.make(env_id), ChatRenderer(TOK), sampling, env_id, seed))


def test_token_in_token_out_over_a_multi_turn_tool_episode() -> None:
    engine = ScriptedEngine(oracle_texts("tools-kb-3hop", 4))
    traj = play(engine, "tools-kb-3hop", 4)
    assert traj.success and traj.reward == 1.0 and traj.turns == 4 and traj.tool_calls == 3
    # 1. the trajectory is exactly: prompt, then per turn the engine's ids and the rendered observation ids
    expected, mask = list(engine.prompts[0]), [0] * len(engine.prompts[0])
    for turn, out in enumerate(engine.outputs):
        expected += out
        mask += [1] * len(out)
        if turn + 1 < len(engine.outputs):
            nxt = engine.prompts[turn + 1]
            assert nxt[: len(expected)] == expected  # each prompt extends the previous tokens, never re-tokenised
            mask += [0] * (len(nxt) - len(expected))
            expected = list(nxt)
    assert traj.token_ids == expected
    assert traj.loss_mask == mask
    # 2. and it equals the chat template's rendering of the transcript, whose assistant mask is the loss mask
    transcript = traj.messages[:-1]  # the env's last feedback is not part of the tokens
    rendered = TOK.apply_chat_template(
        transcript, tools=traj.tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert traj.token_ids == list(rendered["input_ids"])
    assert traj.loss_mask == list(rendered["assistant_masks"])
    # 3. behaviour logprobs sit exactly on generated tokens, versions too
    assert all((lp == -0.5) == bool(m) for lp, m in zip(traj.logprobs, traj.loss_mask, strict=True))
    assert all((v == 0) == bool(m) for v, m in zip(traj.versions, traj.loss_mask, strict=True))
    assert traj.prompt_len == len(engine.prompts[0])


def test_malformed_tool_call_is_an_observation_and_the_episode_goes_on() -> None:
    good = oracle_texts("tools-kb-2hop", 1)
    broken = f'Let me look.{TOOL_CALL}{{"name": "lookup", "arguments": {{"entity": }}{TOOL_CALL_END}{END}'
    engine = ScriptedEngine([broken, *good])
    traj = play(engine, "tools-kb-2hop", 1)
    assert traj.parse_errors == 1
    feedback = traj.messages[2]
    assert feedback["role"] == "user" and "could not be parsed" in feedback["content"]
    assert traj.success and traj.reward == 1.0 and traj.turns == len(good) + 1


def test_a_turn_cut_by_the_length_limit_gets_an_unlearned_end_token() -> None:
    texts = oracle_texts("tools-kb-2hop", 2)
    engine = ScriptedEngine(texts, cut={0})
    traj = play(engine, "tools-kb-2hop", 2)
    end_id = TOK.convert_tokens_to_ids(END)
    first_gen_end = traj.prompt_len + len(engine.outputs[0])
    assert traj.token_ids[first_gen_end] == end_id and traj.loss_mask[first_gen_end] == 0
    assert traj.success  # the cut text still parsed into the tool call, and the episode continued


def test_token_budget_stops_the_episode() -> None:
    engine = ScriptedEngine(["move left" + END])
    traj = play(engine, "plan-maze-5", 0, SamplingConfig(max_new_tokens=8, max_total_tokens=900))
    assert traj.finish == "max_tokens" and len(traj.token_ids) <= 900 and not traj.success


def test_a_hanging_code_execution_does_not_stall_other_episodes(tmp_path: Path) -> None:
    hang = "Here:\n```python\nwhile True:\n    pass\n```" + END  # hangs as soon as the harness loads it
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(4)
    order: list[str] = []

    async def main():
        renderer = ChatRenderer(TOK)
        slow = run_episode(
            ScriptedEngine([hang]),
            environments.make("code-fn-easy"),
            renderer,
            SAMPLING,
            "code-fn-easy",
            0,
            env_pool=pool,
        )
        fast_engine = ScriptedEngine(oracle_texts("tools-kb-3hop", 0), delay=0.01)
        fast = run_episode(
            fast_engine, environments.make("tools-kb-3hop"), renderer, SAMPLING, "tools-kb-3hop", 0, env_pool=pool
        )

        async def tagged(name, coro):
            result = await coro
            order.append(name)
            return result

        return await asyncio.gather(tagged("code", slow), tagged("tools", fast))

    code_traj, tool_traj = asyncio.run(main())
    assert order == ["tools", "code"]  # the tool episode finished while the sandbox was still running
    assert tool_traj.success and code_traj.reward == 0.0
    assert code_traj.env_s > tool_traj.env_s
    assert "longer than" in code_traj.messages[-1]["content"]  # the env reported the timeout


@pytest.mark.parametrize("env_id", ["tools-calculator-easy", "plan-blocksworld-3", "code-fn-easy"])
def test_oracle_replay_solves_each_family(env_id: str) -> None:
    traj = play(ScriptedEngine(oracle_texts(env_id, 3)), env_id, 3)
    assert traj.success and traj.reward == 1.0 and traj.parse_errors == 0
