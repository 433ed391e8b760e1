"""Shared helpers of the benchmark adapters: finding an installed package without importing it, and picking a
case from a seed.

Simplified: a benchmark package counts as installed when `importlib.util.find_spec` finds it; nothing checks
that its data files are intact until an env of it is first made.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger("environments.bench")


def package_dir(name: str) -> str | None:
    """The directory of an installed top-level package, found without importing it (None when absent)."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return os.fspath(next(iter(found.submodule_search_locations)))


def pick_index(seed: int | None, rng: np.random.Generator, n: int, options: dict[str, Any] | None = None) -> int:
    """The case a reset selects: `options["index"]` when given, else `seed % n`, else a draw from `rng`."""
    if n <= 0:
        raise ValueError("the benchmark has no cases")
    if options and options.get("index") is not None:
        return int(options["index"]) % n
    if seed is not None:
        return int(seed) % n
    return int(rng.integers(n))
