"""The virtual clock (run(main, clock="fake")): testing/synctest semantics.

Ports of Go's synctest tests (internal/synctest/synctest_test.go: TestNow, TestWait,
TestDeadlockRoot, TestDeadlockChild, TestDeadlockTicker) and of the captured
TestTimeAdvances, plus gosched's own checks of what stops time.
"""

from __future__ import annotations

import threading
import time

import pytest

import gosched
from gosched import testing as gtesting

EPOCH = 946_684_800.0  # 2000-01-01T00:00:00Z


def fake(main, maxprocs: int = 1):  # type: ignore[no-untyped-def]
    return gosched.run(main, clock="fake", maxprocs=maxprocs)


def test_now_starts_at_2000_and_sleep_is_exact() -> None:
    async def main() -> list[float]:
        got = [gosched.now()]
        c: gosched.Chan[float] = gosched.Chan()

        async def child() -> None:
            await c.send(gosched.now())

        gosched.go(child)
        got.append(await c.recv())
        await gosched.sleep(3600)
        got.append(gosched.now())
        await gosched.sleep(1)
        got.append(gosched.now())
        return got

    t0 = time.monotonic()
    assert fake(main) == [EPOCH, EPOCH, EPOCH + 3600, EPOCH + 3601]
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("maxprocs", [1, 2, 4])
def test_24h_ticker_exact_and_fast(maxprocs: int) -> None:
    async def main() -> list[float]:
        tk = gosched.Ticker(60)
        out = []
        for _ in range(24 * 60):
            out.append(await tk.c.recv())
        tk.stop()
        return out

    t0 = time.monotonic()
    ticks = fake(main, maxprocs)
    wall = time.monotonic() - t0
    assert ticks == [EPOCH + 60 * (k + 1) for k in range(24 * 60)]
    assert wall < 5  # typically ~0.1 s for a virtual day


def test_timers_fire_in_order_with_exact_times() -> None:
    async def main() -> list[tuple[int, float]]:
        out: gosched.Chan[tuple[int, float]] = gosched.Chan(10)
        delays = [7, 3, 9, 1, 5, 3.5, 0.25]

        async def sleeper(d: float) -> None:
            await gosched.sleep(d)
            await out.send((int(d * 100), gosched.now() - EPOCH))

        for d in delays:
            gosched.go(sleeper, d)
        return [await out.recv() for _ in delays]

    got = fake(main, 2)
    assert got == sorted(got)
    assert got == [(int(d * 100), d) for d in sorted([7, 3, 9, 1, 5, 3.5, 0.25])]


def test_time_advances_synctest_capture() -> None:
    # Go's captured TestTimeAdvances: goroutine slept 1s; root slept 2s; ticks at 2.3,
    # 2.6, 2.9; a 5 s deadline after the root's sleep expires at 7.9 s.
    async def main() -> list[str]:
        log: list[str] = []
        start = gosched.now()
        log.append(f"start: {start:.0f}")
        done: gosched.Chan[None] = gosched.Chan()

        async def g() -> None:
            await gosched.sleep(1)
            log.append(f"goroutine slept: {gosched.now() - start:g}s")
            await done.send(None)

        gosched.go(g)
        await gosched.sleep(2)
        await done.recv()
        log.append(f"root slept: {gosched.now() - start:g}s")
        tk = gosched.Ticker(0.3)
        deadline = gosched.after(5.9)
        for _ in range(3):
            await tk.c.recv()
            log.append(f"tick at {gosched.now() - start:.1f}s")
        tk.stop()
        await deadline.recv()
        log.append(f"ctx done at {gosched.now() - start:.1f}s")
        return log

    assert fake(main) == [
        "start: 946684800",
        "goroutine slept: 1s",
        "root slept: 2s",
        "tick at 2.3s",
        "tick at 2.6s",
        "tick at 2.9s",
        "ctx done at 7.9s",
    ]


def test_unrelated_timer_fires_at_its_own_time() -> None:
    # The clock visits every timer in order, not only the ones someone waits on.
    async def main() -> float:
        t = gosched.Timer(1)
        await gosched.sleep(5)
        v, ok, got = t.c.tryrecv()
        assert ok and got
        return v  # type: ignore[return-value]

    assert fake(main) == EPOCH + 1


