"""gosched.aio: asyncio's semantics on the gosched loop, and what gosched adds (issue 12)."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from typing import Any

import pytest

import gosched
import gosched.aio as aio
from _aio_helpers import ticker
from gosched._runtime.traps import getm


def test_cancel_with_message_cancelling_uncancel() -> None:
    async def sleeper() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        t = asyncio.create_task(sleeper())
        await asyncio.sleep(0.001)
        assert t.cancel("stop it") and t.cancelling() == 1
        with pytest.raises(asyncio.CancelledError, match="stop it"):
            await t
        assert t.cancelled()
        assert t.uncancel() == 0

    aio.run(main())


def test_cancel_before_first_step_and_while_running() -> None:
    async def body(log: list[str]) -> None:
        log.append("started")
        await asyncio.sleep(1)

    async def main() -> list[str]:
        log: list[str] = []
        t = asyncio.create_task(body(log))
        t.cancel()  # before it ever ran: it never starts
        with pytest.raises(asyncio.CancelledError):
            await t

        async def selfcancel() -> str:
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            try:
                await asyncio.sleep(0)  # a bare yield: the pending cancel lands at the next step
            except asyncio.CancelledError:
                return "caught"
            return "missed"

        assert await asyncio.create_task(selfcancel()) == "caught"
        return log

    assert aio.run(main()) == []


@pytest.mark.parametrize("loop", ["gosched", "asyncio"])
def test_uncancel_takes_back_a_cancellation_not_yet_thrown(loop: str) -> None:
    """From 3.13, the last uncancel() also drops a cancellation the coroutine has not seen yet
    (asyncio.timeout and TaskGroup rely on it once they have handled theirs). Before, asyncio
    still throws it at the next await; the gosched loop must do as asyncio does on each."""
    async def main() -> tuple[int, str]:
        t = asyncio.current_task()
        assert t is not None
        t.cancel()  # while it runs: pending until its next await
        n = t.uncancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            return n, "cancelled"
        return n, "went on"

    run = aio.run if loop == "gosched" else asyncio.run
    assert run(main()) == (0, "went on" if sys.version_info >= (3, 13) else "cancelled")


def test_a_timeout_around_a_task_group_whose_child_crashes_in_cleanup() -> None:
    """CPython's test_timeouts.test_timeout_taskgroup, which failed on 3.13: the task group's
    cancellation of the main task stayed pending after asyncio.timeout took it back. The
    outcome (how the errors chain, and that the task goes on) is asyncio's on each Python."""
    async def child() -> None:
        try:
            await asyncio.sleep(2)
        finally:
            raise ZeroDivisionError  # a crash in its cleanup

    async def main() -> tuple[str, list[str], str]:
        try:
            async with asyncio.timeout(0.01):
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(child())
                    try:
                        raise ValueError
                    finally:
                        await asyncio.sleep(1)
        except ExceptionGroup as eg:
            got = (type(eg.__context__).__name__, [type(e).__name__ for e in eg.exceptions])
        try:
            await asyncio.sleep(0)  # no cancellation left over
        except asyncio.CancelledError:
            return (*got, "cancelled")
        return (*got, "went on")

    want = asyncio.run(main())
    assert aio.run(main()) == want
    if sys.version_info >= (3, 13):
        assert want == ("TimeoutError", ["ZeroDivisionError"], "went on")


def test_taskgroup_timeout_wait_for() -> None:
    async def fails() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("boom")

    async def main() -> None:
        with pytest.raises(ExceptionGroup) as ei:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(fails())
                slow = tg.create_task(asyncio.sleep(10))
        assert ei.group_contains(ValueError) if hasattr(ei, "group_contains") else True
        assert slow.cancelled()

        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await asyncio.sleep(10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10), 0.05)
        assert time.monotonic() - t0 < 5
        assert await asyncio.wait_for(asyncio.sleep(0.001, result=4), 5) == 4

    aio.run(main())


