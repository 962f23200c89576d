"""WaitGroup.add and done in C (_speedups_sync.h) against sync.py's methods.

With the accelerator, WaitGroup.add and done move the counter in one C call
when that wakes nobody and run sync.py's methods (``sync.pyadd``,
``sync.pydone``) for every other case. Each test here runs with both (the
suite runs again with GOSCHED_PURE_PYTHON=1, where only sync.py's exist):
the same counts, Go's errors, and no lost wakeup or early one under many Ms
and a tiny switch interval.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from gosched._runtime import speedups, sync


@pytest.fixture(params=["c", "python"])
def methods(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both: the C methods (where built) and sync.py's."""
    if request.param == "python":
        monkeypatch.setattr(sync.WaitGroup, "add", sync.pyadd)
        monkeypatch.setattr(sync.WaitGroup, "done", sync.pydone)
    elif speedups.c is None:
        pytest.skip("pure-Python path: sync.py's methods are the only ones")
    yield request.param


def test_the_methods_are_the_c_ones_with_the_accelerator() -> None:
    for name, py in (("add", sync.pyadd), ("done", sync.pydone)):
        m = vars(sync.WaitGroup)[name]
        assert (m is py) == (speedups.c is None), name
        assert m.__doc__ and py.__doc__ and py.__doc__ in m.__doc__  # for the API reference


def test_counts_and_gos_errors(methods: str) -> None:
    wg = gosched.WaitGroup()
    wg.add(2)
    wg.add(delta=3)
    wg.add(0)
    wg.done()
    assert wg.count == 4
    for bad in (True, 1.5, "1", None):
        with pytest.raises(TypeError, match=r"WaitGroup\.add takes an int"):
            wg.add(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wg.add(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        wg.done(1)  # type: ignore[call-arg]
    with pytest.raises(gosched.Panic, match="sync: negative WaitGroup counter"):
        wg.add(-5)
    assert wg.count == 4  # a panicking add changes nothing
    wg.add(10**30)  # beyond C's integers: sync.py's add
    wg.add(-(10**30))
    wg.add(-4)
    assert wg.count == 0
    with pytest.raises(gosched.Panic, match="sync: negative WaitGroup counter"):
        wg.done()
    assert wg._lock == [1]  # unlocked after every path


def test_done_wakes_every_waiter_and_add_zero_at_zero_too(methods: str) -> None:
    async def main() -> list[str]:
        wg, woke = gosched.WaitGroup(), []

        async def waiter(name: str) -> None:
            await wg.wait()
            woke.append(name)

        wg.add(2)
        for name in "ab":
            gosched.go(waiter, name)
        await gosched.gosched()  # both parked on the wait group
        wg.done()
        await gosched.gosched()
        first = list(woke)
        wg.done()  # to zero, with waiters: sync.py's done readies them
        while len(woke) < 2:
            await gosched.gosched()
        return first + woke

    assert run(main) == ["a", "b"]


def test_a_plain_thread_holding_the_lock_makes_done_wait_for_it(methods: str) -> None:
    """The lock held (here by a plain thread, as wait_blocking holds it briefly): done
    runs sync.py's, which waits for the lock instead of moving the counter under it."""
    wg = gosched.WaitGroup()
    wg.add(1)
    lk = wg._lock
    lk.pop()  # hold the runtime lock
    release = threading.Timer(0.05, lk.append, (1,))
    release.start()
    wg.done()
    release.join()
    assert wg.count == 0 and lk == [1]


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    waves=st.integers(1, 4),
    width=st.integers(1, 40),
    waiters=st.integers(1, 4),
    maxprocs=st.sampled_from([1, 2, 4]),
    impl=st.sampled_from(["c", "python"]),
)
def test_no_lost_or_early_wakeup_under_many_ms(
    waves: int, width: int, waiters: int, maxprocs: int, impl: str
) -> None:
    """Waves of goroutines that add for children and are done, waiters that must see
    every task of their wave finished: a lost wakeup hangs the run (the timeout), an
    early one shows a wave short of tasks."""
    if impl == "c" and speedups.c is None:
        impl = "python"

    async def main() -> list[int]:
        seen: list[int] = []
        for _ in range(waves):
            wg, finished = gosched.WaitGroup(), [0]

            async def task(depth: int, wg: Any = wg, finished: list[int] = finished) -> None:
                if depth:
                    wg.add(2)
                    gosched.go(task, depth - 1)
                    gosched.go(task, depth - 1)
                await gosched.gosched()
                finished[0] += 1
                wg.done()

            async def waiter(out: gosched.Chan[int], wg: Any = wg, finished: list[int] = finished) -> None:
                await wg.wait()
                await out.send(finished[0])

            out = gosched.Chan[int](waiters)
            wg.add(width)
            for _ in range(waiters):
                gosched.go(waiter, out)
            for _ in range(width):
                gosched.go(task, 2)
            seen += [await out.recv() for _ in range(waiters)]
        return seen

    saved = vars(sync.WaitGroup)["add"], vars(sync.WaitGroup)["done"]
    if impl == "python":
        sync.WaitGroup.add, sync.WaitGroup.done = sync.pyadd, sync.pydone  # type: ignore[method-assign]
    try:
        with tiny_switch():
            seen = run(main, maxprocs=maxprocs, timeout=120)
    finally:
        sync.WaitGroup.add, sync.WaitGroup.done = saved  # type: ignore[method-assign]
    assert seen == [width * 7] * (waves * waiters)
