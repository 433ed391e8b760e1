"""A bank of procedurally parameterised "write this Python function" tasks.

Each template draws its parameters (divisors, shift amounts, words, bracket kinds, ...) from a numpy generator
and returns a `CodeTask`: the function's name and signature, a description that states the drawn parameters,
a reference solution (the oracle's answer, as source), a few visible example tests and the hidden tests. All
expected outputs are computed by running the reference (trusted code, in this process) on the drawn inputs,
and are JSON values (ints, strings, bools, None, lists) so they survive the trip through the sandbox harness.

    task = make_task(np.random.default_rng(0), "medium")
    task.prompt_block()         # signature + description + examples

Difficulty picks the template pool (easy / medium / hard, six templates each) and, within a template, larger
inputs for harder levels.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class Case:
    """One unit test: positional arguments and the expected return value."""

    args: tuple[Any, ...]
    expected: Any

    def call(self, func_name: str) -> str:
        """The call as Python source, e.g. `f(3, 'ab')`."""
        return f"{func_name}({', '.join(repr(a) for a in self.args)})"


@dataclass(frozen=True)
class CodeTask:
    """A function-writing task with its reference solution and tests."""

    template: str
    func_name: str
    signature: str
    description: str
    reference: str
    """Source of a correct solution (what the oracle submits)."""
    visible: tuple[Case, ...]
    hidden: tuple[Case, ...]

    def prompt_block(self) -> str:
        """The task as shown to the model: signature, description and visible examples."""
        examples = "\n".join(f"    {c.call(self.func_name)} == {c.expected!r}" for c in self.visible)
        return f"Write a Python function\n\n    {self.signature}\n\n{self.description}\n\nExamples:\n{examples}"


def values_equal(got: Any, expected: Any) -> bool:
    """Strict equality of JSON values: bool is not int, lists compare element-wise, floats with a tolerance."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, float) or isinstance(got, float):
        if not isinstance(got, int | float) or not isinstance(expected, int | float):
            return False
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(values_equal, got, expected))
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(values_equal(got[k], expected[k]) for k in expected)
        )
    return type(got) is type(expected) and got == expected


