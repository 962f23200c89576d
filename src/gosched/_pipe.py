"""``gosched.net.pipe()``: Go's net.Pipe, an in-memory full-duplex connection pair.

A transcription of Go's net/pipe.go onto gosched channels, so a pipe is what
the rest of the runtime already understands: a goroutine blocked on it is
blocked on channels (checkdead reports a pipe nobody will ever write to; the
fake clock jumps over it), and a deadline is a runtime timer that closes a
channel.

Synchronous, as Go's: ``write`` returns once the peer has read all of it, in
one or more ``read`` calls; there is no internal buffer. Concurrent writes are
serialised (each write's bytes stay together); reads may be concurrent.

Errors in Go's words: ``ClosedPipeError("io: read/write on closed pipe")``
(io.ErrClosedPipe, not net.ErrClosed: a pipe is not a socket, as in Go) for a
read or write on a closed end and a write to an end whose peer closed; ``b""``
(io.EOF) for a read whose peer closed; ``TimeoutError("read pipe: i/o
timeout")`` past a deadline.
"""

from __future__ import annotations

import errno as _errno
import math
import threading
from typing import TYPE_CHECKING, Any

from ._bufio import Closer, readfull
from ._runtime import timers as _timers
from ._runtime.chan import Chan
from ._runtime.errors import ClosedChannelError
from ._runtime.gotime import now, resettimer
from ._runtime.proc import getsched
from ._runtime.select import ctxdone, ctxerr, recv, select, send
from ._runtime.sync import Mutex

if TYPE_CHECKING:
    from .context import Context


class ClosedPipeError(OSError):
    """A read or write on a closed pipe (Go's io.ErrClosedPipe): ``io: read/write on closed pipe``."""


def _closedpipe() -> ClosedPipeError:
    e = ClosedPipeError("io: read/write on closed pipe")
    e.errno = _errno.EPIPE
    return e


def _timeout(op: str) -> TimeoutError:
    e = TimeoutError(f"{op} pipe: i/o timeout")  # Go: &OpError{Op: op, Net: "pipe", Err: ErrDeadlineExceeded}
    e.errno = _errno.ETIMEDOUT
    return e


class _Deadline:
    """Go's pipeDeadline: ``cancel`` is closed when the deadline passes.

    The timer's callback closes the channel it was armed for, and only if that
    is still the current one (checked under ``mu``), so a deadline moved while
    the timer fires cannot close the new channel; Go waits for the callback
    instead.
    """

    __slots__ = ("cancel", "mu", "timer")

    def __init__(self) -> None:
        self.mu = threading.Lock()  # goroutines on several Ms and the timer's callback
        self.cancel: Chan[None] = Chan()
        self.timer: _timers.RTimer | None = None

    def set(self, t: float | None) -> None:
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))):
            raise TypeError(f"a deadline is an absolute time (gosched.now() + seconds) or None, not {t!r}")
        if t is not None and math.isnan(t):
            raise ValueError("set deadline: NaN is not a time")  # as net's conns say
        s = getsched("gosched: set deadline") if t is not None else None
        dur = _timers.duration_ns(t - now(), "set deadline") if t is not None else 0  # inf: far away
        with self.mu:
            if self.timer is not None:
                _timers.deltimer(self.timer)
                self.timer = None
            closed = self.cancel.closed
            if t is None:
                if closed:
                    self.cancel = Chan()
                return
            if dur > 0:
                if closed:
                    self.cancel = Chan()
                tm = _timers.RTimer(_expire, None, wakes=_waited)
                tm.arg = (self, self.cancel, tm)
                self.timer = tm
                assert s is not None
                resettimer(s, tm, dur)
                return
            if not closed:
                self.cancel.close()

    def wait(self) -> Chan[None]:
        with self.mu:
            return self.cancel


def _expire(arg: tuple[_Deadline, Chan[None], _timers.RTimer]) -> None:
    d, ch, tm = arg
    with d.mu:
        if d.timer is not tm or d.cancel is not ch:
            return  # moved or cleared meanwhile
        d.timer = None
        if not ch.closed:
            ch.close()


def _waited(arg: tuple[_Deadline, Chan[None], _timers.RTimer]) -> bool:
    """checkdead: firing this deadline wakes someone only if a goroutine selects on it."""
    return bool(arg[1].recvq)