# --- synctest deadlocks ----------------------------------------------------------------------


def test_deadlock_root() -> None:  # TestDeadlockRoot
    async def main() -> None:
        await gosched.select()

    with pytest.raises(gosched.Deadlock) as ei:
        fake(main)
    assert str(ei.value).startswith(
        "deadlock: all goroutines in bubble are blocked\n\n"
        "goroutine 1 [select (no cases) (durable), synctest bubble 1]:\n"
    )


def test_deadlock_all_blocked_capture() -> None:
    # The captured TestDeadlockAllBlocked: root and a child both receive.
    async def main() -> None:
        c: gosched.Chan[int] = gosched.Chan()

        async def child() -> None:
            await c.recv()

        gosched.go(child)
        await c.recv()

    with pytest.raises(gosched.Deadlock) as ei:
        fake(main)
    lines = str(ei.value).splitlines()
    assert lines[0] == "deadlock: all goroutines in bubble are blocked"
    assert lines[2] == "goroutine 1 [chan receive (durable), synctest bubble 1]:"
    assert "goroutine 2 [chan receive (durable), synctest bubble 1]:" in lines


def test_deadlock_child() -> None:  # TestDeadlockChild
    async def main() -> None:
        async def child() -> None:
            await gosched.select()

        gosched.go(child)

    with pytest.raises(gosched.Deadlock) as ei:
        fake(main)
    msg = str(ei.value)
    assert msg.startswith(
        "deadlock: main bubble goroutine has exited but blocked goroutines remain\n\n"
        "goroutine 2 [select (no cases) (durable), synctest bubble 1]:\n"
    )
    assert "goroutine 1 " not in msg


def test_deadlock_ticker_never_runs_after_main_exits() -> None:  # TestDeadlockTicker
    ticks: list[float] = []

    async def main() -> None:
        async def child() -> None:
            tk = gosched.Ticker(1)
            async for t in tk.c:
                ticks.append(t)

        gosched.go(child)

    with pytest.raises(gosched.Deadlock) as ei:
        fake(main)
    msg = str(ei.value)
    assert msg.startswith("deadlock: main bubble goroutine has exited but blocked goroutines remain")
    assert ticks == []


def test_run_waits_for_children_after_main_returns() -> None:
    order: list[str] = []

    async def main() -> str:
        async def child() -> None:
            for _ in range(3):
                await gosched.gosched()
            order.append("child")

        gosched.go(child)
        order.append("main")
        return "result"

    assert fake(main) == "result"
    assert order == ["main", "child"]


# --- what stops time ---------------------------------------------------------------------------


def test_syscall_stops_time() -> None:
    async def main() -> tuple[float, float]:
        c: gosched.Chan[float] = gosched.Chan(2)

        async def sys() -> None:
            await gosched.syscall(time.sleep, 0.3)
            await c.send(gosched.now())

        async def sleeper() -> None:
            await gosched.sleep(10)
            await c.send(gosched.now())

        gosched.go(sys)
        gosched.go(sleeper)
        return await c.recv(), await c.recv()

    # The 10 s sleep cannot fire while a goroutine is in a syscall: the syscall
    # finishes first, at virtual time 0, and only then does the clock jump.
    t0 = time.process_time()
    assert fake(main, 2) == (EPOCH, EPOCH + 10)
    assert time.process_time() - t0 < 0.25  # the idle Ms block, they do not spin


