"""Multi-hop lookup over an in-memory knowledge base: each answer needs 2-3 dependent tool calls.

A seeded synthetic world of people, companies, cities and countries (invented names, so no model can know
them beforehand). `lookup(entity, relation)` returns one fact; the question chains relations
(person -> employer -> headquarters -> country), so each lookup needs the previous result. Success: the
answer names the right entity and no other entity of that kind.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.registry import register
from environments.tool_env import Tool, ToolEnv, answer, call, params

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tas",
    "vo",
    "zel",
    "dra",
    "pin",
    "qua",
    "sor",
    "bel",
    "nix",
    "tor",
    "gam",
    "wex",
    "hul",
    "fen",
    "ro",
    "sa",
]
RELATIONS = {"person": ("employer", "company"), "company": ("headquarters", "city"), "city": ("country", "country")}
QUESTION = {
    2: "In which city is the headquarters of the company that {p} works for?",
    3: "In which country is the headquarters of the company that {p} works for?",
}


def _names(rng: np.random.Generator, n: int, parts: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        name = "".join(SYLLABLES[int(i)] for i in rng.integers(0, len(SYLLABLES), size=parts)).capitalize()
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


class KnowledgeBaseEnv(ToolEnv):
    """Answer a `hops`-hop question about a synthetic world with the `lookup` tool."""

    def __init__(self, hops: int = 2, world_size: int = 6, max_turns: int = 6, **kw: Any):
        if hops not in QUESTION or world_size < 2:
            raise ValueError(f"hops must be one of {sorted(QUESTION)}, world_size >= 2")
        self.hops, self.world_size = hops, world_size
        self.facts: dict[tuple[str, str], str] = {}
        tool = Tool(
            "lookup",
            "Look up one fact. Relations: employer (of a person), headquarters (of a company), country (of a city).",
            params({"entity": "string", "relation": "string"}),
            self._lookup,
        )
        super().__init__([tool], max_turns=max_turns, **kw)

    def _lookup(self, entity: str, relation: str) -> str:
        key = (entity.strip().lower(), relation.strip().lower())
        if key not in self.facts:
            return f"no fact about {relation!r} of {entity!r}"
        return f"The {relation.strip().lower()} of {entity.strip()} is {self.facts[key]}."

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        taken: set[str] = set()
        n = self.world_size
        people = _names(rng, n, 2, taken)
        companies = [c + " Corp" for c in _names(rng, n, 2, taken)]
        cities = _names(rng, n, 3, taken)
        countries = [c + "ia" for c in _names(rng, max(2, n // 2), 2, taken)]
        self.kinds = {"company": companies, "city": cities, "country": countries}
        self.facts = {}
        for p in people:
            self.facts[(p.lower(), "employer")] = companies[int(rng.integers(n))]
        for c in companies:
            self.facts[(c.lower(), "headquarters")] = cities[int(rng.integers(n))]
        for c in cities:
            self.facts[(c.lower(), "country")] = countries[int(rng.integers(len(countries)))]
        person = people[int(rng.integers(n))]
        chain = [person]
        for rel in ("employer", "headquarters", "country")[: self.hops]:
            chain.append(self.facts[(chain[-1].lower(), rel)])
        self.target = chain[-1]
        self.answer_kind = ("company", "city", "country")[self.hops - 1]
        plan = []
        for entity, rel in zip(chain, ("employer", "headquarters", "country")[: self.hops], strict=False):
            plan.append(
                {
                    "content": f"I need the {rel} of {entity}.",
                    "tool_calls": [call("lookup", entity=entity, relation=rel)],
                }
            )
        plan.append(answer(f"The answer is {self.target}."))
        self.oracle_plan = plan
        return [user(QUESTION[self.hops].format(p=person) + " Use the lookup tool, then reply with the name.")]

    def check_answer(self, content: str) -> Outcome:
        text = content.lower()
        named = {e for e in self.kinds[self.answer_kind] if re.search(rf"\b{re.escape(e.lower())}\b", text)}
        ok = named == {self.target}
        hops_done = sum(1 for name, _ in self.tool_calls_made if name == "lookup")
        feedback = "Correct." if ok else ("Incorrect." if named else f"No {self.answer_kind} named in your answer.")
        return Outcome(
            [user(feedback)],
            reward=float(ok),
            terminated=True,
            success=ok,
            components={"correct": float(ok), "lookups": float(hops_done)},
        )


MODULE = f"{__name__}:KnowledgeBaseEnv"
register(
    "tools-kb-2hop", MODULE, description="person -> employer -> headquarters city", hops=2, world_size=6, max_turns=5
)
register(
    "tools-kb-3hop",
    MODULE,
    description="person -> employer -> headquarters -> country",
    hops=3,
    world_size=8,
    max_turns=6,
)
