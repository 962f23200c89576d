"""gosched.net: sockets that park goroutines, not threads (Go's net package).

Every socket is non-blocking and registered once with the runtime's netpoller.
An operation tries the syscall first; on EAGAIN the goroutine parks in the
poller (wait reason ``IO wait``) and its M goes on running other goroutines, so
a few Ms serve thousands of connections::

    async def main() -> None:
        ln = await gosched.net.listen("tcp", "127.0.0.1:0")
        gosched.go(serve, ln)
        c = await gosched.net.dial("tcp", ln.addr)
        await c.write(b"hi")
        print(await c.read(2))

``Reader(conn)`` adds buffered ``readline``/``readuntil``/``readexactly``
(Go's bufio.Reader, asyncio's StreamReader); ``pipe()`` is Go's net.Pipe, an
in-memory connection pair for tests (also under the fake clock).

Errors read like Go's: ``TimeoutError("read tcp 127.0.0.1:1->127.0.0.1:2: i/o
timeout")`` after a deadline, ``ClosedError("... use of closed network
connection")`` once closed, ``ConnectionRefusedError("dial tcp 127.0.0.1:1:
connect: connection refused")``. Deadlines are absolute times on
``gosched.now()``'s clock, as Go's ``SetDeadline`` takes a ``time.Time``.
"""

from __future__ import annotations

import errno as _errno
import functools
import math
import os
import socket
import types
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from ._bufio import Closer, IncompleteReadError, LimitOverrunError, Reader, readfull
from ._netaddr import (
    PACKET_NETS,
    STREAM_NETS,
    AddrError,
    Sockaddr,
    UnknownNetworkError,
    check_network,
    fmtaddr,
    resolve,
)
from ._pipe import ClosedPipeError, PipeConn, pipe
from ._public import fixup_module_metadata as _fixup
from ._runtime import netpoll as _np
from ._runtime import proc
from ._runtime.gotime import now
from ._runtime.select import ctxdone, ctxerr
from ._runtime.timers import duration_ns
from ._runtime.traps import checkpreempt, preempted
from .context import DeadlineExceeded, after_func

if TYPE_CHECKING:
    from .context import Context

__all__ = [
    "AddrError",
    "ClosedError",
    "ClosedPipeError",
    "Conn",
    "IncompleteReadError",
    "LimitOverrunError",
    "Listener",
    "PacketConn",
    "PipeConn",
    "Reader",
    "UnknownNetworkError",
    "dial",
    "listen",
    "listen_packet",
    "notify_closing",
    "pipe",
    "wait_readable",
    "wait_writable",
]

_MAXREAD = 1 << 30
_R = _np.MODE_R

T = TypeVar("T")


class ClosedError(OSError):
    """An operation on a closed socket (Go's net.ErrClosed): ``use of closed network connection``."""


def _err(cls: type[OSError], code: int | None, msg: str) -> OSError:
    e = cls(msg)
    e.errno = code
    return e


def _os_err(op: str, where: str, e: OSError) -> OSError:
    """Re-raise an OSError with Go's ``op net addr: syscall: message`` text, same class."""
    text = e.strerror or str(e)
    out = _err(type(e), e.errno, f"{op} {where}: {text[0].lower() + text[1:] if text else text}")
    return out


def _deadline_ns(t: float | None) -> int:
    """An absolute time on gosched.now()'s clock as nanotime (0: no deadline)."""
    if t is None:
        return 0
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise TypeError(f"a deadline is an absolute time (gosched.now() + seconds) or None, not {t!r}")
    if math.isnan(t):
        raise ValueError("set deadline: NaN is not a time")
    when = proc.nanotime() + duration_ns(t - now(), "set deadline")  # inf: never; -inf: passed
    return when if when > 0 else -1


def _ctxwake(ctx: Context, pd: _np.PollDesc, mode: int) -> Callable[[], bool]:
    """Once ``ctx`` is done, wake whoever waits on ``pd`` for ``mode``; returns ``stop``.

    Go's DialContext interrupts its connect this way (a goroutine that sets a
    deadline in the past); here ``context.after_func`` starts the wake, which
    leaves the descriptor's deadlines as they are.
    """
    return after_func(ctx, functools.partial(_np.netpollunblock, pd, mode))


