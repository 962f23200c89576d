"""``ctx=`` on gosched.sleep and gosched.syscall: a done context ends the wait at once."""

from __future__ import annotations

import threading
import time

import pytest

import gosched
from _core_helpers import run
from gosched import context
from gosched.context import Canceled, DeadlineExceeded

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]


def test_sleep_returns_when_the_deadline_passes() -> None:
    async def main() -> tuple[float, str]:
        ctx, cancel = context.with_timeout(context.background(), 1.0)
        t0 = gosched.now()
        try:
            with pytest.raises(DeadlineExceeded) as e:
                await gosched.sleep(3600, ctx=ctx)
        finally:
            cancel()
        return gosched.now() - t0, str(e.value)

    took, msg = run(main, clock="fake")
    assert (took, msg) == (1.0, "context deadline exceeded")  # the fake clock: exact


def test_sleep_with_a_context_that_stays_alive_sleeps_its_time() -> None:
    async def main() -> tuple[float, int]:
        ctx, cancel = context.with_cancel(context.background())
        t0 = gosched.now()
        await gosched.sleep(2.5, ctx=ctx)
        await gosched.sleep(1.0, ctx=context.background())  # never done: a plain sleep
        took = gosched.now() - t0
        cancel()
        return took, gosched.num_goroutine()

    assert run(main, clock="fake") == (3.5, 1)


def test_sleep_cancelled_from_another_goroutine_and_already_cancelled() -> None:
    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())

        async def canceller() -> None:
            await gosched.sleep(0.5)
            cancel()

        gosched.go(canceller)
        t0 = gosched.now()
        with pytest.raises(Canceled):
            await gosched.sleep(3600, ctx=ctx)
        assert gosched.now() - t0 == 0.5
        with pytest.raises(Canceled):
            await gosched.sleep(0, ctx=ctx)  # done already: raises before anything

    run(main, clock="fake", maxprocs=2)


def test_syscall_returns_at_once_when_cancelled_and_discards_the_result() -> None:
    release = threading.Event()
    finished: list[int] = []

    def blocking() -> int:
        release.wait(30)
        finished.append(1)
        return 42

    async def main() -> tuple[float, int]:
        ctx, cancel = context.with_cancel(context.background())

        async def canceller() -> None:
            await gosched.sleep(0.05)
            cancel()

        gosched.go(canceller)
        t0 = time.monotonic()
        with pytest.raises(Canceled):
            await gosched.syscall(blocking, ctx=ctx)
        took = time.monotonic() - t0
        while gosched.num_goroutine() > 1:
            await gosched.sleep(0.001)
        return took, gosched.num_goroutine()

    took, left = run(main, maxprocs=2)
    assert took < 5.0 and left == 1
    assert finished == []  # still blocked in the background
    release.set()
    for _ in range(3000):
        if finished:
            break
        time.sleep(0.01)
    assert finished == [1]


def test_syscall_with_ctx_returns_the_result_or_raises_its_exception() -> None:
    def fails() -> None:
        raise OSError("no such thing")

    async def main() -> int:
        ctx, cancel = context.with_timeout(context.background(), 30.0)
        try:
            with pytest.raises(OSError, match="no such thing"):
                await gosched.syscall(fails, ctx=ctx)
            # The Thread, not its ident: the call's thread has exited by now, and an M
            # started since may have been given the same ident (seen 16 in 3000 runs).
            ran_on = await gosched.syscall(threading.current_thread, ctx=ctx)
            assert ran_on is not threading.current_thread()
            assert ran_on.name == "gosched.syscall current_thread", ran_on
            v: int = await gosched.syscall(sum, [1, 2, 3], ctx=ctx)
            return v
        finally:
            cancel()

    assert run(main, maxprocs=1) == 6


def test_syscall_with_a_done_context_does_not_start() -> None:
    started: list[int] = []

    async def main() -> None:
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        with pytest.raises(Canceled):
            await gosched.syscall(started.append, 1, ctx=ctx)

    run(main)
    assert started == []


def test_waiting_on_a_ctx_syscall_is_not_a_deadlock() -> None:
    """The goroutine waits on the result channel that a plain thread fills."""

    async def main() -> str:
        ctx, cancel = context.with_cancel(context.background())
        try:
            return await gosched.syscall(time.sleep, 0.3, ctx=ctx) or "slept"
        finally:
            cancel()

    assert run(main) == "slept"