def test_exception_never_retrieved_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def bad() -> None:
        raise KeyError("lost")

    async def main() -> None:
        t = asyncio.create_task(bad())
        await asyncio.sleep(0.01)
        assert t.done()
        del t

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        aio.run(main())
        gc.collect()
    assert any("Task exception was never retrieved" in r.getMessage() for r in caplog.records)


def test_exception_in_main_task_propagates() -> None:
    async def main() -> None:
        await asyncio.sleep(0)
        raise ZeroDivisionError("main")

    with pytest.raises(ZeroDivisionError, match="main"):
        aio.run(main())


def test_blocking_task_does_not_stop_a_ticker() -> None:
    async def blocker() -> None:
        time.sleep(0.4)  # an unwrapped blocking call: sysmon hands the P away

    async def main() -> list[float]:
        gaps: list[float] = []
        tk = asyncio.create_task(ticker(gaps))
        await asyncio.sleep(0.02)
        b = asyncio.create_task(blocker())
        await asyncio.gather(tk, b)
        return gaps

    gaps = aio.run(main())
    assert max(gaps) < 0.3, gaps  # asyncio's loop: one gap of 0.4 s


def test_current_task_right_in_every_task_while_one_blocks() -> None:
    async def blocker(out: dict[str, Any]) -> None:
        me = asyncio.current_task()
        time.sleep(0.2)  # its P is retaken; the others go on on another M
        out["blocker"] = asyncio.current_task() is me

    async def checker(i: int) -> bool:
        me = asyncio.current_task()
        for _ in range(20):
            await asyncio.sleep(0.005)
            if asyncio.current_task() is not me:
                return False
        return True

    async def main() -> tuple[dict[str, Any], list[bool]]:
        out: dict[str, Any] = {}
        b = asyncio.create_task(blocker(out))
        res = await asyncio.gather(*(checker(i) for i in range(10)))
        await b
        return out, res

    out, res = aio.run(main())
    assert out == {"blocker": True} and all(res)


