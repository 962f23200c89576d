"""gosched.aio's loop callbacks in C (_speedups_aioloop.h) against their Python definitions:
call_soon's common cases, runhandle, and the running-loop look (issue 12)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import sys
from asyncio import events
from typing import Any

import pytest

import gosched.aio as aio
from gosched._aio import dispatch, task
from gosched._aio import loop as aioloop
from gosched._runtime import speedups

_RUNHANDLES: dict[str, Any] = {"python": dispatch._runhandle}
_RUNNINGLOOPS: dict[str, Any] = {"python": task._runningloop}
if speedups.c is not None:
    _RUNHANDLES["c"] = speedups.c.runhandle
    _RUNNINGLOOPS["c"] = speedups.c.runningloop

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.mark.parametrize("how", list(_RUNHANDLES))
def test_runhandle_runs_the_callback_in_its_context_and_reports_what_it_raises(how: str) -> None:
    # Handle._run's work: the callback with its arguments in the handle's context; an
    # exception to the loop's handler in asyncio's words (the loop goes on); SystemExit and
    # KeyboardInterrupt out of it; debug mode's timed run.
    runhandle = _RUNHANDLES[how]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, c: handled.append(c))
        ctx = contextvars.copy_context()
        ctx.run(VAR.set, "mine")
        runhandle(loop, asyncio.Handle(lambda *a: seen.append((a, VAR.get())), (1, 2, 3), loop, ctx))
        assert seen == [((1, 2, 3), "mine")] and VAR.get() == "unset"

        def boom(x: int) -> None:
            raise ValueError(x)

        h = asyncio.Handle(boom, (7,), loop, None)
        runhandle(loop, h)
        (c,) = handled
        assert c["message"].startswith("Exception in callback ") and "boom" in c["message"]
        assert type(c["exception"]) is ValueError and c["exception"].args == (7,) and c["handle"] is h

        def leave() -> None:
            raise SystemExit(3)

        with pytest.raises(SystemExit):
            runhandle(loop, asyncio.Handle(leave, (), loop, None))
        loop.set_debug(True)
        runhandle(loop, asyncio.Handle(seen.append, ("debug",), loop, None))
        loop.set_debug(False)
        assert seen[-1] == "debug"

    aio.run(main())


def test_call_soon_keeps_asyncio_semantics_in_every_case() -> None:
    # FIFO with tasks' wake-ups and first steps; many arguments and a context; the errors
    # of a closed loop; a subclass's own call_soon is its own.
    order: list[Any] = []

    async def waiter(f: asyncio.Future[int]) -> None:
        order.append(("woken", await f))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        f = loop.create_future()
        t = asyncio.create_task(waiter(f))
        await asyncio.sleep(0)  # parked on f
        loop.call_soon(order.append, "first")
        f.set_result(1)  # its Wake queues behind "first"
        loop.call_soon(lambda *a: order.append(a), *range(12))
        ctx = contextvars.copy_context()
        ctx.run(VAR.set, "c")
        loop.call_soon(lambda: order.append(VAR.get()), context=ctx)
        await t
        await asyncio.sleep(0)

    aio.run(main())
    # Callbacks FIFO; the woken task after the callbacks queued before its wake-up (docs/aio.md:
    # those queued after it may run first, in the same batch).
    assert [x for x in order if x != ("woken", 1)] == ["first", tuple(range(12)), "c"]
    assert order.index(("woken", 1)) > order.index("first")
    loop = aio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)

    class Mine(aio.EventLoop):  # type: ignore[misc]
        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
            order.append("mine")
            return super().call_soon(callback, *args, context=context)

    lp = Mine()
    try:
        lp.run_until_complete(asyncio.sleep(0))
    finally:
        lp.close()
    assert "mine" in order
    assert aioloop._pycall_soon.__qualname__ == "EventLoop.call_soon"


@pytest.mark.parametrize("how", list(_RUNNINGLOOPS))
def test_the_running_loop_is_asyncios_across_fork_and_a_swapped_function(how: str) -> None:
    runningloop = _RUNNINGLOOPS[how]
    assert runningloop() is events._get_running_loop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert runningloop() is loop
        old = events._get_running_loop
        events._get_running_loop = events._py__get_running_loop  # type: ignore[attr-defined]
        try:  # test_asyncio's pure-Python functions: their slot, not C's
            assert runningloop() is None
        finally:
            events._get_running_loop = old
        if sys.platform.startswith("linux"):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child's running loop is None, as asyncio says after fork
                os.write(w, b"1" if runningloop() is None and events._get_running_loop() is None else b"0")
                os._exit(0)
            os.close(w)
            os.waitpid(pid, 0)
            with os.fdopen(r, "rb") as f:
                assert f.read() == b"1"

    with pytest.warns(DeprecationWarning) if sys.version_info >= (3, 12) else _nowarn():
        aio.run(main())


class _nowarn:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def test_more_ready_descriptors_than_one_look_serves_are_all_served() -> None:
    # The poller reads at most 512 ready descriptors a look (the accelerator's serveready):
    # with 700 readable and 700 writable at once, every reader and writer runs, each one of
    # the descriptor's own kind, and a cancelled reader's descriptor is unwatched.
    n = 700

    async def main() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(n)]
        read: set[int] = set()
        wrote: set[int] = set()
        done = loop.create_future()

        def readable(i: int) -> None:
            pairs[i][0].recv(16)
            loop.remove_reader(pairs[i][0])
            read.add(i)
            if len(read) == n and len(wrote) == n and not done.done():
                done.set_result(None)

        def writable(i: int) -> None:
            loop.remove_writer(pairs[i][1])
            wrote.add(i)
            if len(read) == n and len(wrote) == n and not done.done():
                done.set_result(None)

        for i, (a, b) in enumerate(pairs):
            a.setblocking(False)
            b.setblocking(False)
            loop.add_reader(a, readable, i)
            loop.add_writer(b, writable, i)
            b.send(b"x")
            if i % 50 == 0:
                await asyncio.sleep(0)  # a short step each (no retake mid-setup)
        extra_a, extra_b = socket.socketpair()
        loop.add_reader(extra_a, read.add, -1)
        loop.remove_reader(extra_a)  # cancelled: unwatched, never run
        extra_b.send(b"y")
        await asyncio.wait_for(done, 30)
        await asyncio.sleep(0)
        for a, b in [*pairs, (extra_a, extra_b)]:
            a.close()
            b.close()
        return len(read), len(wrote), -1 in read

    assert aio.run(main()) == (n, n, False)
