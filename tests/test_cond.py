"""sync.Cond (Go's cond_test.go, ported), time.AfterFunc (sleep_test.go) and the
close-to-broadcast idiom (Chan.wait_closed, Context.wait_done)."""

from __future__ import annotations

import pytest

import gosched
from _core_helpers import run, tiny_switch

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]


async def nothing_on(ch: gosched.Chan[object]) -> bool:
    i, _, _ = await gosched.select(gosched.recv(ch), default=True)
    return i == -1


# --- sync.Cond ---------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_cond_signal(procs: int) -> None:
    async def main() -> None:
        m = gosched.Mutex()
        c = gosched.Cond(m)
        n = 2
        running: gosched.Chan[bool] = gosched.Chan(n)
        awake: gosched.Chan[bool] = gosched.Chan(n)

        async def waiter() -> None:
            await m.lock()
            await running.send(True)
            await c.wait()
            await awake.send(True)
            m.unlock()

        for _ in range(n):
            gosched.go(waiter)
        for _ in range(n):
            await running.recv()  # wait for everyone to run
        while n > 0:
            assert await nothing_on(awake), "goroutine not asleep"
            await m.lock()
            c.signal()
            m.unlock()
            await awake.recv()  # deadlocks if no goroutine wakes up
            assert await nothing_on(awake), "too many goroutines awake"
            n -= 1
        c.signal()

    run(main, maxprocs=procs)


def test_cond_signal_generations() -> None:
    async def main() -> None:
        m = gosched.Mutex()
        c = gosched.Cond(m)
        n = 100
        running: gosched.Chan[bool] = gosched.Chan(n)
        awake: gosched.Chan[int] = gosched.Chan(n)

        async def waiter(i: int) -> None:
            await m.lock()
            await running.send(True)
            await c.wait()
            await awake.send(i)
            m.unlock()

        for i in range(n):
            gosched.go(waiter, i)
            if i > 0:
                a = await awake.recv()
                assert a == i - 1, f"wrong goroutine woke up: want {i - 1}, got {a}"
            await running.recv()
            await m.lock()
            c.signal()
            m.unlock()
        await awake.recv()

    run(main, maxprocs=4)


@pytest.mark.parametrize("procs", [1, 4])
def test_cond_broadcast(procs: int) -> None:
    async def main() -> None:
        m = gosched.Mutex()
        c = gosched.Cond(m)
        n = 200
        running: gosched.Chan[int] = gosched.Chan(n)
        awake: gosched.Chan[int] = gosched.Chan(n)
        exit_ = [False]

        async def waiter(g: int) -> None:
            await m.lock()
            while not exit_[0]:
                await running.send(g)
                await c.wait()
                await awake.send(g)
            m.unlock()

        for i in range(n):
            gosched.go(waiter, i)
        for i in range(n):
            for _ in range(n):
                await running.recv()  # deadlocks unless n are running
            if i == n - 1:
                async with m:
                    exit_[0] = True
            assert await nothing_on(awake), "goroutine not asleep"
            async with m:
                c.broadcast()
            seen = [False] * n
            for _ in range(n):
                g = await awake.recv()
                assert not seen[g], "goroutine woke up twice"
                seen[g] = True
        assert await nothing_on(running), "goroutine did not exit"
        c.broadcast()

    run(main, maxprocs=procs)


