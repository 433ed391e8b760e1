"""Token budgets against env oracles: does a sampling config leave room for a correct answer?

An assistant turn cut at `max_new_tokens`, or an episode cut at `max_total_tokens`, rarely succeeds, and under
`algo.overlong_filter` it carries no loss. A budget below what an env's correct answers need therefore caps
pass@1 and takes that part of the env away from RL without any error. `oracle_needs` plays each env's oracle
on a few seeds (the episodes the SFT stage learns from) and measures, in the policy's tokens, its longest
assistant turn and its longest episode; `budget_problems` names the env configs a sampling config is too
small for. `agentrl train`, `agentrl eval` and the quickstart print these as warnings.

Simplified: the oracle is one correct answer, not the shortest one, and a few seeds do not cover every task
an env can draw; envs without a working oracle, or slower than a timeout, are skipped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from rollout.agent_loop import ChatRenderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OracleNeed:
    """The longest oracle assistant turn and episode of one env config, in tokens."""

    env_id: str
    turn_tokens: int
    """Tokens of the longest assistant turn (content, tool calls and the end-of-turn token)."""
    episode_tokens: int
    """Tokens of the longest whole episode (prompt, observations and every assistant turn)."""
    seeds: int
    """Oracle episodes measured."""


def episode_tokens(
    renderer: ChatRenderer, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> tuple[int, int]:
    """(longest assistant turn, whole episode) of one conversation in tokens, as the rollout renders it."""
    longest = 0
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        before = renderer.prompt_ids(messages[:i], tools)
        longest = max(longest, len(renderer.conversation_ids(messages[: i + 1], tools)) - len(before))
    total = len(renderer.conversation_ids(messages, tools))
    return longest, total


def oracle_needs(
    env_ids: list[str], tokenizer: PreTrainedTokenizerBase, seeds: int = 24, timeout_s: float = 20.0
) -> list[OracleNeed]:
    """Measure the oracle of each env config on `seeds` training seeds.

    Envs whose oracle fails are skipped. The episodes run on a daemon thread for at most `timeout_s` seconds,
    so an env that hangs (a tool that never returns) costs that long and is left unchecked, with the envs
    after it."""
    from sft.data import oracle_demo

    renderer = ChatRenderer(tokenizer)
    done: dict[str, OracleNeed] = {}

    def measure() -> None:
        for env_id in env_ids:
            try:
                demos = [oracle_demo(env_id, seed) for seed in range(seeds)]
            except Exception as exc:  # advisory: an env without a working oracle is just not checked
                log.info("token budget: %s not checked (%s)", env_id, exc)
                continue
            sizes = [episode_tokens(renderer, d.messages, d.tools) for d in demos]
            done[env_id] = OracleNeed(env_id, max(s[0] for s in sizes), max(s[1] for s in sizes), len(sizes))

    worker = threading.Thread(target=measure, name="oracle-token-budget", daemon=True)
    worker.start()
    worker.join(timeout_s)
    measured = dict(done)
    if worker.is_alive():
        left = [e for e in env_ids if e not in measured]
        log.warning("token budget: oracle episodes took over %g s; %s not checked", timeout_s, ", ".join(left))
    return [measured[e] for e in env_ids if e in measured]


def budget_problems(
    needs: list[OracleNeed], max_new_tokens: int, max_total_tokens: int, where: str | tuple[str, str]
) -> list[str]:
    """One line per env config whose oracle does not fit the budget. `where` is the config section the two
    limits come from (e.g. `rollout.sampling`), or the two keys' sections when they differ."""
    new_at, total_at = (where, where) if isinstance(where, str) else where
    lines = []
    for n in needs:
        if n.turn_tokens > max_new_tokens:
            lines.append(
                f"{n.env_id}: the oracle's longest turn takes {n.turn_tokens} tokens, more than "
                f"{new_at}.max_new_tokens={max_new_tokens}; such answers are cut off and fail"
            )
        if n.episode_tokens > max_total_tokens:
            lines.append(
                f"{n.env_id}: the oracle's longest episode takes {n.episode_tokens} tokens, more than "
                f"{total_at}.max_total_tokens={max_total_tokens}; such episodes are cut off and fail"
            )
    return lines


def warn_token_budget(
    env_ids: list[str], policy_path: str | Path, sampling: Any, where: str | tuple[str, str], console: bool = True
) -> list[str]:
    """Log (and with `console`, print) `budget_problems` for a run's env configs and sampling budget."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(policy_path), local_files_only=True)
    lines = budget_problems(oracle_needs(env_ids, tokenizer), sampling.max_new_tokens, sampling.max_total_tokens, where)
    for line in lines:
        log.warning("token budget: %s", line)
    if lines and console:
        from rich.console import Console

        Console(stderr=True).print("\n".join(f"warning: {line}" for line in lines), style="yellow", highlight=False)
    return lines
