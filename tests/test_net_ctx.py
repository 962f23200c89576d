"""``ctx=`` on gosched.net operations (issue 13): a done context ends the wait at once with
``ctx.err()``, leaves nothing parked in the netpoller, and leaves the socket usable (a
cancelled dial closes its half-open connection, as Go's DialContext does)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import gosched
import gosched.net as net
from _core_helpers import pollwaiters, run
from gosched import context
from gosched._runtime import netpoll as np_
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


async def unparked(fd: Any) -> bool:
    """Nothing waits on ``fd``'s poll descriptor, and the poller's waiter count settles at 0."""
    pd = fd.pd
    return pd.rg is None and pd.wg is None and await pollwaiters(pd.poller) == 0


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
        out: list[Any] = [type(e), str(e), await unparked(c)]
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
        free = await unparked(c)
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
        out.append(await unparked(c) and await unparked(ln))
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
        return [got, n, await unparked(c), gosched.num_goroutine()]

    assert run(main) == [b"late", 100_000, True, 1]


def test_accept_cancelled_leaves_the_listener_listening() -> None:
    async def main() -> list[Any]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        e = await cancelled_while_parked(lambda ctx: ln.accept(ctx=ctx), ln.pd, "rg")
        free = await unparked(ln)
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
        free = await unparked(c)
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
        free = await unparked(pc)
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
            return bytes(got), bytes(sent), gosched.num_goroutine(), await unparked(c)
        finally:
            sys.setswitchinterval(old)

    got, sent, n, free = run(main, maxprocs=procs, timeout=120)
    assert sorted(got) == sorted(sent) and len(got) == rounds and n == 1 and free


# --- the buffered reader and readfull (net.Reader, Conn.read_exactly) -------------------


@pytest.mark.parametrize("procs", [1, 3])
def test_reader_methods_cancelled_keep_what_came_buffered(procs: int) -> None:
    """Each Reader method parks in the connection's read with ctx; a cancel from another
    goroutine raises Canceled there, and the bytes that came before stay buffered."""

    async def main() -> list[Any]:
        ln, c, s = await pair()
        r = net.Reader(c)
        ops: list[Callable[[Context], Awaitable[Any]]] = [
            lambda ctx: r.readexactly(10, ctx=ctx),
            lambda ctx: r.readuntil(b"!", ctx=ctx),
            lambda ctx: r.readline(ctx=ctx),
            lambda ctx: r.read(-1, ctx=ctx),
        ]
        out: list[Any] = []
        for op in ops:
            await s.write(b"abc")
            e = await cancelled_while_parked(op, c.pd, "rg")
            out.append((type(e), r.buffered, await unparked(c)))
            r = net.Reader(c)  # a fresh reader drops the buffered "abc" for the next round
        await s.write(b"x")
        out.append(await r.read(10, ctx=context.background()))  # the conn is still usable
        for x in (c, s, ln):
            x.close()
        out.append(await goroutines_settle())
        return out

    assert run(main, maxprocs=procs) == [(Canceled, 3, True)] * 4 + [b"x", 1]


def test_reader_after_a_cancel_returns_the_whole_message() -> None:
    async def main() -> list[Any]:
        _ln, c, s = await pair()
        r = net.Reader(c)
        await s.write(b"hel")
        ctx, cancel = context.with_timeout(context.background(), 0.1)
        try:
            await r.readexactly(5, ctx=ctx)
        except DeadlineExceeded as e:
            out: list[Any] = [str(e)]
        cancel()
        await s.write(b"lo\nrest")
        out += [await r.readline(ctx=context.background()), await r.readexactly(4)]
        return out

    assert run(main) == ["context deadline exceeded", b"hello\n", b"rest"]


def test_reader_with_a_done_context_raises_even_with_bytes_buffered() -> None:
    """Consistent with Conn.read (which raises with data waiting in the kernel): a done
    context is checked first; the buffered bytes stay for the next call."""

    async def main() -> list[Any]:
        _ln, c, s = await pair()
        r = net.Reader(c)
        await s.write(b"line\nmore")
        out: list[Any] = [await r.readline()]  # buffers "more" too (or reads it next)
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        ops = (lambda: r.read(2, ctx=ctx), lambda: r.readexactly(1, ctx=ctx),
               lambda: r.readuntil(b"e", ctx=ctx), lambda: r.readline(ctx=ctx), lambda: r.read(ctx=ctx))
        for op in ops:
            with pytest.raises(Canceled):
                await op()
        out.append(await r.readexactly(4))
        return out

    assert run(main) == [b"line\n", b"more"]


def test_reader_ctx_on_a_pipe_times_out_on_the_fake_clock() -> None:
    async def main() -> list[Any]:
        a, b = net.pipe()
        r = net.Reader(a)
        ctx, cancel = context.with_timeout(context.background(), 3.0)
        t0 = gosched.now()
        try:
            await r.readline(ctx=ctx)
        except DeadlineExceeded:
            out: list[Any] = [gosched.now() - t0]
        cancel()
        gosched.go(b.write, b"ok\n")
        out.append(await r.readline(ctx=context.background()))
        return out

    assert run(main, clock="fake") == [3.0, b"ok\n"]


def test_read_exactly_and_readfull_cancelled() -> None:
    async def main() -> list[Any]:
        ln, c, s = await pair()
        e1 = await cancelled_while_parked(lambda ctx: c.read_exactly(4, ctx=ctx), c.pd, "rg")
        free = await unparked(c)
        a, b = net.pipe()
        ctx, cancel = context.with_cancel(context.background())
        gosched.go(cancel_later, cancel)
        try:
            await a.read_exactly(3, ctx=ctx)
        except BaseException as e:
            e2: Any = type(e)
        await s.write(b"done")
        got = await c.read_exactly(4, ctx=context.background())
        for x in (c, s, ln, a, b):
            x.close()
        return [type(e1), free, e2, got, await goroutines_settle()]

    assert run(main) == [Canceled, True, Canceled, b"done", 1]


async def goroutines_settle() -> int:
    """num_goroutine() once the helpers (cancellers, after_func wakes) have ended (bounded)."""
    for _ in range(5000):
        if gosched.num_goroutine() == 1:
            break
        await gosched.sleep(0.001)
    return gosched.num_goroutine()


async def cancel_later(cancel: Callable[[], None]) -> None:
    await gosched.sleep(0.05)
    cancel()


# --- foreign descriptors: wait_readable / wait_writable ---------------------------------


def foreign_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def fill(sock: socket.socket) -> None:
    """Write until the socket buffer is full (so wait_writable parks)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        while True:
            sock.send(b"f" * 65536)
    except BlockingIOError:
        pass