def _current_sched(what: str) -> Any:
    return _np.current_g(what)[1]


class _FD(Closer):
    """A socket plus its poll descriptor (Go's netFD + poll.FD)."""

    __slots__ = ("sock", "pd", "sched", "net", "_laddr", "_raddr", "__weakref__")

    def __init__(self, sock: socket.socket, sched: Any, net: str, raddr: str | None = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.sched = sched
        self.net = net
        self.pd = sched.poller.open(sock.fileno())
        self._laddr: str | None = None
        self._raddr = raddr

    def _addr(self, name: Callable[[], Any]) -> str | None:
        try:
            return fmtaddr(self.sock.family, name())
        except OSError:
            return None

    @property
    def local_addr(self) -> str:
        if self._laddr is None:
            self._laddr = self._addr(self.sock.getsockname)
        return self._laddr or ""

    @property
    def remote_addr(self) -> str:
        if self._raddr is None:
            self._raddr = self._addr(self.sock.getpeername)
        return self._raddr or ""

    def _where(self) -> str:
        r = self._raddr if self._raddr is not None else self.remote_addr
        return f"{self.net} {self.local_addr}->{r}" if r else f"{self.net} {self.local_addr}"

    def _fail(self, op: str, code: int) -> OSError:
        if code == _np.TIMEOUT:
            return _err(TimeoutError, _errno.ETIMEDOUT, f"{op} {self._where()}: i/o timeout")
        return _err(ClosedError, _errno.EBADF, f"{op} {self._where()}: use of closed network connection")

    def _oserror(self, op: str, e: OSError) -> OSError:
        if self.pd.closing:  # closed by another goroutine while our syscall ran
            return self._fail(op, _np.CLOSING)
        return _os_err(op, self._where(), e)

    # -- I/O -------------------------------------------------------------------
    @types.coroutine
    def _io(
        self, op: str, mode: int, ctx: Context | None, wait: bool, fn: Callable[[Any], T], arg: Any
    ) -> Generator[Any, Any, T]:
        """Go's ``fd.Read``/``fd.Write`` loop: ``fn(arg)``, the non-blocking syscall; on EAGAIN
        park in the poller (``pollwait``, Go's netpollblock) and try again.

        One path for both directions: ``mode`` picks the deadline and the waiter
        slot, as netpollblock's ``gpp := &pd.rg; if mode == 'w' { gpp = &pd.wg }``.
        ``wait`` parks before the first try. With ``ctx``, a done context wakes
        the park and the call raises ``ctx.err()`` (at once if done already).
        """
        pd = self.pd
        done = ctxdone(ctx) if ctx is not None else None
        stop: Callable[[], bool] | None = None
        try:
            while True:
                if wait:
                    if done is not None and stop is None:
                        stop = _ctxwake(ctx, pd, mode)  # type: ignore[arg-type]
                    code = yield from _np.pollwait(pd, mode)
                    if code:
                        raise self._fail(op, code)
                    if done is not None and ctx.err() is not None:  # type: ignore[union-attr]
                        ctxerr(ctx)
                wait = True
                if pd.closing or (pd.rd if mode == _R else pd.wd) < 0:
                    raise self._fail(op, _np.checkerr(pd, mode) or _np.CLOSING)
                try:
                    r = fn(arg)
                except BlockingIOError:
                    continue
                except InterruptedError:
                    wait = False
                    continue
                except OSError as e:
                    raise self._oserror(op, e) from None
                if preempted:
                    yield from checkpreempt()
                return r
        finally:
            if stop is not None:
                stop()

    # -- deadlines -------------------------------------------------------------
    def set_deadline(self, t: float | None) -> None:
        """Set the read and write deadlines (Go's SetDeadline); None clears them."""
        self._setdl(t, _np.MODE_RW)

    def set_read_deadline(self, t: float | None) -> None:
        """Reads after absolute time ``t`` (or pending then) fail with ``i/o timeout``."""
        self._setdl(t, _np.MODE_R)

    def set_write_deadline(self, t: float | None) -> None:
        """Writes after absolute time ``t`` (or pending then) fail with ``i/o timeout``."""
        self._setdl(t, _np.MODE_W)

    def _setdl(self, t: float | None, mode: int) -> None:
        if self.pd.closing:
            raise self._fail("set deadline", _np.CLOSING)
        _np.setdeadline(self.pd, self.sched, _deadline_ns(t), mode)

    # -- closing ---------------------------------------------------------------
    def close(self) -> None:
        """Close the socket; goroutines blocked on it fail with ClosedError. Idempotent."""
        pd = self.pd
        if pd.closing:
            return
        if self._laddr is None:
            self.local_addr  # noqa: B018 - addresses stay readable after close, as Go's
        pd.poller.close(pd, self.sched)  # wakes the blocked readers/writers first (Go's pollUnblock)
        self.sock.close()

    @property
    def closed(self) -> bool:
        return bool(self.pd.closing)

    def fileno(self) -> int:
        return self.sock.fileno()

    def __repr__(self) -> str:
        state = " closed" if self.pd.closing else ""
        return f"<{type(self).__name__} {self._where()}{state}>"


class Conn(_FD):
    """A stream (TCP, Unix) or connected datagram (UDP) connection (Go's net.Conn)."""

    __slots__ = ("_drained", "_stream")

    def __init__(self, sock: socket.socket, sched: Any, net: str, raddr: str | None = None) -> None:
        super().__init__(sock, sched, net, raddr)
        self._drained = False  # the last read came back short: the kernel buffer was empty
        self._stream = sock.type == socket.SOCK_STREAM

    async def read(self, n: int = 65536, ctx: Context | None = None) -> bytes:
        """Up to ``n`` bytes as soon as any arrive; ``b""`` at end of stream.

        With ``ctx``, raises ``ctx.err()`` once the context is done (nothing is
        read then: the connection stays usable)."""
        if n <= 0:
            if n == 0:
                return b""
            raise ValueError(f"read size must be positive, not {n}")
        if n > _MAXREAD:
            n = _MAXREAD
        # After a short read the socket buffer was empty, and with edge-triggered
        # epoll any byte that came since left an edge (rready, or a wakeup once we
        # park): wait for it instead of paying for a recv that fails with EAGAIN. In
        # request/response traffic that failed recv and its exception are a quarter
        # of the server's CPU (nginx's "ready = 0 on a short read" rule; Go always
        # tries the syscall first). Not after a hang-up: an EOF that came with the
        # last data leaves no new edge (nginx's pending_eof).
        wait = self._drained and not self.pd.hup
        self._drained = False
        data = await self._io("read", _np.MODE_R, ctx, wait, self.sock.recv, n)
        if len(data) < n and data and self._stream:
            self._drained = True
        return data

    async def read_exactly(self, n: int, ctx: Context | None = None) -> bytes:
        """Exactly ``n`` bytes; ``IncompleteReadError`` (an EOFError: ``unexpected EOF``) if the stream
        ends first, with what came in ``partial``. With ``ctx``, ``ctx.err()`` once the context is
        done; bytes read before are lost with the call (``Reader.readexactly`` keeps them)."""
        return await readfull(self, n, ctx)

    async def write(self, data: bytes | bytearray | memoryview, ctx: Context | None = None) -> int:
        """Write all of ``data`` (parking while the socket buffer is full); returns its length.

        With ``ctx``, raises ``ctx.err()`` once the context is done; what was
        sent before stays sent (as a Go write cut by a deadline), so a stream
        cut in the middle of a message is best closed."""
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        total = len(view)
        send = self.sock.send
        off = await self._io("write", _np.MODE_W, ctx, False, send, view)
        while off < total:  # partial write: try again before waiting (Go's fd.Write loop)
            if isinstance(view, bytes):
                view = memoryview(view)
            off += await self._io("write", _np.MODE_W, ctx, False, send, view[off:])
        return total

    def close_write(self) -> None:
        """Shut down the writing side (Go's TCPConn.CloseWrite): the peer reads EOF."""
        self._shutdown("close_write", socket.SHUT_WR)

    def close_read(self) -> None:
        """Shut down the reading side (Go's TCPConn.CloseRead)."""
        self._shutdown("close_read", socket.SHUT_RD)

    def _shutdown(self, op: str, how: int) -> None:
        if self.pd.closing:
            raise self._fail(op, _np.CLOSING)
        try:
            self.sock.shutdown(how)
        except OSError as e:
            raise self._oserror(op, e) from None


class Listener(_FD):
    """A stream listener (Go's net.Listener): ``await accept()`` returns a Conn."""

    __slots__ = ("_unlink",)

    def __init__(self, sock: socket.socket, sched: Any, net: str) -> None:
        super().__init__(sock, sched, net, "")
        self._unlink: str | None = None  # a unix socket path to remove on close

    @property
    def addr(self) -> str:
        """The address it listens on, ready to pass to ``dial``."""
        return self.local_addr

    def _where(self) -> str:
        return f"{self.net} {self.local_addr}"

    async def accept(self, ctx: Context | None = None) -> Conn:
        """The next connection (Go's Accept). With ``ctx``, raises ``ctx.err()`` once the
        context is done; the listener stays open."""
        return await self._io("accept", _np.MODE_R, ctx, False, self._accept1, None)

    def _accept1(self, _: None) -> Conn:
        sock = self.sock
        try:
            fd, sa = sock._accept()  # type: ignore[attr-defined]
        except OSError as e:
            if e.errno == _errno.ECONNABORTED:  # the peer gave up before we accepted: the next one
                raise InterruptedError from None
            raise
        s = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
        if sock.family != socket.AF_UNIX:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Conn(s, self.sched, self.net, fmtaddr(sock.family, sa) if sa else "")

    def close(self) -> None:
        """Stop listening; a goroutine blocked in accept fails with ClosedError."""
        if self.pd.closing:
            return
        super().close()
        path = self._unlink
        if path:
            try:
                os.unlink(path)  # Go removes the socket file it created
            except OSError:
                pass

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Conn:
        try:
            return await self.accept()
        except ClosedError:
            raise StopAsyncIteration from None


class PacketConn(_FD):
    """An unconnected datagram socket (Go's net.PacketConn): read_from / write_to."""

    __slots__ = ()

    async def read_from(self, n: int = 65535, ctx: Context | None = None) -> tuple[bytes, str]:
        """One datagram (truncated to ``n`` bytes) and the address it came from.

        With ``ctx``, raises ``ctx.err()`` once the context is done."""
        return await self._io("read", _np.MODE_R, ctx, False, self._recvfrom, n)

    def _recvfrom(self, n: int) -> tuple[bytes, str]:
        data, sa = self.sock.recvfrom(n)
        return data, fmtaddr(self.sock.family, sa)

    async def write_to(
        self, data: bytes | bytearray | memoryview, addr: str, ctx: Context | None = None
    ) -> int:
        """Send ``data`` as one datagram to ``addr`` (``host:port``).

        With ``ctx``, raises ``ctx.err()`` once the context is done."""
        sock = self.sock
        targets = await resolve(self.net, addr, False, ctx)
        fam = sock.family
        sa = next((a for f, a in targets if f == fam), None)
        if sa is None:
            if fam == socket.AF_INET6 and targets:  # dual-stack socket: v4-mapped address
                host, port = targets[0][1][:2]  # type: ignore[index]
                sa = (f"::ffff:{host}", port, 0, 0)
            else:
                raise AddrError(f"write to {addr}: no {self.net} address of this socket's family")
        sendto = functools.partial(sock.sendto, data)
        return int(await self._io(f"write to {addr}", _np.MODE_W, ctx, False, sendto, sa))


# --- constructors ---------------------------------------------------------------------


async def _resolve(
    op: str, network: str, address: str, passive: bool, ctx: Context | None = None
) -> list[Sockaddr]:
    """resolve, a bad address worded as Go's OpError: ``listen tcp: address -1: invalid port``."""
    try:
        return await resolve(network, address, passive, ctx)
    except AddrError as e:
        raise AddrError(f"{op} {network}: {e}") from None


def _socket(family: int, kind: int) -> socket.socket:
    return socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)


