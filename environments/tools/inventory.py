"""A stateful tool task: bring an inventory to a target state, then report a count.

The store starts with seeded stock. The user asks for a list of changes (receive, ship, discard), some
conditional on the current stock ("if fewer than 10 bolts, order 20 more"), then for one item's final
count. Tools read and modify the store. Success: the store ends exactly in the target state AND the
reported count is right; partial credit (fraction of items right) is a reward component.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.base import Outcome, user
from environments.registry import register
from environments.tool_env import Tool, ToolEnv, answer, call, last_number, params

ITEMS = ["bolts", "nuts", "washers", "screws", "hinges", "brackets", "rivets", "springs", "gears", "pulleys"]


class InventoryEnv(ToolEnv):
    """Apply `n_ops` changes (some conditional) to a store of `n_items` items, then report a count."""

    def __init__(self, n_items: int = 4, n_ops: int = 2, conditional: bool = False, max_turns: int = 6, **kw: Any):
        if not 2 <= n_items <= len(ITEMS) or n_ops < 1:
            raise ValueError(f"n_items must be between 2 and {len(ITEMS)}, n_ops >= 1")
        self.n_items, self.n_ops, self.conditional = n_items, n_ops, conditional
        self.stock: dict[str, int] = {}
        tools = [
            Tool("get_count", "Current count of an item.", params({"item": "string"}), self._get),
            Tool(
                "add_items",
                "Add a positive quantity of an item.",
                params({"item": "string", "quantity": "integer"}),
                self._add,
            ),
            Tool(
                "remove_items",
                "Remove a positive quantity of an item (not more than in stock).",
                params({"item": "string", "quantity": "integer"}),
                self._remove,
            ),
            Tool("list_items", "All items and their counts.", params({}), self._list),
        ]
        super().__init__(tools, max_turns=max_turns, **kw)

    def _item(self, item: str) -> str:
        key = item.strip().lower()
        if key not in self.stock:
            raise ValueError(f"no item {item!r}; items: {', '.join(sorted(self.stock))}")
        return key

    def _get(self, item: str) -> str:
        key = self._item(item)
        return f"{key}: {self.stock[key]}"

    def _add(self, item: str, quantity: int) -> str:
        key = self._item(item)
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.stock[key] += quantity
        return f"{key}: {self.stock[key]}"

    def _remove(self, item: str, quantity: int) -> str:
        key = self._item(item)
        if quantity <= 0 or quantity > self.stock[key]:
            raise ValueError(f"quantity must be between 1 and the stock of {key} ({self.stock[key]})")
        self.stock[key] -= quantity
        return f"{key}: {self.stock[key]}"

    def _list(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.stock.items()))

    def new_task(self, rng: np.random.Generator) -> list[dict[str, str]]:
        items = [ITEMS[int(i)] for i in rng.choice(len(ITEMS), size=self.n_items, replace=False)]
        self.stock = {it: int(rng.integers(5, 40)) for it in items}
        target = dict(self.stock)
        requests, plan = [], []
        for _ in range(self.n_ops):
            it = items[int(rng.integers(len(items)))]
            qty = int(rng.integers(1, 15))
            if self.conditional and rng.random() < 0.6:
                threshold = int(rng.integers(5, 40))
                requests.append(f"if there are fewer than {threshold} {it}, add {qty} {it}")
                plan.append({"content": f"First I check the {it}.", "tool_calls": [call("get_count", item=it)]})
                if target[it] < threshold:
                    target[it] += qty
                    plan.append(
                        {
                            "content": f"{it} are below {threshold}, so I add {qty}.",
                            "tool_calls": [call("add_items", item=it, quantity=qty)],
                        }
                    )
            elif rng.random() < 0.5 and target[it] > qty:
                requests.append(f"ship {qty} {it}")
                target[it] -= qty
                plan.append(
                    {"content": f"Shipping {qty} {it}.", "tool_calls": [call("remove_items", item=it, quantity=qty)]}
                )
            else:
                requests.append(f"receive {qty} {it}")
                target[it] += qty
                plan.append(
                    {"content": f"Receiving {qty} {it}.", "tool_calls": [call("add_items", item=it, quantity=qty)]}
                )
        self.target_stock = target
        self.asked = items[int(rng.integers(len(items)))]
        plan.append(answer(f"Done. There are now {target[self.asked]} {self.asked}."))
        self.oracle_plan = plan
        todo = "; ".join(requests)
        return [user(f"Update the inventory, in this order: {todo}. Then tell me how many {self.asked} there are.")]

    def check_answer(self, content: str) -> Outcome:
        got = last_number(content)
        right_items = sum(self.stock[k] == v for k, v in self.target_stock.items())
        state_ok = right_items == len(self.target_stock)
        count_ok = got is not None and got == self.target_stock[self.asked]
        ok = state_ok and count_ok
        feedback = (
            "Correct."
            if ok
            else ("The inventory is not in the requested state." if not state_ok else "The reported count is wrong.")
        )
        return Outcome(
            [user(feedback)],
            reward=float(ok),
            terminated=True,
            success=ok,
            components={"state": right_items / len(self.target_stock), "count": float(count_ok)},
        )


MODULE = f"{__name__}:InventoryEnv"
register(
    "tools-inventory-easy", MODULE, description="2 unconditional changes to 4 items", n_items=4, n_ops=2, max_turns=5
)
register(
    "tools-inventory-hard",
    MODULE,
    description="4 changes, some conditional on stock, 6 items",
    n_items=6,
    n_ops=4,
    conditional=True,
    max_turns=10,
)
