"""A per-process memo of sandboxed test runs: the same code against the same tests runs once.

The samples of a GRPO group answer one task, and once the policy is sure of a function they are often the same
text: on code-fn-easy, 156 of the 200 pairs of samples a trained checkpoint wrote for one task at temperature 1
were byte-identical. Every run costs a sandbox start (bubblewrap, a fresh interpreter: 30 ms of CPU each), on
the cores that also generate and train. `RunCache.get_or_run` runs a key's first request and hands its result to
the identical requests that come while it runs (the samples of a group often finish in the same decode step) and
after it.

Only results that `keep` accepts are memoised: the code envs keep a report only when no test timed out or was
skipped, since those depend on how loaded the machine was. A run that raised is not kept either (each waiter
sees the exception). Deliberately simplified: an LRU per process (each rollout worker has its own), keyed by
a hash the caller builds from everything the run depends on; a program whose output changes between runs of
identical text (randomness, hash order of strings) gets its first run's result for every identical copy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class RunCache(Generic[T]):
    """Thread-safe memo of results by key, with identical concurrent requests run once."""

    def __init__(self, maxsize: int = 4096):
        if maxsize < 1:
            raise ValueError(f"RunCache: maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.hits = 0
        """Requests answered from a finished or running identical request."""
        self.misses = 0
        """Requests that ran."""
        self._done: OrderedDict[str, T] = OrderedDict()
        self._running: dict[str, Future[T]] = {}
        self._lock = threading.Lock()

    def get_or_run(self, key: str, run: Callable[[], T], keep: Callable[[T], bool] = lambda _: True) -> T:
        """The memoised result for `key`, or `run()`'s (kept for later requests if `keep` accepts it). A request
        for a key that is running waits for that run and gets its result, kept or not."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                self.hits += 1
                return self._done[key]
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = Future()
                owner = True
                self.misses += 1
            else:
                owner = False
                self.hits += 1
        if not owner:
            return running.result()
        try:
            value = run()
        except BaseException as exc:
            with self._lock:
                self._running.pop(key, None)
            running.set_exception(exc)
            raise
        with self._lock:
            self._running.pop(key, None)
            if keep(value):
                self._done[key] = value
                while len(self._done) > self.maxsize:
                    self._done.popitem(last=False)
        running.set_result(value)
        return value

    def __len__(self) -> int:
        return len(self._done)

    def clear(self) -> None:
        """Forget every kept result (runs in progress finish as usual)."""
        with self._lock:
            self._done.clear()