async def listen(network: str, address: str, backlog: int = socket.SOMAXCONN) -> Listener:
    """Listen on ``address`` (Go's net.Listen). ``"127.0.0.1:0"`` picks a free port.

    Networks: ``tcp``, ``tcp4``, ``tcp6``, ``unix`` (``address`` is a path;
    the file is removed on close).
    """
    check_network(network, STREAM_NETS)
    sched = _current_sched("listen")
    s, family, sa = await _bind(network, address, socket.SOCK_STREAM, backlog)
    ln = Listener(s, sched, network)
    ln._unlink = sa if family == socket.AF_UNIX and isinstance(sa, str) and sa[:1] != "\0" else None
    return ln


async def listen_packet(network: str, address: str) -> PacketConn:
    """A datagram socket bound to ``address`` (Go's net.ListenPacket): ``udp``, ``udp4``, ``udp6``."""
    check_network(network, PACKET_NETS)
    sched = _current_sched("listen_packet")
    s, _, _ = await _bind(network, address, socket.SOCK_DGRAM, None)
    return PacketConn(s, sched, network)


async def _bind(network: str, address: str, kind: int, backlog: int | None) -> tuple[socket.socket, int, Any]:
    """A socket of ``kind`` bound to the first of ``address``'s addresses that binds, and
    listening with ``backlog`` if one is given (Go's sysListener: socket, setsockopt,
    bind, listen); (socket, family, sockaddr), or the first address's error."""
    first: OSError | None = None
    for family, sa in await _resolve("listen", network, address, True):
        s = _socket(family, kind)
        try:
            if family != socket.AF_UNIX and backlog is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(network[-1:] == "6"))
            s.bind(sa)  # type: ignore[arg-type]
            if backlog is not None:
                s.listen(backlog)
        except OSError as e:
            s.close()
            if first is None:
                first = _os_err("listen", f"{network} {address}", _named(e, "bind"))
            continue
        return s, family, sa
    assert first is not None
    raise first