def test_race() -> None:
    async def main() -> None:
        x = [0]
        c = gosched.Cond(gosched.Mutex())
        done: gosched.Chan[bool] = gosched.Chan()

        async def first() -> None:
            await c.L.lock()
            x[0] = 1
            await c.wait()
            assert x[0] == 2, "want 2"
            x[0] = 3
            c.signal()
            c.L.unlock()
            await done.send(True)

        async def second() -> None:
            await c.L.lock()
            while True:
                if x[0] == 1:
                    x[0] = 2
                    c.signal()
                    break
                c.L.unlock()
                await gosched.gosched()
                await c.L.lock()
            c.L.unlock()
            await done.send(True)

        async def third() -> None:
            await c.L.lock()
            while True:
                if x[0] == 2:
                    await c.wait()
                    assert x[0] == 3, "want 3"
                    break
                if x[0] == 3:
                    break
                c.L.unlock()
                await gosched.gosched()
                await c.L.lock()
            c.L.unlock()
            await done.send(True)

        for f in (first, second, third):
            gosched.go(f)
        for _ in range(3):
            await done.recv()

    run(main, maxprocs=2)


def test_cond_signal_stealing() -> None:
    async def main() -> None:
        for _ in range(1000):
            m = gosched.Mutex()
            cond = gosched.Cond(m)
            ch: gosched.Chan[None] = gosched.Chan()

            async def waiter(m: gosched.Mutex, cond: gosched.Cond, ch: gosched.Chan[None]) -> None:
                await m.lock()
                await ch.send(None)
                await cond.wait()
                m.unlock()
                await ch.send(None)

            gosched.go(waiter, m, cond, ch)
            await ch.recv()
            await m.lock()
            m.unlock()
            # The waiter is in cond.wait(). Race a broadcast against a new waiter:
            # the new one may or may not be notified, the first must be.
            done = [False]

            async def broadcaster(cond: gosched.Cond) -> None:
                cond.broadcast()

            async def late(m: gosched.Mutex, cond: gosched.Cond, done: list[bool]) -> None:
                await m.lock()
                while not done[0]:
                    await cond.wait()
                m.unlock()

            gosched.go(broadcaster, cond)
            gosched.go(late, m, cond, done)
            await ch.recv()  # the first waiter was signalled
            async with m:
                done[0] = True
            cond.broadcast()

    with tiny_switch():
        run(main, maxprocs=4)


def test_cond_over_an_rwmutex_and_bad_lockers() -> None:
    async def main() -> int:
        rw = gosched.RWMutex()
        c = gosched.Cond(rw)
        ready = [0]

        async def setter() -> None:
            async with rw:
                ready[0] = 42
                c.broadcast()

        async with rw:
            gosched.go(setter)
            while not ready[0]:
                await c.wait()
            return ready[0]

    assert run(main) == 42
    with pytest.raises(TypeError, match="Cond needs a Locker"):
        gosched.Cond(object())  # type: ignore[arg-type]


def test_cond_wait_without_holding_the_lock_is_gos_fatal_error() -> None:
    async def main() -> None:
        await gosched.Cond(gosched.Mutex()).wait()

    with pytest.raises(gosched.Fatal, match="sync: unlock of unlocked mutex"):
        run(main)


def test_cond_wait_is_a_durable_block_for_the_deadlock_check() -> None:
    async def main() -> None:
        m = gosched.Mutex()
        await m.lock()
        await gosched.Cond(m).wait()  # no one will ever signal

    with pytest.raises(gosched.Deadlock, match=r"sync\.Cond\.Wait"):
        run(main)


# --- time.AfterFunc ------------------------------------------------------------------------


def test_after_func() -> None:
    """Go's TestAfterFunc: a chain of ten after_func(0, f), each sleeping a second after."""

    async def main() -> None:
        i = [10]
        c: gosched.Chan[bool] = gosched.Chan()

        async def f() -> None:
            i[0] -= 1
            if i[0] >= 0:
                gosched.after_func(0, f)
                await gosched.sleep(1)
            else:
                await c.send(True)

        gosched.after_func(0, f)
        await c.recv()  # each f sleeps beside the chain, not in it

    run(main, clock="real")