def test_current_task_bound_before_gosched_aio_is_imported() -> None:
    # anyio binds asyncio.current_task at import (its pytest plugin loads it before
    # gosched.aio): that function object must answer per goroutine too
    code = textwrap.dedent(
        """
        import asyncio, sys
        from asyncio import current_task as early
        import anyio
        import gosched, gosched.aio

        sys.setswitchinterval(1e-5)

        async def child(i, out, wg):
            try:
                for _ in range(20):
                    with anyio.CancelScope():  # reads anyio's early-bound current_task
                        await anyio.sleep(0)
                    t = early()
                    out.append(t is not None and t is asyncio.current_task())
            finally:
                wg.done()

        async def main():
            out, wg = [], gosched.WaitGroup()
            for i in range(8):
                wg.add(1)
                gosched.go(child, i, out, wg)
            await wg.wait()
            return out

        out = gosched.run(main, maxprocs=2)
        assert len(out) == 160 and all(out), out
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_deadlock_is_reported_naming_the_task() -> None:
    code = textwrap.dedent(
        """
        import asyncio, gosched.aio as aio

        async def waiter(fut):
            await fut

        async def main():
            fut = asyncio.get_running_loop().create_future()
            await asyncio.create_task(waiter(fut), name="stuck-waiter")

        aio.run(main())
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "all goroutines are asleep - deadlock!" in r.stderr, r.stderr
    assert "asyncio.Future" in r.stderr, r.stderr
    # the dump names the task, its coroutine's frame and creation site, and what it awaits
    assert "(asyncio task 'stuck-waiter') awaits <Future pending" in r.stderr, r.stderr
    assert "__main__.waiter(...)" in r.stderr and "created by __main__.main" in r.stderr, r.stderr


def test_a_deadlock_under_asyncio_runner_ends_with_the_deadlock_alone() -> None:
    """asyncio.Runner.close runs the loop again after the run ended (shutdown_asyncgens): the
    stop the ended run queued for run_until_complete's future once stopped that run at once,
    and "Event loop stopped before Future completed" was raised over the report (1 run in 4)."""
    code = textwrap.dedent(
        """
        import asyncio, gosched.aio as aio

        async def main():
            await asyncio.get_running_loop().create_future()

        aio.run(main())
        """
    )
    for _ in range(12):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "all goroutines are asleep - deadlock!" in r.stderr, r.stderr
        assert "During handling" not in r.stderr and "stopped before Future" not in r.stderr, r.stderr


@pytest.mark.parametrize("how", ["call_soon_threadsafe", "run_coroutine_threadsafe"])
def test_a_thread_outside_the_runtime_may_still_wake_a_task(how: str) -> None:
    """Every task waits on what only a plain thread will complete, with no timer and no I/O
    pending: not a deadlock while that thread lives (asyncio lets any thread call in; the
    thread here starts before the wait and calls in 0.3 s into it). aio-bugs #20."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        got: list[str] = []

        async def note(s: str) -> None:
            got.append(s)
            ev.set()

        def later() -> None:
            time.sleep(0.3)
            if how == "call_soon_threadsafe":
                loop.call_soon_threadsafe(got.append, "called")
                loop.call_soon_threadsafe(ev.set)
            else:
                asyncio.run_coroutine_threadsafe(note("called"), loop).result(10)

        t = threading.Thread(target=later)
        t.start()
        await ev.wait()
        t.join()
        return got[0]

    assert aio.run(main()) == "called"


def test_an_executor_call_made_before_the_loop_runs_keeps_it_alive() -> None:
    """run_in_executor before run_until_complete (the loop has no runtime yet), its function
    calling back in with run_coroutine_threadsafe, as CPython's RunCoroutineThreadsafeTests do:
    its worker is no outsider, and it was counted in nforeign only if the loop was bound."""

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0.05)
        return a + b

    loop = aio.new_event_loop()
    try:
        fut = loop.run_in_executor(None, lambda: asyncio.run_coroutine_threadsafe(add(1, 2), loop).result(10))
        assert loop.run_until_complete(fut) == 3
    finally:
        loop.close()


def test_aiosqlite_slow_query_is_no_deadlock() -> None:
    """A real library whose thread completes each future by call_soon_threadsafe: a query of
    ~0.5 s, with no timer and no I/O pending meanwhile, was reported as a deadlock every time."""
    pytest.importorskip("aiosqlite")
    code = textwrap.dedent(
        """
        import aiosqlite, gosched.aio as aio

        SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
                "SELECT count(*) FROM c")

        async def main():
            async with aiosqlite.connect(":memory:") as db:
                async with db.execute(SLOW) as cur:
                    print(*await cur.fetchone())

        aio.run(main())
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "2000000", r.stderr