def _named(e: OSError, syscall: str) -> OSError:
    out = _err(type(e), e.errno, f"{syscall}: {(e.strerror or str(e)).lower()}")
    return out


async def dial(
    network: str, address: str, timeout: float | None = None, ctx: Context | None = None
) -> Conn:
    """Connect to ``address`` (Go's net.Dial / DialTimeout / Dialer.DialContext).

    Networks: ``tcp``, ``tcp4``, ``tcp6``, ``unix``, ``udp``, ``udp4``, ``udp6``.
    A name resolving to several addresses is tried in order; ``timeout``
    (seconds) bounds the connection attempts, which share it, not the name
    resolution, a ``getaddrinfo`` run as ``gosched.syscall``. With ``ctx``, once
    the context is done the dial raises ``ctx.err()`` and closes the half-open
    connection, as Go's DialContext does; a resolution is cut short the same
    way (``syscall(ctx=)``: the ``getaddrinfo`` thread finishes in the background
    and its answer is discarded).
    """
    check_network(network, STREAM_NETS + PACKET_NETS)
    sched = _current_sched("dial")
    if ctx is not None:
        ctxdone(ctx)
    deadline = 0
    if timeout is not None:
        deadline = proc.nanotime() + max(duration_ns(timeout, "dial timeout"), 1)
    addrs = await _resolve("dial", network, address, False, ctx)
    kind = socket.SOCK_DGRAM if network.startswith("udp") else socket.SOCK_STREAM
    first: OSError | None = None
    for family, sa in addrs:
        try:
            return await _dial1(sched, network, family, kind, sa, deadline, ctx)
        except OSError as e:
            if isinstance(e, DeadlineExceeded):
                raise  # ctx's deadline: the whole dial is over
            if first is None:
                first = e
            if isinstance(e, TimeoutError):
                break  # the whole dial's time is up
    assert first is not None
    raise first


