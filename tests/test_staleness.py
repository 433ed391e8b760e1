"""Bounded staleness under random delays: a simulation of workers, dynamic sampling and the learner, driving the
same StalenessController the trainer uses; the bound holds and nothing deadlocks."""

from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from rl.staleness import StalenessController


def simulate(
    B: int, s: int, steps: int, workers: int, durations: list[float], drops: list[bool], train_time: float
) -> StalenessController:
    ctrl = StalenessController(B, s)
    version, now, k = 0, 0.0, 0
    running: list[tuple[float, int, int]] = []  # (finish time, id, gen version)
    ready: list[tuple[int, int]] = []
    next_id = 0
    for _ in range(100_000):
        if version == steps:
            return ctrl
        while ctrl.can_admit(version) and len(running) < workers * 4:
            d = durations[k % len(durations)]
            k += 1
            heapq.heappush(running, (now + d, next_id, version))
            next_id += 1
            ctrl.admit()
        keys = ctrl.select_batch(ready, [v for _, _, v in running], version)
        if keys is None:
            assert running, "deadlock: nothing running and no batch"
            now, gid, v = heapq.heappop(running)
            if drops[gid % len(drops)]:
                ctrl.drop()
            else:
                ready.append((gid, v))
            continue
        gen_versions = [v for key, v in ready if key in keys]
        assert len(gen_versions) == B
        ctrl.record_batch(gen_versions, version)  # raises if the bound is broken
        ready = [(key, v) for key, v in ready if key not in keys]
        version += 1
        now += train_time
    raise AssertionError("simulation did not finish")


@settings(max_examples=150, deadline=None)
@given(
    B=st.integers(1, 6),
    s=st.integers(0, 3),
    workers=st.integers(1, 4),
    durations=st.lists(st.floats(0.01, 50.0), min_size=1, max_size=30),
    drops=st.lists(st.booleans(), min_size=1, max_size=10).filter(lambda d: not all(d)),
    train_time=st.floats(0.0, 10.0),
)
def test_staleness_never_exceeds_the_bound(B, s, workers, durations, drops, train_time) -> None:
    ctrl = simulate(B, s, steps=8, workers=workers, durations=durations, drops=drops, train_time=train_time)
    assert ctrl.consumed == 8 * B
    assert max(ctrl.staleness_seen) <= s


def test_zero_staleness_is_synchronous() -> None:
    ctrl = simulate(
        3, 0, steps=5, workers=2, durations=[5.0, 0.1, 30.0, 1.0], drops=[False, True, False], train_time=1.0
    )
    assert set(ctrl.staleness_seen) == {0}


def test_a_long_tail_group_is_waited_for_not_discarded() -> None:
    # one group takes 1000x longer than the others; with s = 1 it must still be consumed within the bound
    ctrl = simulate(2, 1, steps=6, workers=2, durations=[1000.0] + [1.0] * 20, drops=[False], train_time=0.5)
    assert ctrl.dropped == 0 and max(ctrl.staleness_seen) <= 1


def test_admission_limits_work_ahead() -> None:
    ctrl = StalenessController(groups_per_step=4, max_staleness=1)
    admitted = 0
    while ctrl.can_admit(version=0):
        ctrl.admit()
        admitted += 1
    assert admitted == 8  # the current batch and one batch ahead
    ctrl.drop()
    assert ctrl.can_admit(version=0)
