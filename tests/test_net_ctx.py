"""``ctx=`` on gosched.net operations (issue 13): a done context ends the wait at once with
``ctx.err()``, leaves nothing parked in the netpoller, and leaves the socket usable (a
cancelled dial closes its half-open connection, as Go's DialContext does)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import gosched
import gosched.net as net
from _core_helpers import run
from gosched import context
from gosched.context import Canceled, Context, DeadlineExceeded

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]


async def wait_parked(pd: Any, attr: str) -> None:
    """Until a goroutine is parked on ``pd`` (bounded)."""
    for _ in range(5000):
        if getattr(pd, attr) is not None:
            return
        await gosched.sleep(0.001)
    raise AssertionError("the goroutine never parked in the poller")


async def pair() -> tuple[net.Listener, net.Conn, net.Conn]:
    ln = await net.listen("tcp", "127.0.0.1:0")
    c = await net.dial("tcp", ln.addr)
    return ln, c, await ln.accept()


def unparked(fd: Any) -> bool:
    """Nothing waits on ``fd``'s poll descriptor and the poller counts no waiter."""
    pd = fd.pd
    return pd.rg is None and pd.wg is None and pd.poller.nwaiters == 0


async def cancel_when_parked(pd: Any, attr: str, cancel: Callable[[], None]) -> None:
    await wait_parked(pd, attr)
    cancel()


async def cancelled_while_parked(
    op: Callable[[Context], Awaitable[Any]], pd: Any, attr: str
) -> BaseException:
    """Run ``op(ctx)``, cancel ctx from another goroutine once ``op`` parks; what it raised."""
    ctx, cancel = context.with_cancel(context.background())
    gosched.go(cancel_when_parked, pd, attr, cancel)
    try:
        await op(ctx)
    except BaseException as e:
        return e
    raise AssertionError("the operation returned although its context was cancelled")


@pytest.mark.parametrize("procs", [1, 3])
def test_read_cancelled_from_another_goroutine_leaves_the_conn_usable(procs: int) -> None:
    async def main() -> list[Any]:
        ln, c, s = await pair()
        e = await cancelled_while_parked(lambda ctx: c.read(100, ctx=ctx), c.pd, "rg")
        out: list[Any] = [type(e), str(e), unparked(c)]
        await s.write(b"after")  # nothing was consumed: the next read gets it
        out.append(await c.read(100, ctx=context.background()))
        for x in (c, s, ln):
            x.close()
        await gosched.sleep(0.01)
        out.append(gosched.num_goroutine())
        return out

    assert run(main, maxprocs=procs) == [Canceled, "context canceled", True, b"after", 1]


def test_read_with_timeout_raises_deadline_exceeded_in_time() -> None:
    async def main() -> tuple[type, float, bool, bytes]:
        _ln, c, s = await pair()
        ctx, cancel = context.with_timeout(context.background(), 0.2)
        t0 = time.monotonic()
        try:
            await c.read(100, ctx=ctx)
        except BaseException as e:
            err: type = type(e)
        took = time.monotonic() - t0
        cancel()
        free = unparked(c)
        await s.write(b"x")
        return err, took, free, await c.read(1)

    err, took, free, data = run(main)
    assert err is DeadlineExceeded and issubclass(err, TimeoutError)
    assert 0.15 <= took < 10 and free and data == b"x"


def test_a_done_context_raises_before_any_io_even_with_data_ready() -> None:
    async def main() -> list[Any]:
        ln, c, s = await pair()
        await s.write(b"ready")
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        out: list[Any] = []
        for op in (lambda: c.read(10, ctx=ctx), lambda: c.write(b"y", ctx=ctx), lambda: ln.accept(ctx=ctx)):
            with pytest.raises(Canceled):
                await op()
        with pytest.raises(Canceled):
            await net.dial("tcp", ln.addr, ctx=ctx)
        out.append(await c.read(10))  # the data is still there
        out.append(unparked(c) and unparked(ln))
        return out

    assert run(main) == [b"ready", True]


def test_ctx_that_stays_alive_changes_nothing() -> None:
    async def main() -> list[Any]:
        _ln, c, s = await pair()
        ctx, cancel = context.with_cancel(context.background())

        async def later() -> None:
            await gosched.sleep(0.05)
            await s.write(b"late")

        gosched.go(later)
        got = await c.read(10, ctx=ctx)  # parks, then is woken by the data, not the context
        n = await c.write(b"z" * 100_000, ctx=ctx)
        cancel()
        await gosched.sleep(0.01)
        return [got, n, unparked(c), gosched.num_goroutine()]

    assert run(main) == [b"late", 100_000, True, 1]


def test_accept_cancelled_leaves_the_listener_listening() -> None:
    async def main() -> list[Any]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        e = await cancelled_while_parked(lambda ctx: ln.accept(ctx=ctx), ln.pd, "rg")
        free = unparked(ln)
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept(ctx=context.background())
        ok = s.remote_addr == c.local_addr
        return [type(e), free, ok]

    assert run(main) == [Canceled, True, True]


