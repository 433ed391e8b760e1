"""reasoning-gym (PyPI package `reasoning-gym`) datasets as single-answer envs scored by the dataset's own
`score_answer`.

`ReasoningGymEnv(dataset=NAME, config={...})` adapts any dataset of the installed reasoning-gym: the seed picks
the item (`seed % size` of a procedural dataset built with `create_dataset(NAME, seed=dataset_seed, size=size,
**config)`, cached per process); the opening message is the item's question followed by reasoning-gym's default
answer-format instruction (its default system prompt, reworded); the reply's final answer is the text inside its
last `<answer>...</answer>` tags (as reasoning-gym's own `extract_answer`). The dataset's
`score_answer(answer, entry)` gives the score: reward 1.0 when it is 1.0, else 0 (or the score itself with
`partial_credit=True`); `reward_components["score"]` always carries it. A reply without answer tags gets feedback
(reward 0) and, when `max_turns` allows, another try. The oracle answers with the item's gold answer
(`entry["answer"]`).

Registered by default (family "planning"): tower_of_hanoi, maze, sokoban, n_queens and jugs. rush_hour is left
out: its items carry no gold answer (`entry["answer"]` is None), so no oracle can be built from the data.

Simplified: single turn (no interaction with the puzzle state: a plan is submitted whole and checked by the
scorer); the default difficulty config of each dataset; answers longer than 20,000 characters are refused.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Any

import numpy as np

from environments.base import Action, AgentEnv, Outcome, user
from environments.bench._common import log, package_dir, pick_index
from environments.registry import register

PLANNING_DATASETS: dict[str, str] = {
    "tower_of_hanoi": "games/tower_of_hanoi.py",
    "maze": "games/maze.py",
    "sokoban": "games/sokoban.py",
    "n_queens": "games/n_queens.py",
    "jugs": "algorithmic/jugs.py",
}
"""Datasets registered as bench-rg-<name> (the module file that defines each, to check it exists cheaply)."""
MAX_ANSWER_CHARS = 20_000
DEFAULT_SIZE = 100_000
_ANSWER = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.S)


@lru_cache(maxsize=64)
def _dataset(name: str, config_json: str, dataset_seed: int, size: int) -> Any:
    import reasoning_gym  # imported on first use: it takes a second or two

    return reasoning_gym.create_dataset(name, seed=dataset_seed, size=size, **json.loads(config_json))


def get_dataset(
    name: str, config: dict[str, Any] | None = None, dataset_seed: int = 0, size: int = DEFAULT_SIZE
) -> Any:
    """The reasoning-gym dataset object (cached per process)."""
    return _dataset(name, json.dumps(config or {}, sort_keys=True), int(dataset_seed), int(size))


ANSWER_INSTRUCTION = (
    "Think it through step by step, then give the final answer in the format <answer>answer here</answer>. Do not "
    "explain your reasoning inside the answer tags, give only the final answer. When an example is provided, "
    "strictly follow the format of the answer in that example."
)
"""Appended to each question (reasoning-gym's default system prompt, reworded as one user message)."""


def extract_answer(content: str) -> str | None:
    """The stripped text of the last <answer>...</answer> block, or None (as reasoning-gym's extract_answer)."""
    found = _ANSWER.findall(content)
    return found[-1].strip() if found else None


class ReasoningGymEnv(AgentEnv):
    """One reasoning-gym item per episode, scored by the dataset's own `score_answer`."""

    family = "planning"

    def __init__(
        self,
        dataset: str = "tower_of_hanoi",
        config: dict[str, Any] | None = None,
        dataset_seed: int = 0,
        size: int = DEFAULT_SIZE,
        partial_credit: bool = False,
        max_turns: int = 2,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.dataset_name = dataset
        self.config = dict(config or {})
        self.size = int(size)
        self.partial_credit = bool(partial_credit)
        self.dataset = get_dataset(dataset, self.config, dataset_seed, self.size)
        self.entry: dict[str, Any] = {}

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        self.entry = self.dataset[pick_index(self.reset_seed, rng, self.size, self.reset_options)]
        return [user(f"{self.entry['question']}\n\n{ANSWER_INSTRUCTION}")]

    def oracle_action(self) -> dict[str, Any]:
        return {"content": f"<answer>{self.entry['answer']}</answer>", "tool_calls": []}

    def score(self, answer: str) -> float:
        """The dataset's own score of `answer` on the current item (0 when the scorer fails)."""
        try:
            return float(self.dataset.score_answer(answer, self.entry))
        except Exception:  # a scorer choking on odd input scores nothing
            return 0.0

    def handle(self, action: Action) -> Outcome:
        if action.tool_calls or action.parse_errors:
            msg = "This task has no tools. Reply with your final answer inside <answer></answer> tags."
            return Outcome([user(msg)], errors=["tool calls in a no-tool task"])
        answer = extract_answer(action.content)
        if answer is None:
            msg = "No final answer found. Put your final answer inside <answer></answer> tags."
            return Outcome([user(msg)], errors=["no answer tags"])
        if len(answer) > MAX_ANSWER_CHARS:
            msg = f"Your answer has {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}."
            return Outcome([user(msg)], errors=["answer too long"])
        score = self.score(answer)
        ok = score >= 1.0
        reward = 1.0 if ok else (max(0.0, min(score, 1.0)) if self.partial_credit else 0.0)
        text = "Correct." if ok else f"Wrong (score {score:.2f})."
        return Outcome([user(text)], reward, True, ok, {"score": score}, errors=[] if ok else ["wrong answer"])


def _register() -> None:
    root = package_dir("reasoning_gym")
    if root is None:
        log.debug("reasoning-gym is not installed; no bench-rg-* envs registered")
        return
    for name, module_file in PLANNING_DATASETS.items():
        if not os.path.exists(os.path.join(root, module_file)):
            log.debug("reasoning-gym has no %s dataset here; bench-rg-%s not registered", name, name)
            continue
        register(
            f"bench-rg-{name.replace('_', '-')}",
            "environments.bench.reasoning:ReasoningGymEnv",
            family="planning",
            description=f"reasoning-gym {name}: answer in <answer> tags; the dataset's score_answer decides",
            dataset=name,
            max_turns=2,
        )


_register()