class PipeConn(Closer):
    """One end of ``net.pipe()``: ``read``, ``read_exactly``, ``write``, ``close``, deadlines."""

    __slots__ = ("_localdone", "_rddl", "_rdrx", "_rdtx", "_remotedone", "_wrdl", "_wrmu", "_wrrx", "_wrtx")

    def __init__(
        self, rdrx: Chan[Any], rdtx: Chan[int], wrtx: Chan[Any], wrrx: Chan[int],
        localdone: Chan[None], remotedone: Chan[None],
    ) -> None:
        self._rdrx, self._rdtx, self._wrtx, self._wrrx = rdrx, rdtx, wrtx, wrrx
        self._localdone, self._remotedone = localdone, remotedone
        self._wrmu = Mutex()  # a write's bytes go out together
        self._rddl = _Deadline()
        self._wrdl = _Deadline()

    @property
    def local_addr(self) -> str:
        return "pipe"  # Go's pipeAddr

    @property
    def remote_addr(self) -> str:
        return "pipe"

    @property
    def closed(self) -> bool:
        return self._localdone.closed

    def _where(self) -> str:
        return "pipe"

    async def read(self, n: int = 65536, ctx: Context | None = None) -> bytes:
        """Up to ``n`` bytes of the peer's current write; ``b""`` once the peer closed.

        With ``ctx``, raises ``ctx.err()`` once the context is done (nothing is read)."""
        if n <= 0:
            if n == 0:
                return b""
            raise ValueError(f"read size must be positive, not {n}")
        done = ctxdone(ctx)
        dl = self._rddl.wait()
        if self._localdone.closed:
            raise _closedpipe()
        if self._remotedone.closed:
            return b""
        if dl.closed:
            raise _timeout("read")
        i, bw, _ = await select(
            recv(self._rdrx), recv(self._localdone), recv(self._remotedone), recv(dl), recv(done)
        )
        if i == 4:
            ctxerr(ctx)
        if i == 0:
            chunk = bw[:n]
            await self._rdtx.send(len(chunk))
            return bytes(chunk)
        if i == 1:
            raise _closedpipe()
        if i == 2:
            return b""
        raise _timeout("read")

    async def read_exactly(self, n: int, ctx: Context | None = None) -> bytes:
        """Exactly ``n`` bytes; ``IncompleteReadError`` (``unexpected EOF``) if the peer closes first.

        With ``ctx``, ``ctx.err()`` once the context is done (bytes read before are lost)."""
        return await readfull(self, n, ctx)

    async def write(self, data: bytes | bytearray | memoryview, ctx: Context | None = None) -> int:
        """Hand all of ``data`` to the peer's reads; returns its length once they took it.

        With ``ctx``, raises ``ctx.err()`` once the context is done; the bytes the
        peer took before stay taken."""
        b = memoryview(bytes(data) if not isinstance(data, bytes) else data)
        done = ctxdone(ctx)
        dl = self._wrdl.wait()
        if self._localdone.closed or self._remotedone.closed:
            raise _closedpipe()
        if dl.closed:
            raise _timeout("write")
        if not b:
            # Go hands the peer an empty slice (a Read of 0 bytes, nil error); in
            # Python a read of b"" means EOF, so an empty write reaches no one, as
            # on a socket.
            return 0
        async with self._wrmu:
            dl = self._wrdl.wait()  # a deadline set while we waited for the lock
            total = len(b)
            once = True
            while once or b:
                once = False
                i, _, _ = await select(
                    send(self._wrtx, b), recv(self._localdone), recv(self._remotedone), recv(dl), recv(done)
                )
                if i == 4:
                    ctxerr(ctx)
                if i == 0:
                    nw: int = await self._wrrx.recv()
                    b = b[nw:]
                elif i == 3:
                    raise _timeout("write")
                else:
                    raise _closedpipe()
            return total

    def close(self) -> None:
        """Close this end: its reads and writes fail, the peer reads EOF and cannot write. Idempotent."""
        try:
            self._localdone.close()
        except ClosedChannelError:
            pass  # closed before (Go's sync.Once)

    def set_deadline(self, t: float | None) -> None:
        """Read and write deadline: an absolute time on ``gosched.now()``'s clock; None clears it."""
        self._check()
        self._rddl.set(t)
        self._wrdl.set(t)

    def set_read_deadline(self, t: float | None) -> None:
        """Reads pending at or started after ``t`` fail with ``read pipe: i/o timeout``."""
        self._check()
        self._rddl.set(t)

    def set_write_deadline(self, t: float | None) -> None:
        """Writes pending at or started after ``t`` fail with ``write pipe: i/o timeout``."""
        self._check()
        self._wrdl.set(t)

    def _check(self) -> None:
        if self._localdone.closed or self._remotedone.closed:
            raise _closedpipe()  # Go's pipe.SetDeadline returns io.ErrClosedPipe

    def __repr__(self) -> str:
        return f"<PipeConn{' closed' if self.closed else ''}>"


def pipe() -> tuple[PipeConn, PipeConn]:
    """Two connected in-memory ends (Go's net.Pipe): what one writes, the other reads.

    For testing network code without sockets, also under ``run(main,
    clock="fake")``: a goroutine blocked on a pipe is blocked on channels, so
    virtual time passes over it and deadlines fire at their virtual times.
    """
    cb1: Chan[Any] = Chan()
    cb2: Chan[Any] = Chan()
    cn1: Chan[int] = Chan()
    cn2: Chan[int] = Chan()
    done1: Chan[None] = Chan()
    done2: Chan[None] = Chan()
    p1 = PipeConn(cb1, cn1, cb2, cn2, done1, done2)
    p2 = PipeConn(cb2, cn2, cb1, cn1, done2, done1)
    return p1, p2