def test_write_blocked_on_a_full_buffer_is_cancelled() -> None:
    async def main() -> list[Any]:
        _ln, c, s = await pair()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = b"w" * (8 << 20)  # more than the socket buffers hold: the write parks
        e = await cancelled_while_parked(lambda ctx: c.write(big, ctx=ctx), c.pd, "wg")
        free = unparked(c)
        # Part of it was sent: the stream is mid-message, but the socket still works.
        got = 0
        while got < 1024:
            got += len(await s.read(65536))
        return [type(e), free, not c.closed]

    assert run(main) == [Canceled, True, True]


def test_udp_read_from_cancelled() -> None:
    async def main() -> list[Any]:
        pc = await net.listen_packet("udp", "127.0.0.1:0")
        e = await cancelled_while_parked(lambda ctx: pc.read_from(100, ctx=ctx), pc.pd, "rg")
        free = unparked(pc)
        other = await net.listen_packet("udp", "127.0.0.1:0")
        await other.write_to(b"dgram", pc.local_addr, ctx=context.background())
        data, _ = await pc.read_from(100, ctx=context.background())
        return [type(e), free, data]

    assert run(main) == [Canceled, True, b"dgram"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a full accept queue drops SYNs on Linux")
def test_dial_cancelled_or_timed_out_closes_the_half_open_conn() -> None:
    async def main() -> list[Any]:
        # backlog 0 and nobody accepting: once the accept queue is full the kernel
        # drops SYNs, so a further dial stays in progress until it is cut short.
        ln = await net.listen("tcp", "127.0.0.1:0", backlog=0)
        held: list[net.Conn] = []
        pending = None
        for _ in range(8):
            ctx, cancel = context.with_timeout(context.background(), 0.3)
            try:
                held.append(await net.dial("tcp", ln.addr, ctx=ctx))
            except DeadlineExceeded as e:
                pending = e
                break
            finally:
                cancel()
        assert pending is not None, "the accept queue never filled"
        descs = len(ln.sched.poller.descs)  # a Conn's close() takes its descriptor out
        ctx, cancel = context.with_cancel(context.background())

        async def canceller() -> None:
            await gosched.sleep(0.1)
            cancel()

        gosched.go(canceller)
        t0 = time.monotonic()
        try:
            await net.dial("tcp", ln.addr, ctx=ctx)
        except BaseException as e:
            err: Any = type(e)
        took = time.monotonic() - t0
        return [err, took < 10, len(ln.sched.poller.descs) == descs, ln.sched.poller.nwaiters]

    assert run(main) == [Canceled, True, True, 0]


def test_pipe_read_times_out_on_the_fake_clock() -> None:
    """net.pipe() is on channels, so the fake clock runs a with_timeout context exactly."""

    async def main() -> list[Any]:
        a, b = net.pipe()
        ctx, cancel = context.with_timeout(context.background(), 5.0)
        t0 = gosched.now()
        try:
            await a.read(10, ctx=ctx)
        except DeadlineExceeded as e:
            out: list[Any] = [gosched.now() - t0, str(e)]
        try:
            await b.write(b"x", ctx=ctx)
        except DeadlineExceeded:
            out.append("write too")
        cancel()

        async def reader() -> None:
            out.append(await a.read(10, ctx=context.background()))

        gosched.go(reader)
        await b.write(b"works")
        await gosched.sleep(1)
        return out

    assert run(main, clock="fake") == [5.0, "context deadline exceeded", "write too", b"works"]


@pytest.mark.parametrize("procs", [1, 4])
def test_cancel_racing_data_never_loses_a_byte(procs: int) -> None:
    """Cancellations racing arrivals: a read either returns data or raises Canceled; no byte
    is dropped, and nothing is left parked in the poller. (Writers of cancelled rounds may
    write after the next round's: the bytes are compared as a set.)"""
    rounds = 200

    async def main() -> tuple[bytes, bytes, int, bool]:
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        try:
            _ln, c, s = await pair()
            got = bytearray()
            sent = bytearray()
            for i in range(rounds):
                ctx, cancel = context.with_cancel(context.background())
                msg = bytes([i % 256])

                async def writer(m: bytes = msg, k: Callable[[], None] = cancel, i: int = i) -> None:
                    if i % 2:
                        k()
                        await s.write(m)
                    else:
                        await s.write(m)
                        k()

                sent += msg
                gosched.go(writer)
                try:
                    got += await c.read(1, ctx=ctx)
                except Canceled:
                    pass
                cancel()
            while len(got) < len(sent):
                got += await c.read(len(sent) - len(got))
            await gosched.sleep(0.01)
            return bytes(got), bytes(sent), gosched.num_goroutine(), unparked(c)
        finally:
            sys.setswitchinterval(old)

    got, sent, n, free = run(main, maxprocs=procs, timeout=120)
    assert sorted(got) == sorted(sent) and len(got) == rounds and n == 1 and free