def the_poller() -> Any:
    return net._current_sched("test").poller


def registered(poller: Any, fd: int) -> bool:
    """``fd`` has a PollDesc or is in the epoll set (modify fails with ENOENT if not)."""
    if fd in poller.descs:
        return True
    try:
        poller.ep.modify(fd, 0)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.parametrize("procs", [1, 3])
def test_wait_readable_cancelled_leaves_nothing_registered(procs: int) -> None:
    async def main() -> list[Any]:
        a, b = foreign_pair()
        poller = the_poller()
        fd = a.fileno()

        async def parked_pd() -> Any:
            for _ in range(5000):
                pd = poller.descs.get(fd)
                if pd is not None and pd.rg is not None:
                    return pd
                await gosched.sleep(0.001)
            raise AssertionError("never parked")

        ctx, cancel = context.with_cancel(context.background())

        async def canceller() -> None:
            await parked_pd()
            cancel()

        gosched.go(canceller)
        try:
            await net.wait_readable(a, ctx=ctx)
        except BaseException as e:
            err: Any = type(e)
        out: list[Any] = [err, registered(poller, fd), poller.nwaiters]
        b.send(b"x")  # the fd still works with the poller
        await net.wait_readable(a)
        out.append(a.recv(1))
        out.append(registered(poller, fd))
        a.close()
        b.close()
        out.append(await goroutines_settle())
        return out

    assert run(main, maxprocs=procs) == [Canceled, False, 0, b"x", False, 1]


def test_wait_readable_cancelled_keeps_the_other_directions_waiter() -> None:
    async def main() -> list[Any]:
        a, b = foreign_pair()
        fill(a)
        fd = a.fileno()
        poller = the_poller()
        writable = gosched.Chan[str](1)

        async def writer() -> None:
            await net.wait_writable(a)
            await writable.send("writable")

        gosched.go(writer)
        for _ in range(5000):
            pd = poller.descs.get(fd)
            if pd is not None and pd.wg is not None:
                break
            await gosched.sleep(0.001)
        ctx, cancel = context.with_timeout(context.background(), 0.1)
        try:
            await net.wait_readable(fd, ctx=ctx)
        except DeadlineExceeded as e:
            out: list[Any] = [str(e)]
        cancel()
        pd = poller.descs.get(fd)
        out += [pd is not None and pd.rg is None and pd.wg is not None, poller.nwaiters]
        while True:  # drain: a becomes writable, the writer's wait ends
            try:
                if not b.recv(1 << 20):
                    break
            except BlockingIOError:
                break
        out.append(await writable.recv())
        out.append(registered(poller, fd))
        a.close()
        b.close()
        return out

    assert run(main, maxprocs=2) == ["context deadline exceeded", True, 1, "writable", False]


