"""The memo of sandboxed test runs: one run per key, identical concurrent requests share it, only kept results
are reused, LRU eviction; and the code envs run identical submissions once."""

from __future__ import annotations

import threading
import time

import pytest

from environments.code import envs as code_envs
from environments.code.envs import CodeFunctionEnv, _reusable
from environments.code.run_cache import RunCache
from environments.code.sandbox import HarnessResult, RunResult, Sandbox


def test_a_key_runs_once_and_later_requests_get_its_result() -> None:
    cache: RunCache[int] = RunCache()
    calls = []
    assert cache.get_or_run("a", lambda: calls.append(1) or 7) == 7
    assert cache.get_or_run("a", lambda: calls.append(1) or 8) == 7
    assert cache.get_or_run("b", lambda: calls.append(1) or 9) == 9
    assert len(calls) == 2 and (cache.hits, cache.misses) == (1, 2) and len(cache) == 2


def test_identical_concurrent_requests_share_one_run() -> None:
    cache: RunCache[str] = RunCache()
    calls, results = [], []
    start = threading.Barrier(6)

    def slow() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "report"

    def request() -> None:
        start.wait()
        results.append(cache.get_or_run("same", slow))

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["report"] * 6 and len(calls) == 1 and cache.hits == 5


def test_results_keep_rejects_and_exceptions_are_not_reused() -> None:
    cache: RunCache[str] = RunCache()
    assert cache.get_or_run("k", lambda: "timeout", keep=lambda r: r != "timeout") == "timeout"
    assert cache.get_or_run("k", lambda: "ok", keep=lambda r: r != "timeout") == "ok"  # ran again
    assert cache.get_or_run("k", lambda: "other") == "ok"

    def boom() -> str:
        raise RuntimeError("sandbox failed")

    with pytest.raises(RuntimeError, match="sandbox failed"):
        cache.get_or_run("e", boom)
    assert cache.get_or_run("e", lambda: "fine") == "fine"


def test_the_least_recently_used_result_is_evicted() -> None:
    cache: RunCache[int] = RunCache(maxsize=2)
    cache.get_or_run("a", lambda: 1)
    cache.get_or_run("b", lambda: 2)
    cache.get_or_run("a", lambda: 0)  # a is now the most recent
    cache.get_or_run("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get_or_run("a", lambda: -1) == 1 and cache.get_or_run("b", lambda: -2) == -2
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        RunCache(maxsize=0)


def _harness(status: str, report) -> HarnessResult:
    return HarnessResult(run=RunResult(status, 0, "", "", 0.01, "bwrap"), report=report)


def test_only_reports_that_do_not_depend_on_timing_are_reused() -> None:
    assert _reusable(_harness("ok", {"results": [{"status": "ok", "value": 1}, {"status": "error"}]}))
    assert _reusable(_harness("ok", {"load_error": "SyntaxError: invalid syntax (line 1)"}))
    assert not _reusable(_harness("ok", {"results": [{"status": "ok"}, {"status": "timeout"}]}))
    assert not _reusable(_harness("ok", {"results": [{"status": "ok"}, {"status": "skipped"}]}))
    assert not _reusable(_harness("timeout", None))
    assert not _reusable(_harness("ok", None))


@pytest.mark.skipif(Sandbox().mode()[0] != "bwrap", reason="bubblewrap cannot create a sandbox on this machine")
def test_identical_submissions_run_in_the_sandbox_once() -> None:
    def play(memo: bool, seed: int = 3):
        env = CodeFunctionEnv(difficulty="easy", template="digit_sum", memo_runs=memo)
        env.reset(seed=seed)
        return env.step(env.oracle_action())

    code_envs.RUNS.clear()
    before = code_envs.RUNS.misses, code_envs.RUNS.hits
    first = play(True)
    second = play(True)
    assert (code_envs.RUNS.misses, code_envs.RUNS.hits) == (before[0] + 1, before[1] + 1)
    assert first[1] == second[1] == 1.0 and first[4]["success"] and second[4]["success"]
    assert first[4]["reward_components"] == second[4]["reward_components"]
    play(True, seed=4)  # another task: other tests, another run
    assert code_envs.RUNS.misses == before[0] + 2
    unmemoised = play(False)
    assert unmemoised[1] == 1.0 and code_envs.RUNS.misses == before[0] + 2  # ran without the memo