# --- template helpers -------------------------------------------------------------------------------------------
class _Draw:
    """Small conveniences over a numpy generator (plain Python values out)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, seq: Any) -> Any:
        """One element of a sequence."""
        return seq[int(self.rng.integers(len(seq)))]

    def sample(self, seq: Any, k: int) -> list[Any]:
        """k distinct elements of a sequence, in random order."""
        idx = self.rng.choice(len(seq), size=k, replace=False)
        return [seq[int(i)] for i in idx]

    def ints(self, n: int, lo: int, hi: int) -> list[int]:
        """n uniform integers in [lo, hi]."""
        return [self.int(lo, hi) for _ in range(n)]

    def text(self, n: int, alphabet: str) -> str:
        """n characters from `alphabet`."""
        return "".join(self.choice(alphabet) for _ in range(n))

    def words(self, n: int, pool: tuple[str, ...] = ()) -> list[str]:
        """n lowercase words (from `pool` when given)."""
        if pool:
            return [self.choice(pool) for _ in range(n)]
        return [self.text(self.int(1, 6), string.ascii_lowercase) for _ in range(n)]


@dataclass
class _Spec:
    func_name: str
    signature: str
    description: str
    reference: str
    inputs: list[tuple[Any, ...]]
    """Argument tuples; the first three non-trivial ones become the visible examples."""


_WORDS = ("apple", "river", "stone", "cloud", "tiger", "lamp", "moss", "delta", "echo", "fern", "gold", "harp")
_TEMPLATES: dict[str, tuple[str, Callable[[_Draw, int], _Spec]]] = {}


def _template(level: str) -> Callable[[Callable[[_Draw, int], _Spec]], Callable[[_Draw, int], _Spec]]:
    def deco(fn: Callable[[_Draw, int], _Spec]) -> Callable[[_Draw, int], _Spec]:
        _TEMPLATES[fn.__name__.lstrip("_")] = (level, fn)
        return fn

    return deco


# --- easy -------------------------------------------------------------------------------------------------------
@_template("easy")
def _sum_multiples(d: _Draw, lvl: int) -> _Spec:
    a, b = sorted(d.sample(range(2, 10), 2))
    ref = f"def sum_multiples(n: int) -> int:\n    return sum(i for i in range(n) if i % {a} == 0 or i % {b} == 0)\n"
    top = (60, 500, 3000)[lvl]
    inputs = [(d.int(5, 40),), (d.int(40, top),), (d.int(10, top),), (0,), (1,), (a,), (b + 1,), (-5,)]
    inputs += [(d.int(1, top),) for _ in range(6)]
    return _Spec(
        "sum_multiples",
        "def sum_multiples(n: int) -> int",
        f"Return the sum of all integers i with 0 <= i < n that are divisible by {a} or by {b} (or both); "
        "return 0 when there are none (also for n <= 0).",
        ref,
        inputs,
    )


@_template("easy")
def _count_letters(d: _Draw, lvl: int) -> _Spec:
    letters = d.choice(("aeiou", "aeiouy", "".join(sorted(d.sample("bcdfghklmnprstvwz", 3)))))
    ref = f"def count_letters(text: str) -> int:\n    return sum(1 for ch in text.lower() if ch in {letters!r})\n"
    alphabet = string.ascii_letters + "  ,.!"
    inputs = [(d.text(d.int(5, 20), alphabet),) for _ in range(3)] + [("",), (letters.upper(),), ("123 !?",)]
    inputs += [(d.text(d.int(0, 30 * (lvl + 1)), alphabet),) for _ in range(6)]
    return _Spec(
        "count_letters",
        "def count_letters(text: str) -> int",
        f"Return how many characters of `text` are one of the letters {', '.join(letters)} "
        "(case-insensitive: upper-case letters count too).",
        ref,
        inputs,
    )


@_template("easy")
def _caesar(d: _Draw, lvl: int) -> _Spec:
    k = d.int(1, 25)
    ref = (
        "def caesar(text: str) -> str:\n"
        "    out = []\n"
        "    for ch in text:\n"
        "        if 'a' <= ch <= 'z':\n"
        f"            out.append(chr((ord(ch) - ord('a') + {k}) % 26 + ord('a')))\n"
        "        elif 'A' <= ch <= 'Z':\n"
        f"            out.append(chr((ord(ch) - ord('A') + {k}) % 26 + ord('A')))\n"
        "        else:\n"
        "            out.append(ch)\n"
        "    return ''.join(out)\n"
    )
    alphabet = string.ascii_letters + " .,!0123456789"
    inputs = [(d.text(d.int(4, 16), alphabet),) for _ in range(3)] + [("",), ("xyz XYZ",), ("Hello, World!",)]
    inputs += [(d.text(d.int(1, 25 * (lvl + 1)), alphabet),) for _ in range(6)]
    return _Spec(
        "caesar",
        "def caesar(text: str) -> str",
        f"Shift every ASCII letter of `text` forward by {k} places in the alphabet, wrapping around from z to a, "
        "keeping its case; leave every other character unchanged.",
        ref,
        inputs,
    )


@_template("easy")
def _digit_sum(d: _Draw, lvl: int) -> _Spec:
    base = d.choice((10, 10, 2, 3, 5, 7, 8))
    ref = (
        "def digit_sum(n: int) -> int:\n"
        "    n = abs(n)\n"
        "    total = 0\n"
        "    while n:\n"
        f"        total += n % {base}\n"
        f"        n //= {base}\n"
        "    return total\n"
    )
    top = (10**4, 10**6, 10**9)[lvl]
    inputs = [(d.int(10, top),) for _ in range(3)] + [(0,), (base,), (base - 1,), (-d.int(1, top),)]
    inputs += [(d.int(0, top),) for _ in range(6)]
    where = "in base 10" if base == 10 else f"when written in base {base}"
    return _Spec(
        "digit_sum",
        "def digit_sum(n: int) -> int",
        f"Return the sum of the digits of abs(n) {where} (digit_sum(0) is 0).",
        ref,
        inputs,
    )


@_template("easy")
def _dedupe(d: _Draw, lvl: int) -> _Spec:
    keep = d.choice(("first", "last"))
    if keep == "first":
        body = "    seen = set()\n    out = []\n    for x in items:\n        if x not in seen:\n"
        body += "            seen.add(x)\n            out.append(x)\n    return out\n"
    else:
        body = "    seen = set()\n    out = []\n    for x in reversed(items):\n        if x not in seen:\n"
        body += "            seen.add(x)\n            out.append(x)\n    return out[::-1]\n"
    ref = "def dedupe(items: list[int]) -> list[int]:\n" + body
    n = (8, 15, 30)[lvl]
    inputs = [(d.ints(d.int(4, n), 0, 6),) for _ in range(3)] + [([],), ([7],), ([2, 2, 2],), ([1, 2, 1, 3, 2],)]
    inputs += [(d.ints(d.int(0, n), -5, 5),) for _ in range(6)]
    return _Spec(
        "dedupe",
        "def dedupe(items: list[int]) -> list[int]",
        f"Return a new list with the duplicates removed: keep only the {keep} occurrence of each value, and keep "
        "the kept values in the order of their positions in `items`.",
        ref,
        inputs,
    )


@_template("easy")
def _is_palindrome(d: _Draw, lvl: int) -> _Spec:
    rule = d.choice(("alnum", "letters"))
    test = "ch.isalnum()" if rule == "alnum" else "ch.isalpha()"
    ref = (
        "def is_palindrome(text: str) -> bool:\n"
        f"    kept = [ch.lower() for ch in text if ch.isascii() and {test}]\n"
        "    return kept == kept[::-1]\n"
    )
    alphabet = "abcAB12 ,."

    def pal() -> str:
        half = d.text(d.int(1, 6 + 4 * lvl), alphabet)
        return half + d.choice(("", "x", " ")) + half[::-1]

    inputs = [(pal(),), (d.text(d.int(3, 12), alphabet),), (pal(),), ("",), ("A man, a plan, a canal: Panama",)]
    inputs += [("ab",), ("1a2",), ("Aa",)]
    inputs += [(pal() if i % 2 else d.text(d.int(1, 16), alphabet),) for i in range(6)]
    what = "letters and digits" if rule == "alnum" else "letters (digits, spaces and punctuation are ignored)"
    return _Spec(
        "is_palindrome",
        "def is_palindrome(text: str) -> bool",
        f"Return True when `text` reads the same forwards and backwards considering only its ASCII {what}, "
        "case-insensitively; otherwise False. An empty text is a palindrome.",
        ref,
        inputs,
    )


# --- medium -----------------------------------------------------------------------------------------------------
@_template("medium")
def _reverse_words(d: _Draw, lvl: int) -> _Spec:
    sep = d.choice((" ", "-", "_", " | ", ","))
    ref = f"def reverse_words(text: str) -> str:\n    return {sep!r}.join(reversed(text.split()))\n"

    def sentence() -> str:
        words = d.words(d.int(1, 5 + 2 * lvl))
        return "".join(w + d.choice((" ", " ", "  ", "\t")) for w in words).strip(" ") + d.choice(("", " "))

    inputs = [(sentence(),) for _ in range(3)] + [("",), ("   ",), ("one",), ("  lead and trail  ",)]
    inputs += [(sentence(),) for _ in range(6)]
    return _Spec(
        "reverse_words",
        "def reverse_words(text: str) -> str",
        "Split `text` into words (maximal runs of non-whitespace characters), reverse their order and join them "
        f"with the separator {sep!r}. A text without words gives ''.",
        ref,
        inputs,
    )


@_template("medium")
def _run_length(d: _Draw, lvl: int) -> _Spec:
    style = d.choice(("char_count", "count_char", "omit_one"))
    piece = {"char_count": "ch + str(n)", "count_char": "str(n) + ch", "omit_one": "ch + (str(n) if n > 1 else '')"}
    ref = (
        "def run_length(text: str) -> str:\n"
        "    out = []\n"
        "    i = 0\n"
        "    while i < len(text):\n"
        "        ch = text[i]\n"
        "        n = 1\n"
        "        while i + n < len(text) and text[i + n] == ch:\n"
        "            n += 1\n"
        f"        out.append({piece[style]})\n"
        "        i += n\n"
        "    return ''.join(out)\n"
    )

    def runs() -> str:
        return "".join(d.choice("abcxyz") * d.int(1, 4 + 3 * lvl) for _ in range(d.int(1, 6)))

    inputs = [(runs(),) for _ in range(3)] + [("",), ("a",), ("abc",), ("a" * 12,)] + [(runs(),) for _ in range(6)]
    form = {
        "char_count": "the character followed by the run length (e.g. 'aaab' -> 'a3b1')",
        "count_char": "the run length followed by the character (e.g. 'aaab' -> '3a1b')",
        "omit_one": "the character followed by the run length, omitting a length of 1 (e.g. 'aaab' -> 'a3b')",
    }[style]
    return _Spec(
        "run_length",
        "def run_length(text: str) -> str",
        f"Run-length encode `text`: replace each maximal run of one repeated character by {form}.",
        ref,
        inputs,
    )


@_template("medium")
def _running_extreme(d: _Draw, lvl: int) -> _Spec:
    kind = d.choice(("max", "min"))
    ref = (
        "def running_extreme(nums: list[int]) -> list[int]:\n"
        "    out = []\n"
        "    for x in nums:\n"
        f"        out.append(x if not out else {kind}(out[-1], x))\n"
        "    return out\n"
    )
    n = (8, 12, 25)[lvl]
    inputs = [(d.ints(d.int(3, n), -20, 20),) for _ in range(3)] + [([],), ([5],), ([3, 3, 3],), ([1, 2, 3, 4],)]
    inputs += [(d.ints(d.int(0, n), -100, 100),) for _ in range(6)]
    return _Spec(
        "running_extreme",
        "def running_extreme(nums: list[int]) -> list[int]",
        f"Return a list of the same length whose i-th element is the {kind}imum of nums[0], ..., nums[i].",
        ref,
        inputs,
    )


@_template("medium")
def _fizzbuzz(d: _Draw, lvl: int) -> _Spec:
    a, b = sorted(d.sample(range(2, 8), 2))
    w1, w2 = d.sample(("Fizz", "Buzz", "Zap", "Pop", "Ping", "Bop", "Dum"), 2)
    ref = (
        "def fizzbuzz(n: int) -> list[str]:\n"
        "    out = []\n"
        "    for i in range(1, n + 1):\n"
        f"        word = ({w1!r} if i % {a} == 0 else '') + ({w2!r} if i % {b} == 0 else '')\n"
        "        out.append(word or str(i))\n"
        "    return out\n"
    )
    top = (20, 40, 80)[lvl]
    inputs = [(d.int(5, 15),), (a * b,), (d.int(10, top),), (0,), (1,), (a,), (b,)]
    inputs += [(d.int(0, top),) for _ in range(5)]
    return _Spec(
        "fizzbuzz",
        "def fizzbuzz(n: int) -> list[str]",
        f"Return a list with one string for each i = 1, ..., n: {w1!r} if i is divisible by {a}, {w2!r} if it is "
        f"divisible by {b}, {w1 + w2!r} if it is divisible by both, otherwise str(i). n = 0 gives [].",
        ref,
        inputs,
    )


@_template("medium")
def _kth_largest(d: _Draw, lvl: int) -> _Spec:
    k = d.choice((2, 2, 3))
    ref = (
        "def kth_largest(nums: list[int]) -> int | None:\n"
        "    distinct = sorted(set(nums), reverse=True)\n"
        f"    return distinct[{k - 1}] if len(distinct) >= {k} else None\n"
    )
    n = (8, 12, 25)[lvl]
    inputs = [(d.ints(d.int(4, n), -30, 30),) for _ in range(3)] + [([],), ([4],), ([9, 9, 9],), ([1, 2],)]
    inputs += [([5, 5, 4, 4, 3],)] + [(d.ints(d.int(k + 1, n), -5, 5),) for _ in range(6)]
    nth = {2: "second", 3: "third"}[k]
    return _Spec(
        "kth_largest",
        "def kth_largest(nums: list[int]) -> int | None",
        f"Return the {nth} largest DISTINCT value of `nums` (duplicates count once), or None when `nums` has "
        f"fewer than {k} distinct values.",
        ref,
        inputs,
    )


@_template("medium")
def _chunk(d: _Draw, lvl: int) -> _Spec:
    k = d.int(2, 5)
    ref = "def chunk(items: list[int]) -> list[list[int]]:\n"
    ref += f"    return [items[i:i + {k}] for i in range(0, len(items), {k})]\n"
    n = (10, 16, 30)[lvl]
    inputs = [(d.ints(d.int(k + 1, n), 0, 9),) for _ in range(3)] + [([],), ([1],), (list(range(k)),)]
    inputs += [(list(range(2 * k + 1)),)] + [(d.ints(d.int(0, n), -9, 9),) for _ in range(6)]
    return _Spec(
        "chunk",
        "def chunk(items: list[int]) -> list[list[int]]",
        f"Split `items` into consecutive chunks of {k} elements (the last chunk may be shorter) and return the "
        "list of chunks, in order. An empty list gives [].",
        ref,
        inputs,
    )


# --- hard -------------------------------------------------------------------------------------------------------
@_template("hard")
def _balanced(d: _Draw, lvl: int) -> _Spec:
    pairs = "".join(d.sample(("()", "[]", "{}", "<>"), d.int(2, 4)))
    opens, closes = pairs[0::2], pairs[1::2]
    ref = (
        "def balanced(text: str) -> bool:\n"
        f"    match = dict(zip({closes!r}, {opens!r}))\n"
        "    stack = []\n"
        "    for ch in text:\n"
        f"        if ch in {opens!r}:\n"
        "            stack.append(ch)\n"
        "        elif ch in match:\n"
        "            if not stack or stack.pop() != match[ch]:\n"
        "                return False\n"
        "    return not stack\n"
    )

    def good(depth: int) -> str:
        if depth == 0 or d.int(0, 3) == 0:
            return d.text(d.int(0, 2), "ab ")
        i = d.int(0, len(opens) - 1)
        return opens[i] + good(depth - 1) + closes[i] + (good(depth - 1) if d.int(0, 1) else "")

    def bad() -> str:
        s = list(good(3 + lvl) or opens[0])
        j = d.int(0, len(s) - 1)
        s[j] = d.choice(opens + closes)
        return "".join(s) + d.choice(("", closes[0], opens[-1]))

    inputs = [(good(3),), (bad(),), (good(4),), ("",), ("x",), (closes[0] + opens[0],)]
    inputs += [(opens[0] + opens[-1] + closes[0] + closes[-1],), (opens[0] * 3 + closes[0] * 2,)]
    inputs += [(good(4 + lvl) if i % 2 else bad(),) for i in range(8)]
    shown = " ".join(o + c for o, c in zip(opens, closes, strict=True))
    return _Spec(
        "balanced",
        "def balanced(text: str) -> bool",
        f"Return True when the brackets {shown} in `text` are balanced and properly nested (every opening bracket "
        "is closed by the matching kind, in the right order); every other character is ignored.",
        ref,
        inputs,
    )


@_template("hard")
def _reshape_matrix(d: _Draw, lvl: int) -> _Spec:
    op = d.choice(("transpose", "rotate_cw", "rotate_ccw"))
    body = {
        "transpose": "[list(row) for row in zip(*matrix)]",
        "rotate_cw": "[list(row) for row in zip(*matrix[::-1])]",
        "rotate_ccw": "[list(row) for row in zip(*matrix)][::-1]",
    }[op]
    ref = f"def {op}(matrix: list[list[int]]) -> list[list[int]]:\n    return {body}\n"

    def mat() -> list[list[int]]:
        r, c = d.int(1, 3 + lvl), d.int(1, 3 + lvl)
        return [d.ints(c, 0, 9) for _ in range(r)]

    inputs = [(mat(),) for _ in range(3)] + [([],), ([[1]],), ([[1, 2, 3]],), ([[1], [2], [3]],)]
    inputs += [(mat(),) for _ in range(6)]
    what = {
        "transpose": "its transpose (row i of the result is column i of `matrix`)",
        "rotate_cw": "the matrix rotated 90 degrees clockwise",
        "rotate_ccw": "the matrix rotated 90 degrees counter-clockwise",
    }[op]
    return _Spec(
        op,
        f"def {op}(matrix: list[list[int]]) -> list[list[int]]",
        f"`matrix` is a rectangular list of rows. Return {what}, as a new list of lists. An empty matrix ([]) "
        "gives [].",
        ref,
        inputs,
    )


@_template("hard")
def _count_pairs(d: _Draw, lvl: int) -> _Spec:
    target = d.int(-5, 15)
    ref = (
        "def count_pairs(nums: list[int]) -> int:\n"
        "    count = 0\n"
        "    for i in range(len(nums)):\n"
        "        for j in range(i + 1, len(nums)):\n"
        f"            if nums[i] + nums[j] == {target}:\n"
        "                count += 1\n"
        "    return count\n"
    )
    n = (10, 20, 40)[lvl]
    inputs = [(d.ints(d.int(4, n), -5, 15),) for _ in range(3)] + [([],), ([target],), ([0, target],)]
    half = target // 2
    inputs += [([half, target - half, half, target - half],)] + [(d.ints(d.int(0, n), -5, 15),) for _ in range(7)]
    return _Spec(
        "count_pairs",
        "def count_pairs(nums: list[int]) -> int",
        f"Return the number of index pairs (i, j) with i < j and nums[i] + nums[j] == {target}.",
        ref,
        inputs,
    )


@_template("hard")
def _longest_run(d: _Draw, lvl: int) -> _Spec:
    rule = d.choice(("equal", "increasing", "decreasing"))
    cond = {
        "equal": "nums[i] == nums[i - 1]",
        "increasing": "nums[i] > nums[i - 1]",
        "decreasing": "nums[i] < nums[i - 1]",
    }
    ref = (
        "def longest_run(nums: list[int]) -> int:\n"
        "    best = cur = 1 if nums else 0\n"
        "    for i in range(1, len(nums)):\n"
        f"        cur = cur + 1 if {cond[rule]} else 1\n"
        "        best = max(best, cur)\n"
        "    return best\n"
    )
    n = (10, 20, 40)[lvl]
    inputs = [(d.ints(d.int(5, n), 0, 4),) for _ in range(3)] + [([],), ([7],), ([1, 2, 3, 4],), ([4, 3, 2, 1],)]
    inputs += [([2, 2, 2, 1],)] + [(d.ints(d.int(0, n), 0, 5),) for _ in range(7)]
    what = {
        "equal": "consecutive equal elements",
        "increasing": "consecutive strictly increasing elements",
        "decreasing": "consecutive strictly decreasing elements",
    }[rule]
    return _Spec(
        "longest_run",
        "def longest_run(nums: list[int]) -> int",
        f"Return the length of the longest contiguous run of {what} in `nums` (a single element is a run of "
        "length 1; an empty list gives 0).",
        ref,
        inputs,
    )


@_template("hard")
def _primes_below(d: _Draw, lvl: int) -> _Spec:
    agg = d.choice(("count", "sum"))
    ref = (
        "def primes_below(n: int) -> int:\n"
        "    if n < 3:\n"
        "        return 0\n"
        "    sieve = [True] * n\n"
        "    sieve[0] = sieve[1] = False\n"
        "    for p in range(2, int(n ** 0.5) + 1):\n"
        "        if sieve[p]:\n"
        "            sieve[p * p::p] = [False] * len(range(p * p, n, p))\n"
        f"    return {'sum(i for i, is_p in enumerate(sieve) if is_p)' if agg == 'sum' else 'sum(sieve)'}\n"
    )
    top = (100, 2000, 20000)[lvl]
    inputs = [(d.int(10, 50),), (d.int(50, top),), (d.int(2, top),), (0,), (2,), (3,), (4,), (-7,), (1000,)]
    inputs += [(d.int(0, top),) for _ in range(5)]
    return _Spec(
        "primes_below",
        "def primes_below(n: int) -> int",
        f"Return the {agg} of all prime numbers p with p < n (0 when there are none, also for n <= 2).",
        ref,
        inputs,
    )


@_template("hard")
def _top_words(d: _Draw, lvl: int) -> _Spec:
    k = d.int(2, 4)
    ref = (
        "def top_words(text: str) -> list[str]:\n"
        "    counts = {}\n"
        "    for word in text.lower().split():\n"
        "        counts[word] = counts.get(word, 0) + 1\n"
        f"    return sorted(counts, key=lambda w: (-counts[w], w))[:{k}]\n"
    )
    pool = tuple(d.sample(_WORDS, 6))

    def text() -> str:
        return " ".join(w.upper() if d.int(0, 4) == 0 else w for w in d.words(d.int(3, 10 + 5 * lvl), pool))

    inputs = [(text(),) for _ in range(3)] + [("",), ("b a",), ("x x y Y z",), ("solo",)]
    inputs += [(text(),) for _ in range(7)]
    return _Spec(
        "top_words",
        "def top_words(text: str) -> list[str]",
        f"Split `text` on whitespace, lower-case the words, and return the {k} most frequent words, most frequent "
        "first; ties are broken alphabetically. Return fewer words when there are fewer distinct words.",
        ref,
        inputs,
    )


# --- building ---------------------------------------------------------------------------------------------------
def templates(difficulty: str | None = None) -> list[str]:
    """Template names (of one difficulty, or all)."""
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    return [name for name, (lvl, _) in _TEMPLATES.items() if difficulty in (None, lvl)]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def build_task(template: str, rng: np.random.Generator, difficulty: str = "easy", n_visible: int = 3) -> CodeTask:
    """Draw one task of a named template; expected outputs come from running the reference solution."""
    if template not in _TEMPLATES:
        raise ValueError(f"unknown code template {template!r}; known: {', '.join(_TEMPLATES)}")
    lvl = DIFFICULTIES.index(difficulty)
    spec = _TEMPLATES[template][1](_Draw(rng), lvl)
    namespace: dict[str, Any] = {}
    exec(compile(spec.reference, f"<reference {template}>", "exec"), namespace)  # trusted, our own source
    fn = namespace[spec.func_name]
    cases, seen = [], set()
    for args in spec.inputs:
        key = json.dumps(args)
        if key in seen:
            continue
        seen.add(key)
        cases.append(Case(args=tuple(_jsonable(list(args))), expected=_jsonable(fn(*json.loads(key)))))
    visible, hidden = tuple(cases[:n_visible]), tuple(cases[n_visible:])
    return CodeTask(template, spec.func_name, spec.signature, spec.description, spec.reference, visible, hidden)


def make_task(rng: np.random.Generator, difficulty: str = "easy", template: str | None = None) -> CodeTask:
    """Draw a task: a template of the difficulty's pool (or the named one), then its parameters and tests."""
    pool = [template] if template else templates(difficulty)
    name = pool[int(rng.integers(len(pool)))]
    return build_task(name, rng, difficulty)
