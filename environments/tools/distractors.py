"""Choosing the right tool among distractors.

Each task needs exactly one of many similar-looking tools (weather vs forecast, exchange rate vs stock
price, ...), each backed by a seeded synthetic table. Calling a wrong tool is not an error, it just returns
an unhelpful fact. Success: the answer is right AND the right tool was called (the `right_tool` component).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.registry import register
from environments.tool_env import Tool, ToolEnv, answer, call, last_number, params

CITIES = ["Oslo", "Lima", "Cairo", "Perth", "Quito", "Hanoi", "Dakar", "Riga", "Tunis", "Minsk"]
CURRENCIES = ["EUR", "JPY", "GBP", "CHF", "INR", "BRL", "KRW", "MXN"]
TICKERS = ["ACME", "GLOBX", "INITECH", "UMBRA", "HOOLI", "VANDL"]

# tool name -> (description, argument name, key domain, question template, unit)
TOOLS: dict[str, tuple[str, str, list[str], str, str]] = {
    "get_temperature": (
        "Current temperature in a city, in degrees Celsius.",
        "city",
        CITIES,
        "What is the temperature in {k} right now, in degrees Celsius?",
        "degrees",
    ),
    "get_forecast_high": (
        "Tomorrow's forecast high in a city, in degrees Celsius.",
        "city",
        CITIES,
        "What is tomorrow's forecast high temperature in {k}, in degrees Celsius?",
        "degrees",
    ),
    "get_humidity": (
        "Current relative humidity in a city, in percent.",
        "city",
        CITIES,
        "What is the current relative humidity in {k}, in percent?",
        "percent",
    ),
    "get_population": (
        "Population of a city, in thousands.",
        "city",
        CITIES,
        "What is the population of {k}, in thousands?",
        "thousand",
    ),
    "get_exchange_rate": (
        "Units of a currency per US dollar.",
        "currency",
        CURRENCIES,
        "How many {k} does one US dollar buy?",
        "units",
    ),
    "get_inflation": (
        "Yearly inflation of a currency, in percent.",
        "currency",
        CURRENCIES,
        "What is the yearly inflation of the {k}, in percent?",
        "percent",
    ),
    "get_stock_price": (
        "Last traded price of a stock ticker, in US dollars.",
        "ticker",
        TICKERS,
        "What is the last traded price of {k} stock, in dollars?",
        "dollars",
    ),
    "get_dividend": (
        "Yearly dividend per share of a stock ticker, in US dollars.",
        "ticker",
        TICKERS,
        "What yearly dividend per share does {k} pay, in dollars?",
        "dollars",
    ),
}


class DistractorToolsEnv(ToolEnv):
    """Answer one question with the one right tool out of `n_tools` similar ones."""

    def __init__(self, n_tools: int = 8, max_turns: int = 4, **kw: Any):
        if not 2 <= n_tools <= len(TOOLS):
            raise ValueError(f"n_tools must be between 2 and {len(TOOLS)}")
        self.tables: dict[str, dict[str, int]] = {}
        tools = []
        for name in list(TOOLS)[:n_tools]:
            desc, arg, _, _, _ = TOOLS[name]
            tools.append(Tool(name, desc, params({arg: "string"}), self._make_fn(name)))
        super().__init__(tools, max_turns=max_turns, **kw)

    def _make_fn(self, name: str):
        def fn(**kwargs: str) -> str:
            key = str(next(iter(kwargs.values()))).strip()
            table = self.tables.get(name, {})
            match = next((k for k in table if k.lower() == key.lower()), None)
            if match is None:
                return f"unknown {TOOLS[name][1]} {key!r}; known: {', '.join(sorted(table))}"
            return f"{name}({match}) = {table[match]}"

        return fn

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        names = list(self.toolbox)
        self.tables = {n: {k: int(rng.integers(1, 1000)) for k in TOOLS[n][2]} for n in names}
        order = [names[int(i)] for i in rng.permutation(len(names))]
        self.tools = [self.toolbox[n].spec() for n in order]  # shuffled so position gives nothing away
        self.right_tool = names[int(rng.integers(len(names)))]
        _, arg, keys, question, unit = TOOLS[self.right_tool]
        key = keys[int(rng.integers(len(keys)))]
        self.target = self.tables[self.right_tool][key]
        self.oracle_plan = [
            {
                "content": f"The right tool for this is {self.right_tool}.",
                "tool_calls": [call(self.right_tool, **{arg: key})],
            },
            answer(f"The answer is {self.target} {unit}."),
        ]
        return [user(question.format(k=key) + " Use the right tool, then reply with the number.")]

    def check_answer(self, content: str) -> Outcome:
        got = last_number(content)
        right = any(name == self.right_tool for name, _ in self.tool_calls_made)
        wrong = sum(1 for name, _ in self.tool_calls_made if name != self.right_tool)
        correct = got is not None and got == self.target
        ok = correct and right
        return Outcome(
            [user("Correct." if ok else "Incorrect.")],
            reward=float(ok),
            terminated=True,
            success=ok,
            components={"correct": float(correct), "right_tool": float(right), "wrong_tool_calls": float(wrong)},
        )


MODULE = f"{__name__}:DistractorToolsEnv"
register("tools-distractors-4", MODULE, description="the right tool out of 4 similar ones", n_tools=4, max_turns=4)
register("tools-distractors-8", MODULE, description="the right tool out of 8 similar ones", n_tools=8, max_turns=4)