def test_after_func_on_the_fake_clock_stop_and_reset() -> None:
    async def main() -> tuple[list[float], bool, bool, bool]:
        t0 = gosched.now()
        fired: gosched.Chan[float] = gosched.Chan(3)
        t = gosched.after_func(5, lambda: fired.trysend(gosched.now() - t0))  # a plain function
        assert isinstance(t, gosched.Timer)
        await gosched.sleep(1)
        assert t.reset(10) is True  # re-armed 10 s from t0 + 1
        got = [await fired.recv()]
        stopped_late = t.stop()  # it has fired
        t2 = gosched.after_func(1, lambda: fired.trysend(-1.0))
        stopped = t2.stop()
        reset_after_fire = t.reset(2)
        got.append(await fired.recv())
        await gosched.sleep(5)
        assert len(fired) == 0 and await nothing_on(t.c)  # t2 never ran; c never receives
        return got, stopped_late, stopped, reset_after_fire

    got, stopped_late, stopped, reset_after_fire = run(main, clock="fake")
    assert got == [11.0, 13.0]
    assert (stopped_late, stopped, reset_after_fire) == (False, True, False)


def test_after_func_starvation() -> None:
    """Go's TestAfterFuncStarvation: at GOMAXPROCS 1, two goroutines ping-ponging forever
    on a channel do not keep the after_func goroutine from running."""

    async def main() -> None:
        wg = gosched.WaitGroup()
        stop = [False]
        c: gosched.Chan[bool] = gosched.Chan(1)
        wg.add(2)

        async def sender() -> None:
            while not stop[0]:
                await c.send(True)
            c.close()
            wg.done()

        async def receiver() -> None:
            await c.wait_closed()
            wg.done()

        gosched.go(sender)
        gosched.go(receiver)
        gosched.after_func(1e-6, lambda: stop.__setitem__(0, True))
        await wg.wait()

    run(main, maxprocs=1, clock="real")


def test_after_func_bad_input() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="after_func needs a function"):
            gosched.after_func(1, 42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gosched.after_func("1", lambda: None)  # type: ignore[arg-type]

    run(main)
    with pytest.raises(RuntimeError, match=r"needs a running gosched\.run"):
        gosched.after_func(1, lambda: None)


# --- close to broadcast ----------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 4])
def test_wait_closed_wakes_every_waiter_once_and_returns_at_once_when_closed(procs: int) -> None:
    async def main() -> tuple[int, int]:
        done: gosched.Chan[None] = gosched.Chan()
        woke: gosched.Chan[int] = gosched.Chan(100)
        for i in range(100):
            gosched.go(_wait_then_send, done, woke, i)
        await gosched.testing.wait()  # every waiter is parked in wait_closed()
        assert len(woke) == 0
        done.close()
        ids = sorted([await woke.recv() for _ in range(100)])
        await done.wait_closed()  # closed: at once
        return len(set(ids)), gosched.num_goroutine()

    assert run(main, maxprocs=procs, clock="fake") == (100, 1)


async def _wait_then_send(done: gosched.Chan[None], woke: gosched.Chan[int], i: int) -> None:
    await done.wait_closed()
    await woke.send(i)


def test_wait_closed_drops_values_sent_before_the_close() -> None:
    async def main() -> int:
        ch: gosched.Chan[int] = gosched.Chan(2)
        await ch.send(1)
        await ch.send(2)

        async def closer() -> None:
            await ch.send(3)
            ch.close()

        gosched.go(closer)
        await ch.wait_closed()
        return len(ch)

    assert run(main) == 0


def test_recv_on_a_closed_channel_as_the_readme_says() -> None:
    async def main() -> tuple[object, ...]:
        ch: gosched.Chan[int] = gosched.Chan(1)
        await ch.send(7)
        ch.close()
        first = await ch.recv()  # buffered values are still delivered
        second = await ch.recv_ok()
        try:
            await ch.recv()
            third = "no error"
        except gosched.Closed:
            third = "Closed"
        sel = await gosched.select(gosched.recv(ch))
        return first, second, third, sel

    assert run(main) == (7, (None, False), "Closed", (0, None, False))
