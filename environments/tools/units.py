"""Unit conversion with a conversion-table tool (and the calculator for the arithmetic).

`conversion_factor(from_unit, to_unit)` knows only the table's direct pairs (and their inverses); in the
chained configs the asked pair is not in the table, so the model must chain two or three lookups through an
intermediate unit. Success: the answer is within 0.1% of the true value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.registry import register
from environments.tool_env import Tool, ToolEnv, answer, call, format_number, last_number, params
from environments.tools.calculator import calculator_tool

# (dimension, unit) chains: each unit converts directly only to its neighbours
CHAINS: dict[str, list[tuple[str, float]]] = {
    # unit, size in the dimension's base unit
    "length": [
        ("millimeter", 0.001),
        ("inch", 0.0254),
        ("foot", 0.3048),
        ("yard", 0.9144),
        ("meter", 1.0),
        ("kilometer", 1000.0),
        ("mile", 1609.344),
    ],
    "mass": [
        ("gram", 0.001),
        ("ounce", 0.028349523125),
        ("pound", 0.45359237),
        ("kilogram", 1.0),
        ("stone", 6.35029318),
    ],
    "volume": [
        ("milliliter", 0.001),
        ("teaspoon", 0.00492892159375),
        ("cup", 0.2365882365),
        ("liter", 1.0),
        ("gallon", 3.785411784),
    ],
    "time": [("second", 1.0), ("minute", 60.0), ("hour", 3600.0), ("day", 86400.0), ("week", 604800.0)],
}


def _direct_table() -> dict[tuple[str, str], float]:
    table = {}
    for units in CHAINS.values():
        for (a, sa), (b, sb) in zip(units, units[1:], strict=False):
            table[(a, b)] = sa / sb
            table[(b, a)] = sb / sa
    return table


TABLE = _direct_table()
UNITS = {u for pair in TABLE for u in pair}
IRREGULAR = {"feet": "foot", "inches": "inch"}


def normalize_unit(name: str) -> str:
    """'Inches' -> 'inch', 'feet' -> 'foot', 'kilograms' -> 'kilogram' (unknown names are returned lowered)."""
    n = name.strip().lower()
    if n in IRREGULAR:
        return IRREGULAR[n]
    for cand in (n, n[:-1] if n.endswith("s") else n, n[:-2] if n.endswith("es") else n):
        if cand in UNITS:
            return cand
    return n


def conversion_tool() -> Tool:
    """The `conversion_factor` tool over the direct table."""

    def conversion_factor(from_unit: str, to_unit: str) -> str:
        key = (normalize_unit(from_unit), normalize_unit(to_unit))
        if key not in TABLE:
            known = sorted(UNITS)
            return (
                f"no direct factor from {from_unit!r} to {to_unit!r} in the table; convert through a "
                f"neighbouring unit. Units: {', '.join(known)}"
            )
        return f"1 {key[0]} = {TABLE[key]:.10g} {key[1]}"

    return Tool(
        "conversion_factor",
        "Look up the factor between two units that are adjacent in the conversion table.",
        params({"from_unit": "string", "to_unit": "string"}),
        conversion_factor,
    )


class UnitsEnv(ToolEnv):
    """Convert a quantity between units that are `hops` table steps apart."""

    def __init__(self, hops: int = 1, max_turns: int = 6, **kw: Any):
        if hops not in (1, 2, 3):
            raise ValueError("hops must be 1, 2 or 3")
        self.hops = hops
        super().__init__([conversion_tool(), calculator_tool()], max_turns=max_turns, **kw)

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        dims = sorted(CHAINS)
        units = CHAINS[dims[int(rng.integers(len(dims)))]]
        i = int(rng.integers(0, len(units) - self.hops))
        path = units[i : i + self.hops + 1]
        if rng.random() < 0.5:
            path = path[::-1]
        qty = int(rng.integers(2, 500))
        (src, s_size), (dst, d_size) = path[0], path[-1]
        self.target = qty * s_size / d_size
        lookups = [
            call("conversion_factor", from_unit=a, to_unit=b) for (a, _), (b, _) in zip(path, path[1:], strict=False)
        ]
        factors = [format(TABLE[(a, b)], ".10g") for (a, _), (b, _) in zip(path, path[1:], strict=False)]
        expr = " * ".join([str(qty), *factors])
        self.oracle_plan = [
            {"content": f"I need the factors from {src} to {dst}.", "tool_calls": lookups},
            {"content": "Now the arithmetic.", "tool_calls": [call("calculate", expression=expr)]},
            answer(f"{qty} {src}s = {format_number(self.target)} {dst}s."),
        ]
        return [user(f"Convert {qty} {src}s to {dst}s. Use the tools, then reply with the number of {dst}s.")]

    def check_answer(self, content: str) -> Outcome:
        got = last_number(content)
        if got is None:
            return Outcome(
                [user("No number found in your answer.")],
                terminated=True,
                components={"correct": 0.0},
                errors=["no number in answer"],
            )
        ok = abs(got - self.target) <= 1e-3 * abs(self.target)
        return Outcome(
            [user("Correct." if ok else "Incorrect.")],
            reward=float(ok),
            terminated=True,
            success=ok,
            components={"correct": float(ok), "lookups": float(len(self.tool_calls_made))},
        )


MODULE = f"{__name__}:UnitsEnv"
register("tools-units-direct", MODULE, description="one table lookup", hops=1, max_turns=4)
register(
    "tools-units-chain", MODULE, description="two chained lookups through an intermediate unit", hops=2, max_turns=5
)
register("tools-units-chain3", MODULE, description="three chained lookups", hops=3, max_turns=6)