def test_foreign_mutex_stops_time_and_mutex_between_goroutines_does_not() -> None:
    async def main() -> list[float]:
        out: list[float] = []
        mu = gosched.Mutex()
        assert mu.lock_blocking() is True  # main's thread is an M, but not in a goroutine? no:
        return out

    # lock_blocking from a goroutine is refused (it would block the M).
    with pytest.raises(RuntimeError, match="would block an M"):
        fake(main)

    mu = gosched.Mutex()
    release = threading.Event()

    def holder() -> None:
        assert mu.lock_blocking()
        release.wait(10)
        mu.unlock()

    th = threading.Thread(target=holder)
    th.start()
    while not mu.locked():
        time.sleep(0.001)

    async def main2() -> list[float]:
        out: list[float] = []

        async def sleeper() -> None:
            await gosched.sleep(10)
            out.append(gosched.now())

        async def releaser() -> None:
            await gosched.syscall(time.sleep, 0.2)
            release.set()

        gosched.go(sleeper)
        gosched.go(releaser)
        await mu.lock()  # held by a plain thread: not durable, time stands still
        out.append(gosched.now())
        mu.unlock()
        # Between goroutines a Mutex wait is durable: the holder sleeps, time jumps.
        inner = gosched.Mutex()
        await inner.lock()

        async def holdsleep() -> None:
            await gosched.sleep(20)
            inner.unlock()

        gosched.go(holdsleep)
        await inner.lock()
        out.append(gosched.now())
        return out

    assert fake(main2, 2) == [EPOCH, EPOCH + 10, EPOCH + 20]
    th.join(5)


# --- testing.wait() -------------------------------------------------------------------------


def test_wait_chain_of_100() -> None:  # TestWait
    async def main() -> bool:
        done = False
        c: gosched.Chan[int] = gosched.Chan()
        first = c
        for _ in range(100):
            nxt: gosched.Chan[int] = gosched.Chan()

            async def link(i: gosched.Chan[int], o: gosched.Chan[int]) -> None:
                v = await i.recv()
                await o.send(v + 1)

            gosched.go(link, c, nxt)
            c = nxt

        async def last(i: gosched.Chan[int]) -> None:
            nonlocal done
            assert await i.recv() == 100
            done = True

        gosched.go(last, c)
        gosched.go(first.send, 0)
        await gtesting.wait()
        return done

    assert fake(main, 2) is True


def test_wait_does_not_return_while_a_goroutine_is_in_a_syscall() -> None:
    async def main() -> list[str]:
        log: list[str] = []

        async def sys() -> None:
            await gosched.syscall(time.sleep, 0.2)
            log.append("syscall returned")
            await gosched.select()

        gosched.go(sys)
        await gtesting.wait()
        log.append("wait returned")
        return log

    with pytest.raises(gosched.Deadlock) as ei:  # afterwards main returns, sys stays blocked
        fake(main)
    assert "main bubble goroutine has exited" in str(ei.value)

    async def main2() -> list[str]:
        log: list[str] = []

        async def sys() -> None:
            await gosched.syscall(time.sleep, 0.2)
            log.append("syscall returned")

        gosched.go(sys)
        await gtesting.wait()
        log.append("wait returned")
        return log

    assert fake(main2) == ["syscall returned", "wait returned"]


def test_wait_does_not_advance_time_and_sleep_helper() -> None:
    async def main() -> list[float]:
        got: list[float] = []

        async def sleeper() -> None:
            await gosched.sleep(5)
            got.append(gosched.now() - EPOCH)

        gosched.go(sleeper)
        await gtesting.wait()  # the sleeper is durably blocked: returns at once
        got.append(gosched.now() - EPOCH)
        await gtesting.sleep(5)  # sleep, then wait for the sleeper to finish
        got.append(gosched.now() - EPOCH)
        return got

    assert fake(main) == [0, 5, 5]


def test_wait_already_in_progress() -> None:
    async def main() -> str:
        parked: gosched.Chan[None] = gosched.Chan(1)

        async def first() -> None:
            await parked.send(None)
            await gtesting.wait()

        async def blocker() -> None:
            await gosched.syscall(time.sleep, 0.2)  # keeps first's wait() waiting

        gosched.go(blocker)
        gosched.go(first)
        await parked.recv()
        await gosched.gosched()  # let first reach wait()
        try:
            await gtesting.wait()
        except RuntimeError as e:
            return str(e)
        return "no error"

    assert fake(main) == "wait already in progress"


def test_wait_works_under_the_real_clock_too() -> None:
    async def main() -> int:
        n = 0

        async def inc() -> None:
            nonlocal n
            n += 1
            await gosched.sleep(30)

        for _ in range(10):
            gosched.go(inc)
        t0 = time.monotonic()
        await gtesting.wait()
        assert time.monotonic() - t0 < 5
        return n

    # The sleepers never wake before the program ends: run() returns when main does.
    assert gosched.run(main) == 10
