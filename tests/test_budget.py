"""Token budgets against env oracles: measured lengths, the messages, and the shipped configs' budgets."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import environments
from rl.budget import OracleNeed, budget_problems, episode_tokens, oracle_needs, warn_token_budget
from rl.config.loader import load_config
from rollout.agent_loop import ChatRenderer
from rollout.config import SamplingConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def tokenizer(saved_policies: dict[str, Path]):
    return AutoTokenizer.from_pretrained(saved_policies["nemotron-h-tiny"])


def test_episode_tokens_counts_each_assistant_turn_with_its_end_token(tokenizer) -> None:
    r = ChatRenderer(tokenizer)
    short, long_ = "ok", "a much longer answer with many more words in it than the first"
    messages = [
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": short},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": long_},
    ]
    turn, total = episode_tokens(r, messages, [])
    assert turn == len(r.encode(long_)) + 1  # the end-of-turn token is generated too
    assert total == len(r.conversation_ids(messages, None)) > turn


def test_the_code_oracle_outgrows_a_128_token_turn(tokenizer) -> None:
    (code,) = oracle_needs(["code-fn-easy"], tokenizer, seeds=24)
    assert code.env_id == "code-fn-easy" and code.seeds == 24
    assert code.turn_tokens > 128  # caesar's reference solution; 128 was the shipped budget once
    lines = budget_problems([code], 128, 4096, "rollout.sampling")
    assert len(lines) == 1 and "code-fn-easy" in lines[0] and "rollout.sampling.max_new_tokens=128" in lines[0]


def test_budget_problems_names_each_key_that_is_too_small() -> None:
    need = OracleNeed("env-a", turn_tokens=50, episode_tokens=300, seeds=4)
    assert budget_problems([need], 50, 300, "rollout.sampling") == []
    lines = budget_problems([need], 49, 299, ("eval", "rollout.sampling"))
    assert len(lines) == 2
    assert "eval.max_new_tokens=49" in lines[0] and "rollout.sampling.max_total_tokens=299" in lines[1]


def test_warn_token_budget_logs_and_returns_the_problems(saved_policies: dict[str, Path], caplog) -> None:
    tight = SamplingConfig(max_new_tokens=16, max_total_tokens=64)
    with caplog.at_level(logging.WARNING, logger="rl.budget"):
        lines = warn_token_budget(["tools-calculator-easy"], saved_policies["nemotron-h-tiny"], tight, "x", False)
    assert len(lines) == 2 and all("tools-calculator-easy" in line for line in lines)
    assert sum("token budget" in rec.message for rec in caplog.records) == 2


@pytest.mark.parametrize(("name", "evaluates"), [("grpo-tiny.yaml", False), ("quickstart.yaml", True)])
def test_shipped_configs_leave_room_for_every_oracle(name: str, evaluates: bool, tokenizer) -> None:
    """The envs a config trains on, and those it evaluates (the quickstart scores every stage), fit its budget."""
    cfg = load_config(CONFIGS / name)
    envs = set(environments.resolve_ids([e for e, w in cfg.algo.env_mix.items() if w > 0]))
    if evaluates or cfg.eval.every_steps:
        envs |= set(cfg.eval.env_ids())
    s = cfg.rollout.sampling
    assert budget_problems(oracle_needs(sorted(envs), tokenizer), s.max_new_tokens, s.max_total_tokens, name) == []


class _StuckEnv(environments.AgentEnv):
    family = "test"

    def new_task(self, rng):
        return [environments.user("anything")]

    def handle(self, action):
        time.sleep(3600)  # a tool that never returns
        return environments.Outcome([environments.user("never")])

    def oracle_action(self):
        return {"content": "x"}


class _NoOracleEnv(_StuckEnv):
    def oracle_action(self):
        raise NotImplementedError


def test_envs_that_hang_or_have_no_oracle_are_skipped_not_waited_for(tokenizer) -> None:
    environments.register("test-budget-stuck", _StuckEnv, max_turns=2)
    environments.register("test-budget-no-oracle", _NoOracleEnv, max_turns=2)
    try:
        t0 = time.perf_counter()
        needs = oracle_needs(["test-budget-no-oracle", "test-budget-stuck"], tokenizer, seeds=2, timeout_s=1.0)
        assert needs == [] and time.perf_counter() - t0 < 5.0
        needs = oracle_needs(["test-budget-no-oracle", "tools-calculator-easy"], tokenizer, seeds=2)
        assert [n.env_id for n in needs] == ["tools-calculator-easy"]
    finally:
        environments.unregister("test-budget-stuck")
        environments.unregister("test-budget-no-oracle")