def test_a_deadlock_is_reported_once_the_outside_threads_are_gone() -> None:
    """checkdead looks again while an outside thread lives (10 ms, doubling to 1 s): one that
    ends without calling in leaves a deadlock, which is then reported, not a hang."""
    code = textwrap.dedent(
        """
        import asyncio, threading, time, gosched, gosched.aio as aio

        async def main():
            fut = asyncio.get_running_loop().create_future()
            threading.Thread(target=time.sleep, args=(0.5,), name="bystander").start()
            await fut

        t0 = time.monotonic()
        try:
            aio.run(main())
        except gosched.Deadlock:
            print(time.monotonic() - t0)
            raise
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "all goroutines are asleep - deadlock!" in r.stderr, r.stderr
    assert "awaits <Future pending" in r.stderr, r.stderr
    took = float(r.stdout)  # printed as run() raised Deadlock
    assert 0.5 <= took < 5, took  # not before the thread ended; within a look or two after


def test_a_run_asleep_but_for_an_outside_thread_warns_once_per_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkdead cannot rule out a live outside thread (it may call call_soon_threadsafe), but
    never stays silent: a run asleep but for one past STALL_NS gets one DeadlockWarning naming
    the thread, with the dump; the thread then calls in and the run goes on; the next stall
    warns again."""
    from gosched._runtime import checkdead

    monkeypatch.setattr(checkdead, "STALL_NS", 200_000_000)
    seen: list[warnings.WarningMessage] = []
    warned = threading.Semaphore(0)

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        seen.append(warnings.WarningMessage(message, category, filename, lineno))
        warned.release()

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        got: list[str] = []
        for k in range(2):
            fut = loop.create_future()

            def bystander(fut: asyncio.Future[str] = fut, k: int = k) -> None:
                assert warned.acquire(timeout=30)  # the stall's warning, then a call in
                loop.call_soon_threadsafe(fut.set_result, f"woken {k}")

            t = threading.Thread(target=bystander, name=f"bystander-{k}")
            t.start()
            got.append(await fut)
            t.join()
        return got

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        assert aio.run(main()) == ["woken 0", "woken 1"]
    stalls = [w for w in seen if w.category is gosched.debug.DeadlockWarning]
    assert len(stalls) == 2, [str(w.message)[:200] for w in seen]
    for k, w in enumerate(stalls):
        text = str(w.message)
        assert "all goroutines have been asleep" in text and f"'bystander-{k}'" in text, text
        assert "awaits <Future pending" in text, text  # the dump: what the main task waits for


def test_a_stall_warning_made_an_error_ends_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """``filterwarnings("error", DeadlockWarning)``: the first stall ends the run with it."""
    from gosched._runtime import checkdead

    monkeypatch.setattr(checkdead, "STALL_NS", 100_000_000)
    done = threading.Event()

    async def main() -> None:
        threading.Thread(target=done.wait, args=(30,), name="bystander", daemon=True).start()
        await asyncio.get_running_loop().create_future()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", gosched.debug.DeadlockWarning)
            with pytest.raises(gosched.debug.DeadlockWarning, match="'bystander'"):
                aio.run(main())
    finally:
        done.set()


def test_a_deadlock_report_names_a_loop_left_with_work_queued() -> None:
    """Work queued on a loop that nothing runs at a deadlock is a runtime bug the goroutine dump
    cannot show (the loop's dispatcher is a runtime helper): the report says so, with the turn's
    holder. Made here by hand: the main goroutine keeps the turn and parks on a channel."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop._gturn.holder = getm().curg  # type: ignore[attr-defined]
        loop.call_soon(lambda: None)
        await gosched.Chan[int]().recv()

    with pytest.raises(gosched.Deadlock) as e:
        gosched.run(main)
    text = str(e.value)
    assert "runtime: asyncio loop 0x" in text and "left 1 callbacks queued" in text, text
    assert "its turn is held by goroutine 1 (chan receive)" in text, text
    assert "(a gosched bug: please report it)" in text, text


def test_fake_clock_makes_asyncio_sleep_virtual() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        w0 = time.monotonic()
        await asyncio.sleep(3600)
        async with asyncio.timeout(7200):
            await asyncio.sleep(60)
        return loop.time() - t0, time.monotonic() - w0

    virtual, wall = aio.run(main(), clock="fake")
    assert virtual >= 3660 and wall < 5


def test_run_while_running_and_closed_loop_errors() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(coro)
        other = aio.new_event_loop()
        with pytest.raises(RuntimeError, match="another loop is running"):
            other.run_until_complete(coro)
        coro.close()
        other.close()

    aio.run(main())
    loop = aio.new_event_loop()
    loop.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_a_goroutine_panic_between_runs_is_raised_by_close() -> None:
    """The loop's runtime ended while the loop was stopped (a goroutine it started raised): the
    error was kept for a next run_forever that never came, and close() dropped it in silence."""
    ran = threading.Event()

    async def late() -> None:
        await gosched.syscall(ran.wait)  # until the loop has stopped
        raise ValueError("late boom")

    async def main() -> int:
        gosched.go(late)
        return 1

    loop = aio.new_event_loop()
    assert loop.run_until_complete(main()) == 1
    (svc,) = [t for t in threading.enumerate() if t.name == "gosched-asyncio"]
    ran.set()
    svc.join(30)  # the panic ends the loop's runtime
    assert not svc.is_alive()
    with pytest.raises(ValueError, match="late boom"):
        loop.close()
    assert loop.is_closed()
    loop.close()  # raised once


def test_closing_the_last_loop_is_no_deadlock_while_every_m_idles(monkeypatch: pytest.MonkeyPatch) -> None:
    """close() wakes the stopped dispatcher, which leaves, then quits the loop's runtime. It used
    to uncount the loop's thread first: in between, every goroutine asleep and nothing counted,
    a last idle M's checkdead ended the run with a false deadlock (dropped then; raised by close
    since it raises the run's error). The moment is widened here: 50 ms after the wake."""
    wake = aio.EventLoop._gwake

    def slowwake(self: aio.EventLoop) -> None:
        wake(self)
        if self._gclosed:
            time.sleep(0.05)  # the dispatcher sees the loop closed and leaves; every M idles

    monkeypatch.setattr(aio.EventLoop, "_gwake", slowwake)
    for _ in range(3):
        loop = aio.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()  # raised Deadlock: all goroutines are asleep


def test_future_of_another_loop_is_refused() -> None:
    other = asyncio.new_event_loop()

    async def main() -> None:
        async def t() -> None:
            await other.create_future()

        with pytest.raises(RuntimeError, match="attached to a different loop"):
            await asyncio.create_task(t())

    try:
        aio.run(main())
    finally:
        other.close()


def test_foreign_thread_in_debug_mode_is_refused() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        err: list[BaseException] = []

        def thread() -> None:
            try:
                loop.call_soon(print)
            except RuntimeError as e:
                err.append(e)

        await asyncio.to_thread(thread)
        return str(err[0]) if err else ""

    assert "other than the current one" in aio.run(main(), debug=True)


def test_many_tasks_several_ms_tiny_switch_interval() -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:

        async def worker(q: asyncio.Queue[int], out: list[int]) -> None:
            while (v := await q.get()) >= 0:
                out.append(v)
                await asyncio.sleep(0)

        async def main() -> list[int]:
            gosched.gomaxprocs(4)
            q: asyncio.Queue[int] = asyncio.Queue()
            out: list[int] = []
            ws = [asyncio.create_task(worker(q, out)) for _ in range(50)]
            for i in range(3000):
                await q.put(i)
            for _ in ws:
                await q.put(-1)
            await asyncio.gather(*ws)
            return out

        out = aio.run(main())
        assert sorted(out) == list(range(3000))
    finally:
        sys.setswitchinterval(old)


def test_must_cancel_and_fut_waiter_as_asyncio_keeps_them() -> None:
    # a12eco's bug 1: _must_cancel stayed True after the cancellation was delivered,
    # and anyio skips such a task: every later cancel scope in it never fired.
    async def main() -> tuple[bool, int, bool]:
        t = asyncio.current_task()
        assert t is not None
        asyncio.get_running_loop().call_later(0.01, t.cancel)
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            t.uncancel()
        fut = asyncio.get_running_loop().create_future()

        async def waiter() -> None:
            await fut

        w = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        parked = w._fut_waiter is fut  # type: ignore[attr-defined]
        fut.set_result(None)
        await w
        return t._must_cancel, t.cancelling(), parked  # type: ignore[attr-defined]

    assert aio.run(main()) == (False, 0, True)


def test_steps_and_callbacks_never_overlap_on_several_ms() -> None:
    # a12eco's bug 7: task steps and callbacks ran on several Ms at once (two
    # threads inside one ssl.SSLObject crashed the process). The loop's turn
    # serialises them; only a retake of a stuck task lets others run beside it.
    busy = [0]
    overlaps = [0]

    def critical() -> None:
        busy[0] += 1
        if busy[0] > 1:
            overlaps[0] += 1
        for _ in range(100):  # bytecodes a GIL switch can land in
            pass
        busy[0] -= 1

    async def worker() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(500):
            critical()
            loop.call_soon(critical)
            await asyncio.sleep(0)

    async def main() -> int:
        gosched.gomaxprocs(4)
        await asyncio.gather(*(worker() for _ in range(8)))
        return int(gosched.metrics.read()["/sysmon/retakes:events"])

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        retakes = aio.run(main())
    finally:
        sys.setswitchinterval(old)
    assert overlaps[0] == 0 or retakes > 0, (overlaps[0], retakes)  # a step that lost its CPU 10 ms


def test_fake_clock_inside_gosched_run() -> None:
    async def main() -> float:
        w0 = time.monotonic()
        await asyncio.sleep(3600)  # a goroutine on the runtime's own loop: virtual too
        await asyncio.wait_for(asyncio.sleep(60), 120)
        return time.monotonic() - w0

    assert gosched.run(main, clock="fake") < 5


def test_tasks_start_and_wake_in_fifo_order() -> None:
    # CPython's test_locks.ConditionTests.test_notify (a12eco's bug 6): tasks
    # started in reverse order (runnext), so notify(1) woke the last waiter.
    async def main() -> tuple[list[int], list[int]]:
        cond = asyncio.Condition()
        started: list[int] = []
        woken: list[int] = []

        async def waiter(i: int) -> None:
            started.append(i)
            async with cond:
                await cond.wait()
                woken.append(i)

        ts = [asyncio.create_task(waiter(i)) for i in range(5)]
        await asyncio.sleep(0)
        async with cond:
            cond.notify(1)
        await asyncio.sleep(0)
        assert woken == [0]
        async with cond:
            cond.notify_all()
        await asyncio.gather(*ts)
        return started, woken

    assert aio.run(main()) == ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])


