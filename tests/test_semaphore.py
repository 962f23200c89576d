"""Semaphore as golang.org/x/sync/semaphore.Weighted: oversized requests, timeouts (issue 14, item 8)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch, wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    with tiny_switch():
        yield


@pytest.mark.parametrize("procs", [1, 2])
def test_oversized_acquire_does_not_block_later_ones(procs: int) -> None:
    """x/sync: a request larger than the size does not queue, so it holds nobody off."""

    async def main() -> list[str]:
        sem = gosched.Semaphore(2)
        log: list[str] = []

        async def big() -> None:
            await sem.acquire(3)  # can never succeed: blocks (x/sync: on ctx.Done() only)
            log.append("big")

        async def small(i: int) -> None:
            await sem.acquire(1)
            log.append(f"small {i}")
            sem.release(1)

        gosched.go(big)
        await gosched.testing.wait()  # big has run and is parked
        assert sem.try_acquire(1)  # try_acquire is not held off either
        sem.release(1)
        done = gosched.WaitGroup()
        for i in range(3):
            done.add(1)

            async def one(i: int = i) -> None:
                await small(i)
                done.done()

            gosched.go(one)
        await done.wait()
        return sorted(log)

    assert run(main, maxprocs=procs) == ["small 0", "small 1", "small 2"]


def test_oversized_acquire_without_timeout_is_a_deadlock() -> None:
    async def main() -> None:
        await gosched.Semaphore(1).acquire(2)

    with pytest.raises(gosched.Deadlock, match="all goroutines are asleep"):
        run(main)


def test_oversized_acquire_with_timeout_gives_up() -> None:
    async def main() -> tuple[bool, int, bool]:
        sem = gosched.Semaphore(2)
        got = await sem.acquire(3, timeout=0.02)
        return got, sem._avail, await sem.acquire(2, timeout=0.02)

    assert run(main) == (False, 2, True)


@pytest.mark.parametrize("clock", ["real", "fake"])
def test_acquire_timeout_returns_false_holding_nothing(clock: str) -> None:
    async def main() -> tuple[bool, float, int, list[str]]:
        sem = gosched.Semaphore(3)
        await sem.acquire(2)
        t0 = gosched.now()
        got = await sem.acquire(2, timeout=0.05)  # 1 free: not enough
        waited = gosched.now() - t0
        assert sem._avail == 1 and not sem._waiters  # left unchanged, not queued
        sem.release(2)
        assert await sem.acquire(3, timeout=0.05)  # everything is free again
        sem.release(3)
        return got, waited, sem._avail, []

    got, waited, avail, _ = run(main, clock=clock)
    assert got is False
    assert waited >= 0.05 - 1e-6
    assert avail == 3
    if clock == "fake":
        assert waited == pytest.approx(0.05, abs=1e-6)


def test_acquire_timeout_zero_takes_free_permits_only() -> None:
    async def main() -> list[bool]:
        sem = gosched.Semaphore(1)
        out = [await sem.acquire(1, timeout=0)]  # free: taken, as x/sync with a done ctx
        out.append(await sem.acquire(1, timeout=0))  # none free: False at once
        out.append(await sem.acquire(1, timeout=-5))
        sem.release(1)
        out.append(sem.try_acquire(1))
        return out

    assert run(main) == [True, False, False, True]


def test_acquire_granted_before_the_timeout_keeps_the_permits() -> None:
    async def main() -> tuple[bool, int]:
        sem = gosched.Semaphore(1)
        await sem.acquire()

        async def releaser() -> None:
            await gosched.sleep(0.01)
            sem.release()

        gosched.go(releaser)
        got = await sem.acquire(timeout=30)
        return got, sem._avail

    assert run(main) == (True, 0)


def test_timed_out_head_lets_the_waiters_behind_it_in() -> None:
    """x/sync: a waiter at the head that gives up notifies the ones behind it that now fit."""

    async def main() -> list[str]:
        sem = gosched.Semaphore(3)
        await sem.acquire(2)  # 1 free
        log: list[str] = []

        async def big() -> None:
            log.append(f"big {await sem.acquire(3, timeout=0.05)}")

        async def small() -> None:
            await sem.acquire(1)  # fits, but queued behind big (FIFO)
            log.append("small")

        gosched.go(big)
        await wait_until(lambda: len(sem._waiters) == 1)
        gosched.go(small)
        await wait_until(lambda: len(sem._waiters) == 2)
        assert log == []
        await wait_until(lambda: len(log) == 2)  # big times out, then small gets its permit
        return log

    assert sorted(run(main, maxprocs=2)) == ["big False", "small"]


def test_acquire_timeout_bad_values() -> None:
    async def main() -> list[str]:
        sem = gosched.Semaphore(1)
        out = []
        for bad in (math.nan, "1", None):
            try:
                await sem.acquire(1, timeout=bad)  # type: ignore[arg-type]
                out.append("ok")
            except (TypeError, ValueError) as e:
                out.append(f"{type(e).__name__}: {e}")
        assert sem._avail == 0  # the None one took it
        return out

    assert run(main) == [
        "ValueError: Semaphore.acquire timeout: NaN is not a duration",
        "TypeError: Semaphore.acquire timeout takes a duration in seconds (int or float), not str",
        "ok",
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(1, 6),
    jobs=st.lists(
        st.tuples(
            st.integers(1, 7), st.sampled_from([None, 0.0, 0.0005, 0.002, 5.0]), st.sampled_from([0, 0.001])
        ),
        min_size=1,
        max_size=40,
    ),
    procs=st.sampled_from([1, 2, 4]),
)
def test_semaphore_stress_weights_and_timeouts(
    tiny_switch_interval: None, size: int, jobs: list[tuple[int, float | None, float]], procs: int
) -> None:
    """Never more than ``size`` held; every request that fits is served (no lost wakeup);
    timeouts give back nothing they did not take; all permits return at the end."""

    async def main() -> tuple[int, int, int]:
        sem = gosched.Semaphore(size)
        state = {"held": 0, "max": 0, "granted": 0}
        count = threading.Lock()
        wg = gosched.WaitGroup()

        async def worker(n: int, timeout: float | None, hold: float) -> None:
            try:
                if n > size and (timeout is None or timeout > 0.002):
                    timeout = 0.001  # can never succeed (x/sync): don't wait long for nothing
                if not await sem.acquire(n, timeout=timeout):
                    return
                with count:  # goroutines on other Ms run this too
                    state["held"] += n
                    state["max"] = max(state["max"], state["held"])
                    state["granted"] += 1
                await gosched.sleep(hold)  # 0: a yield; else timeouts race releases
                with count:
                    state["held"] -= n
                sem.release(n)
            finally:
                wg.done()

        for n, timeout, hold in jobs:
            wg.add(1)
            gosched.go(worker, n, timeout, hold)
        await wg.wait()
        assert not sem._waiters
        return state["max"], sem._avail, state["granted"]

    most, avail, granted = run(main, maxprocs=procs, timeout=60)
    assert most <= size
    assert avail == size
    must = sum(1 for n, t, _ in jobs if n <= size and (t is None or t >= 5.0))
    assert granted >= must  # every request without a (short) timeout that fits was served