def test_wait_with_a_done_context_raises_even_when_ready() -> None:
    async def main() -> list[Any]:
        a, b = foreign_pair()
        b.send(b"r")
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        poller = the_poller()
        out: list[Any] = []
        for op in (net.wait_readable, net.wait_writable):
            with pytest.raises(Canceled):
                await op(a, ctx=ctx)
        out.append(registered(poller, a.fileno()))
        live, stop = context.with_cancel(context.background())
        await net.wait_readable(a, ctx=live)  # a live context changes nothing
        await net.wait_writable(a, ctx=live)
        stop()
        out.append(a.recv(1))
        a.close()
        b.close()
        return [*out, await goroutines_settle()]

    assert run(main) == [False, b"r", 1]


def test_a_stale_cancel_wake_does_not_end_a_later_wait() -> None:
    """A cancel whose wait already returned leaves the descriptor's flag set (its after_func
    ran too late to be stopped); the next wait, with or without ctx, still waits for data."""

    async def main() -> list[Any]:
        a, b = foreign_pair()
        out: list[Any] = []
        for ctx in (None, context.with_cancel(context.background())[0]):
            np_.netpollunblock(the_poller().openforeign(a.fileno()), np_.MODE_R)  # the late wake

            async def send_later() -> None:
                await gosched.sleep(0.05)
                b.send(b"d")

            gosched.go(send_later)
            await net.wait_readable(a, ctx=ctx)
            out.append(a.recv(1))  # BlockingIOError if the wait ended before the data
        a.close()
        b.close()
        return out

    assert run(main) == [b"d", b"d"]


@pytest.mark.parametrize("procs", [1, 4])
def test_wait_readable_cancel_racing_readiness(procs: int) -> None:
    """Cancels racing data on a foreign fd: each wait returns or raises Canceled, a later
    wait without ctx is never woken by a stale cancel, and nothing stays registered."""

    async def main() -> list[Any]:
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        try:
            a, b = foreign_pair()
            poller = the_poller()
            outcomes = set()
            for i in range(150):
                ctx, cancel = context.with_cancel(context.background())

                async def racer(k: Callable[[], None] = cancel, i: int = i) -> None:
                    if i % 2:
                        k()
                        b.send(b"d")
                    else:
                        b.send(b"d")
                        k()

                gosched.go(racer)
                try:
                    await net.wait_readable(a, ctx=ctx)
                    outcomes.add("ready")
                except Canceled:
                    outcomes.add("canceled")
                cancel()
                await net.wait_readable(a)  # data was sent: returns (no stale-cancel hang)
                assert a.recv(1) == b"d"
            # The last wait may be readied by a poll on another M, and run, before that M
            # uncounts it (Go's order): the count settles (pollwaiters).
            left = [registered(poller, a.fileno()), await pollwaiters(poller), await goroutines_settle()]
            a.close()
            b.close()
            return [outcomes <= {"ready", "canceled"}, *left]
        finally:
            sys.setswitchinterval(old)

    assert run(main, maxprocs=procs, timeout=120) == [True, False, 0, 1]


# --- dial's name resolution -------------------------------------------------------------


def test_dial_name_resolution_cut_short_by_ctx(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo stands in for a slow DNS server (a real blocking call on its thread):
    the dial raises at the deadline; the resolver thread finishes later and its answer
    is discarded (nothing connects)."""
    release = threading.Event()
    real = socket.getaddrinfo
    calls: list[str] = []

    def slow_getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        calls.append(host)
        release.wait(30)
        return real("127.0.0.1", *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)

    async def main() -> list[Any]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        port = ln.addr.rsplit(":", 1)[1]
        ctx, cancel = context.with_timeout(context.background(), 0.2)
        t0 = time.monotonic()
        try:
            await net.dial("tcp", f"slow.test:{port}", ctx=ctx)
        except BaseException as e:
            err: Any = type(e)
        took = time.monotonic() - t0
        cancel()
        release.set()
        actx, acancel = context.with_timeout(context.background(), 0.3)
        try:
            await ln.accept(ctx=actx)
            accepted = True
        except DeadlineExceeded:
            accepted = False
        acancel()
        ln.close()
        return [err, 0.15 <= took < 10, calls, accepted, await goroutines_settle()]

    assert run(main) == [DeadlineExceeded, True, ["slow.test"], False, 1]