def test_a_tasks_creation_site_is_its_first_caller_outside_the_loop() -> None:
    # create_task keeps where a task was created (its goroutine's "created by" line): the
    # first frame outside asyncio and the loop. On 3.11 the C accelerator walks the frames
    # without making frame objects; it must agree with the Python walk and with the frame.
    from gosched._aio import task as aiotask

    ns: dict[str, Any] = {"__name__": "asyncio.stand_in_for_asyncio_code"}
    exec("def through(f):\n    return f()\n", ns)  # a frame the walk skips, as asyncio's

    def sites() -> tuple[Any, Any]:
        return aiotask.creatorsite(1), aiotask._creatorsite(1)

    def user() -> tuple[Any, Any, tuple[Any, int, Any]]:
        c, py = ns["through"](sites)
        return c, py, here

    def direct() -> tuple[Any, Any, int]:
        line = sys._getframe(0).f_lineno + 1
        c, py = sites()
        return c, py, line

    here = (user.__code__, -1, globals())
    c, py, want = user()
    assert c is not None and c[0] is user.__code__ and c[2] is want[2] and c == py
    c, py, line = direct()
    assert c == py and c[0] is direct.__code__ and c[2] is globals()
    assert next(ln for start, end, ln in c[0].co_lines() if start <= c[1] < end) == line

    def three() -> list[Any]:
        return [asyncio.create_task(asyncio.sleep(0)) for _ in range(3)]

    async def main() -> None:
        line = sys._getframe(0).f_lineno + 1
        t: Any = asyncio.create_task(asyncio.sleep(0))
        assert t._gpcode is main.__code__ and t._gpglobals is globals()
        assert next(ln for start, end, ln in t._gpcode.co_lines() if start <= t._gplasti < end) == line
        await t
        # The C walk remembers which code objects it skips: the same again, and from another line.
        ts = three()
        t2: Any = asyncio.create_task(asyncio.sleep(0))
        assert len({(x._gpcode, x._gplasti) for x in ts}) == 1 and ts[0]._gpcode is not main.__code__
        assert t2._gpcode is main.__code__ and t2._gplasti > t._gplasti
        await asyncio.gather(*ts, t2)

    aio.run(main())