async def _dial1(
    sched: Any, network: str, family: int, kind: int, sa: Any, deadline: int, ctx: Context | None
) -> Conn:
    where = f"{network} {fmtaddr(family, sa)}"
    s = _socket(family, kind)
    try:
        if family != socket.AF_UNIX and kind == socket.SOCK_STREAM:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex(sa)
    except OSError as e:
        s.close()
        raise _os_err("dial", where, _named(e, "connect")) from None
    if err in (0, _errno.EINPROGRESS, _errno.EAGAIN):
        c = Conn(s, sched, network, fmtaddr(family, sa))
        if err == 0:
            return c
        # Non-blocking connect: wait until writable, then ask the kernel how it
        # went (Go's netFD.connect). The dial timeout is a write deadline meanwhile.
        pd = c.pd
        if deadline:
            _np.setdeadline(pd, sched, deadline, _np.MODE_W)
        stop: Callable[[], bool] | None = None
        try:
            if ctxdone(ctx) is not None:
                stop = _ctxwake(ctx, pd, _np.MODE_W)  # type: ignore[arg-type]
            while True:
                code = await _np.pollwait(pd, _np.MODE_W)
                if stop is not None and ctx.err() is not None:  # type: ignore[union-attr]
                    ctxerr(ctx)
                if code:
                    msg = "i/o timeout" if code == _np.TIMEOUT else "use of closed network connection"
                    cls: type[OSError] = TimeoutError if code == _np.TIMEOUT else ClosedError
                    raise _err(cls, _errno.ETIMEDOUT, f"dial {where}: {msg}")
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err in (_errno.EINPROGRESS, _errno.EALREADY, _errno.EINTR):
                    continue  # spurious wakeup
                break
        except BaseException:
            c.close()  # a dial cut short closes its half-open connection
            raise
        finally:
            if stop is not None:
                stop()
        if err == 0:
            if deadline:
                _np.setdeadline(pd, sched, 0, _np.MODE_W)
            return c
        c.close()
    else:
        s.close()
    raise _err(_errcls(err), err, f"dial {where}: connect: {os.strerror(err).lower()}")


