"""The socket transport of gosched's loop: asyncio's, reading into a buffer it keeps.

asyncio's ``_SelectorSocketTransport`` reads with ``sock.recv(256 KiB)``: each read
allocates a 256 KiB bytes object and shrinks it to what arrived. glibc serves an
allocation that size with ``mmap`` until the process first ``free()``s a chunk of
that size (its adaptive mmap threshold), and the shrink is a ``realloc``, which
never raises the threshold: so in a process that has not yet closed a connection
(the first EOF's read frees one), each read is an mmap, a page fault and a munmap,
~12 µs for a 64-byte message on this machine against ~2.3 µs after (measured with
a socketpair, ``docs/aio.md``). A server whose clients keep their connections
(websockets, a database pool, the echo benchmark) pays it on every read for good.
uvloop reads into one buffer per loop; so does this transport: with the C accelerator
``speedups.recvbytes`` (``read(2)`` into a buffer the module keeps, then a ``bytes`` of
what arrived), without it ``recv_into`` a 256 KiB buffer from a free list and a copy.
With the accelerator, the reader callback, ``write``'s common case (bytes sent at once,
nothing buffered) and ``is_closing`` are in C too, and the attributes they read are slots.
The rest is asyncio's.
"""

from __future__ import annotations

from asyncio import selector_events
from collections.abc import Callable
from typing import Any

from .._runtime import speedups

# Free read buffers (memoryviews of bytearray(max_size)) shared by the process's
# transports. A reader takes one for the read and its copy and puts it back: a
# list's pop and append are atomic (on free-threaded CPython too), so two loops
# on two threads never share one; with none free a reader makes another.
_buffers: list[memoryview] = []

_Base: Any = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]  # private: not in typeshed


def _recvbuf(sock: Any, size: int) -> bytes:
    """``sock.recv(size)`` through a reused buffer: ``recv_into``, then a copy."""
    try:
        buf = _buffers.pop()
    except IndexError:
        buf = memoryview(bytearray(size))
    if len(buf) < size:  # max_size raised on this transport
        buf = memoryview(bytearray(size))
    try:
        n = sock.recv_into(buf, size)
        return buf[:n].tobytes()
    finally:
        _buffers.append(buf)


_recv: Callable[[Any, int], bytes] = speedups.recvbytes or _recvbuf


_SLOTS: tuple[str, ...] = (
    "_eof", "_empty_waiter", "_conn_lost", "_buffer", "_sock_fd", "_closing", "_read_ready_cb", "_protocol",
    "_sock", "max_size",
)


class SocketTransport(_Base):  # type: ignore[misc]
    """asyncio's selector socket transport, reading into a reused buffer."""

    # What the accelerator's write, read and is_closing read at every message, as slots (read
    # at an offset in C, as the loop's: loop.py). (Not a literal: see loop.py's EventLoop.)
    __slots__ = _SLOTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # asyncio's class defaults of _sock and max_size, which the slots hide: set before
        # its __init__ (whose error would leave __del__ and __repr__ reading _sock).
        self._sock = None
        self.max_size = _Base.max_size
        super().__init__(*args, **kwargs)

    def _read_ready__data_received(self) -> None:
        # _SelectorSocketTransport._read_ready__data_received (the same in 3.11-3.13),
        # with the read into a reused buffer instead of sock.recv(max_size).
        if self._conn_lost:
            return
        try:
            data = _recv(self._sock, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return

        if not data:
            self._read_ready__on_eof()
            return

        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")


_pyread = SocketTransport._read_ready__data_received  # the definition


def _accelerate(c: Any) -> None:
    """write's common case in C (bytes sent at once and in full with nothing buffered; asyncio's
    own write, which stays the definition, for the rest), and the reader callback, the read and
    is_closing in C (_speedups_aioloop.h; the methods above and asyncio's stay their definition)."""
    methods = c.setup_transport(SocketTransport, _Base.write)
    names = ("write", "_read_ready", "_read_ready__data_received", "is_closing")
    for name, method in zip(names, methods, strict=True):
        setattr(SocketTransport, name, method)


if speedups.c is not None:
    _accelerate(speedups.c)
