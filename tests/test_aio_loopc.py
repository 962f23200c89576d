"""gosched.aio's loop callbacks in C (_speedups_aioloop.h) against their Python definitions:
call_soon's common cases, runhandle, and the running-loop look (issue 12)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import os
import socket
import sys
import weakref
from asyncio import events
from typing import Any

import pytest

import gosched.aio as aio
from gosched._aio import dispatch, task
from gosched._aio import loop as aioloop
from gosched._aio import transport as aiotransport
from gosched._runtime import speedups

_RUNHANDLES: dict[str, Any] = {"python": dispatch._runhandle}
_RUNNINGLOOPS: dict[str, Any] = {"python": task._runningloop}
if speedups.c is not None:
    _RUNHANDLES["c"] = speedups.c.runhandle
    _RUNNINGLOOPS["c"] = speedups.c._get_running_loop

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


def test_call_soon_makes_the_handle_asyncios_init_would() -> None:
    # The C method makes and queues events.Handle itself outside debug mode: the same fields
    # as the Python method's, the current context copied when none is given; a wrapped
    # Handle.__init__ is honoured, an unknown keyword is Python's TypeError, and debug
    # mode keeps its source traceback (both the Python method).
    made: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        VAR.set("here")
        pycall = functools.partial(aioloop._pycall_soon, loop)
        for how, call in (("c", loop.call_soon), ("python", pycall)):
            h = call(print, 1, 2)
            ctx = contextvars.copy_context()
            hc = call(print, context=ctx)
            assert list(loop._ready)[-2:] == [h, hc]
            made[how] = [(type(x), x._callback, x._args, x._context, x._loop, x._repr, x._source_traceback,
                          x.cancelled()) for x in (h, hc)] + [ctx]
            h.cancel()
            hc.cancel()
        with pytest.raises(TypeError):
            loop.call_soon(print, contxt=None)
        inits: list[Any] = []
        orig = events.Handle.__init__

        def wrapped(self: Any, *a: Any, **k: Any) -> None:
            inits.append(a[0])
            orig(self, *a, **k)

        events.Handle.__init__ = wrapped  # type: ignore[method-assign]
        try:
            loop.call_soon(print).cancel()
        finally:
            events.Handle.__init__ = orig  # type: ignore[method-assign]
        assert inits == [print]
        loop.set_debug(True)
        try:
            h = loop.call_soon(print)
            assert h._source_traceback  # type: ignore[attr-defined]
            h.cancel()
        finally:
            loop.set_debug(False)
        await asyncio.sleep(0)

    aio.run(main())
    for how in made:
        h, hc, ctx = made[how]
        assert h[:3] == (events.Handle, print, (1, 2)) and h[5:] == hc[5:] == (None, None, False)
        assert h[3] is not ctx and h[3].get(VAR) == "here" and hc[3] is ctx
        assert hc[:3] == (events.Handle, print, ()) and h[4] is hc[4] is not None


def test_get_debug_and_create_future_are_base_event_loops() -> None:
    # C method descriptors with the accelerator: the same answers as BaseEventLoop's, and a
    # subclass's own methods stay its own (C Future.__init__ asks the loop's get_debug).
    loop = aio.new_event_loop()
    try:
        f = loop.create_future()
        assert type(f) is asyncio.Future and f.get_loop() is loop and not loop.get_debug()
        loop.set_debug(True)
        assert loop.get_debug() is True and loop.create_future()._source_traceback
    finally:
        loop.close()
    asked: list[str] = []

    class Mine(aio.EventLoop):  # type: ignore[misc]
        def get_debug(self) -> bool:
            asked.append("get_debug")
            return False

        def create_future(self) -> Any:
            asked.append("create_future")
            return super().create_future()

    lp = Mine()
    try:
        asked.clear()
        lp.create_future()
    finally:
        lp.close()
    assert asked == ["create_future", "get_debug"]


def test_create_task_in_c_records_what_the_python_method_does() -> None:
    # The C method's common case (a task made on an M) against the Python method: the same
    # creation site, parent and context; name= and context= honoured; a task factory and a
    # closed loop go to the Python method (its call, its error).
    seen: dict[str, Any] = {}

    async def child() -> str:
        return VAR.get()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        ctx.run(VAR.set, "given")
        tc = loop.create_task(child(), name="c", context=ctx)
        tp = aioloop._pycreate_task(loop, child(), name="p", context=ctx)
        seen["tasks"] = [
            (t.get_name(), t._gctx is ctx, t._gparent, t._gpcode, t._gpglobals) for t in (tc, tp)
        ]
        seen["results"] = [await tc, await tp, await loop.create_task(child())]
        made: list[Any] = []

        def factory(lp: Any, coro: Any, **kw: Any) -> Any:
            made.append(coro)
            return asyncio.Task(coro, loop=lp, **kw)

        loop.set_task_factory(factory)
        try:
            await loop.create_task(child())
        finally:
            loop.set_task_factory(None)
        assert len(made) == 1

    aio.run(main())
    (c, p) = seen["tasks"]
    assert c[0] == "c" and p[0] == "p" and c[1] and p[1]
    assert c[2:] == p[2:] and c[2] != 0 and c[3] is main.__code__ and c[4] is globals()
    assert seen["results"] == ["given", "given", "unset"]
    loop = aio.new_event_loop()
    loop.close()
    coro = child()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.create_task(coro)
    coro.close()


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
                try:
                    asyncio.get_running_loop()
                    ok = False
                except RuntimeError:
                    ok = runningloop() is None and events._get_running_loop() is None
                os.write(w, b"1" if ok else b"0")
                os._exit(0)
            os.close(w)
            os.waitpid(pid, 0)
            with os.fdopen(r, "rb") as f:
                assert f.read() == b"1"

    with pytest.warns(DeprecationWarning) if sys.version_info >= (3, 12) else _nowarn():
        aio.run(main())


def test_asyncios_running_loop_functions_are_cs_without_getpid_on_311() -> None:
    # gosched.aio installs them in asyncio on 3.11 with the accelerator: the same answers on
    # any loop (asyncio's own too), RuntimeError in asyncio's words outside one.
    installed = speedups.c is not None and sys.version_info < (3, 12)
    assert (asyncio.get_running_loop is getattr(speedups.c, "get_running_loop", None)) == installed
    assert (events._get_running_loop is getattr(speedups.c, "_get_running_loop", None)) == installed
    with pytest.raises(RuntimeError, match=r"^no running event loop$"):
        asyncio.get_running_loop()
    assert asyncio._get_running_loop() is None  # type: ignore[attr-defined]

    async def main() -> tuple[Any, Any]:
        return asyncio.get_running_loop(), events._get_running_loop()

    for run, kind in ((asyncio.run, asyncio.BaseEventLoop), (aio.run, aio.EventLoop)):
        a, b = run(main())
        assert a is b and isinstance(a, kind)


class _nowarn:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


@pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")  # 1,400 socketpairs may take 50 ms
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


def test_the_collector_sees_through_a_tasks_gosched_slots() -> None:
    # With the accelerator, Task's traversal is C's task_traverse (_speedups_aio.h), not
    # CPython's subtype_traverse: a cycle through one of its slots (_gctx, its context) is
    # found and freed. (Without the slot visits this fails: checked by breaking them.)
    held: contextvars.ContextVar[Any] = contextvars.ContextVar("held")
    refs: list[weakref.ref[Any]] = []

    async def child() -> None:
        held.set(asyncio.current_task())  # task -> its context (_gctx) -> the task

    async def main() -> None:
        t = asyncio.create_task(child())
        await t
        assert type(t) is task.Task
        refs.append(weakref.ref(t))

    gc.collect()
    gc.disable()
    try:
        aio.run(main())
        assert refs[0]() is not None  # only the cycle holds it
        gc.collect()
        assert refs[0]() is None
    finally:
        gc.enable()


def test_transport_write_sends_in_order_and_keeps_asyncios_errors() -> None:
    # SocketTransport.write's common case is C's (bytes sent in full, nothing buffered): a
    # reply bigger than the socket takes is sent in part and the rest buffered by asyncio's
    # method, in order; other bytes-likes, write_eof, a wrong type and a peer gone are asyncio's.
    big = bytes(range(256)) * 40_000  # ~10 MB: more than the socket's buffers take at once
    lost: list[Any] = []

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport

        def connection_lost(self, exc: Exception | None) -> None:
            lost.append(exc)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        tr, _ = await loop.connect_accepted_socket(Proto, a)
        tr.write(b"one ")
        tr.write(bytearray(b"two "))
        tr.write(memoryview(b"three "))
        tr.write(b"")
        tr.write(big)
        assert tr.get_write_buffer_size() > 0  # the rest is buffered
        tr.write(b" end")
        b.setblocking(False)
        want = b"one two three " + big + b" end"
        got = bytearray()
        while len(got) < len(want):
            try:
                chunk = b.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            got += chunk
        assert got == want
        with pytest.raises(TypeError, match="bytes-like object"):
            tr.write("text")
        tr.write_eof()
        with pytest.raises(RuntimeError, match="after write_eof"):
            tr.write(b"x")
        assert tr.is_closing() is False
        tr.close()
        assert tr.is_closing() is True
        b.close()
        await asyncio.sleep(0)

        c, d = socket.socketpair()
        tr2, _ = await loop.connect_accepted_socket(Proto, c)
        d.close()
        for _ in range(100):  # a peer gone: EPIPE, asyncio's fatal write error, the connection lost
            if lost[1:]:
                break
            tr2.write(b"x" * 1000)
            await asyncio.sleep(0.001)
        assert isinstance(lost[1], OSError)

    aio.run(main())


@pytest.mark.parametrize("how", ["c", "python"])
def test_transport_read_gives_data_eof_and_errors_as_asyncios(how: str) -> None:
    # The reader callback in C (or the Python definition, _pyread): data to data_received in
    # order, EOF to eof_received then connection_lost(None), an exception in data_received
    # to asyncio's fatal error (the loop's handler hears it, the connection is lost with it).
    events_: list[Any] = []
    handled: list[dict[str, Any]] = []

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            if how == "python":
                transport._read_ready_cb = functools.partial(aiotransport._pyread, transport)

        def data_received(self, data: bytes) -> None:
            events_.append(data)
            if data == b"boom":
                raise ValueError("boom")

        def eof_received(self) -> None:
            events_.append("eof")

        def connection_lost(self, exc: Exception | None) -> None:
            events_.append(("lost", type(exc).__name__ if exc else None))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda lp, c: handled.append(c))
        for payload in (b"", b"boom"):
            a, b = socket.socketpair()
            await loop.connect_accepted_socket(Proto, a)
            b.sendall(b"hello ")
            await asyncio.sleep(0.01)
            b.sendall(b"world")
            await asyncio.sleep(0.01)
            if payload:
                b.sendall(payload)
            else:
                b.shutdown(socket.SHUT_WR)
            for _ in range(200):
                if events_ and type(events_[-1]) is tuple:
                    break
                await asyncio.sleep(0.005)
            b.close()

    aio.run(main())
    lost1 = events_.index(("lost", None))
    assert b"".join(x for x in events_[:lost1] if type(x) is bytes) == b"hello world"
    assert events_[lost1 - 1] == "eof"
    rest = events_[lost1 + 1 :]
    assert b"".join(x for x in rest if type(x) is bytes) == b"hello worldboom"
    assert rest[-1] == ("lost", "ValueError")
    (c,) = handled
    assert c["message"] == "Fatal error: protocol.data_received() call failed."
    assert type(c["exception"]) is ValueError