def _errcls(code: int) -> type[OSError]:
    return {
        _errno.ECONNREFUSED: ConnectionRefusedError,
        _errno.ECONNRESET: ConnectionResetError,
        _errno.ECONNABORTED: ConnectionAbortedError,
        _errno.ETIMEDOUT: TimeoutError,
        _errno.ENOENT: FileNotFoundError,
        _errno.EACCES: PermissionError,
        _errno.EPERM: PermissionError,
    }.get(code, OSError)


# --- interop: other libraries' descriptors --------------------------------------------


async def wait_readable(fd: int | Any, ctx: Context | None = None) -> None:
    """Park until ``fd`` (an int or an object with ``fileno()``) is readable.

    For non-blocking descriptors that gosched.net does not own (another
    library's socket, a pipe): the goroutine waits in the netpoller like any
    other (``IO wait``) and its M runs other goroutines. Call
    ``notify_closing(fd)`` before closing a descriptor someone may wait on.
    With ``ctx``, raises ``ctx.err()`` once the context is done, and ``fd`` is
    left registered with the poller only for other goroutines' waits.
    """
    await _waitfd(_fileno(fd), _np.MODE_R, ctx)


async def wait_writable(fd: int | Any, ctx: Context | None = None) -> None:
    """Park until ``fd`` (an int or an object with ``fileno()``) is writable; ``ctx`` as for
    ``wait_readable``."""
    await _waitfd(_fileno(fd), _np.MODE_W, ctx)


async def _waitfd(fd: int, mode: int, ctx: Context | None) -> None:
    """waitfd, woken by ``ctx`` through ``_ctxwake`` (the fd layer's ``_io`` rule: a done
    context wins over readiness, and raises). A wake left by an earlier call's context
    (even for a wait without one) is stale: wait again."""
    wake = None if ctx is None or ctxdone(ctx) is None else functools.partial(_ctxwake, ctx)
    while True:
        ready = await _np.waitfd(fd, mode, wake)
        if ctx is not None and ctx.err() is not None:
            ctxerr(ctx)
        if ready:
            return


def notify_closing(fd: int | Any) -> None:
    """Wake goroutines in wait_readable/wait_writable on ``fd`` with an OSError (EBADF)."""
    _np.notify_closing(_current_sched("notify_closing"), _fileno(fd))


def _fileno(fd: int | Any) -> int:
    if isinstance(fd, int) and not isinstance(fd, bool):
        n = fd
    else:
        getter = getattr(fd, "fileno", None)
        if getter is None:
            raise TypeError(f"need a file descriptor (int) or an object with fileno(), not {fd!r}")
        n = int(getter())
    if n < 0:
        raise ValueError(f"invalid file descriptor {n}")
    return n


_fixup(__name__, globals(), __all__)
