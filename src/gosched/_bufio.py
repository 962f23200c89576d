"""A buffered reader over a gosched connection (Go's bufio.Reader, asyncio's StreamReader).

``gosched.net.Reader(conn)`` wraps anything with ``async read(n) -> bytes``
(``b""`` at end of stream): a ``net.Conn``, a ``net.pipe()`` end. Its methods
are asyncio's (``readline``, ``readuntil``, ``readexactly``, ``read``); its
errors carry Go's words and asyncio's attributes, as both are what a reader of
such code knows:

* ``IncompleteReadError`` (an ``EOFError``, like asyncio's): the stream ended
  before ``readexactly(n)`` had ``n`` bytes or ``readuntil`` found its
  separator. The message is Go's ``unexpected EOF`` (io.ErrUnexpectedEOF) when
  some bytes came, ``EOF`` when none did (io.ReadFull's rule); ``partial`` holds
  what came, ``expected`` the size asked (None for ``readuntil``).
* ``LimitOverrunError`` (a ``ValueError``): no separator within ``limit`` bytes
  (Go's ``bufio: buffer full``). The bytes stay buffered; ``consumed`` says how
  many there are, so the caller can ``read()`` them or give up.

Errors from the connection (deadline ``TimeoutError``, ``ClosedError``) pass
through and keep what is buffered. Like Go's bufio.Reader, a Reader is for one
goroutine at a time.

``ctx=`` (a ``gosched.context.Context``) on every method goes down to the
connection's ``read(n, ctx=ctx)``: once the context is done the call raises
``ctx.err()`` and, as with a deadline, what came before stays buffered for the
next call. A context done already raises at the start, even with enough bytes
buffered: the rule of every gosched ``ctx=`` operation (``Conn.read`` with data
waiting in the kernel raises too), so a done context never returns data.
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._runtime.select import ctxdone

if TYPE_CHECKING:
    from .context import Context

_CHUNK = 65536  # bytes asked of the connection per fill (Go's bufio: the buffer size)


class _Source(Protocol):
    async def read(self, n: int = ...) -> bytes: ...


class Closer:
    """``with`` and ``async with`` close the connection at the end (Go's io.Closer + defer)."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class IncompleteReadError(EOFError):
    """The stream ended early: ``partial`` is what was read, ``expected`` the size wanted (or None)."""

    def __init__(self, partial: bytes, expected: int | None, where: str = "") -> None:
        words = "unexpected EOF" if partial else "EOF"
        want = f"{expected} bytes" if expected is not None else "the separator"
        at = f" from {where}" if where else ""
        super().__init__(f"{words}: read {len(partial)} bytes{at}, expected {want}")
        self.partial = partial
        self.expected = expected


class LimitOverrunError(ValueError):
    """No separator within the reader's limit (Go's ``bufio: buffer full``); ``consumed``: bytes buffered."""

    def __init__(self, message: str, consumed: int) -> None:
        super().__init__(message)
        self.consumed = consumed


def _where(src: Any) -> str:
    w = getattr(src, "_where", None)
    return w() if callable(w) else ""


def _reader(src: _Source, ctx: Context | None) -> Any:
    """``src.read``, with ``ctx=ctx`` bound when there is a context (a source without
    ``ctx=`` still serves the calls without one)."""
    read: Any = src.read
    return read if ctx is None else functools.partial(read, ctx=ctx)


async def readfull(src: _Source, n: int, ctx: Context | None = None) -> bytes:
    """Exactly ``n`` bytes from ``src`` (Go's io.ReadFull); IncompleteReadError if it ends first.

    With ``ctx``, each ``src.read`` gets ``ctx=ctx``; a read cut short by the
    context raises ``ctx.err()`` and the bytes read before it are lost with the
    call (use ``Reader.readexactly`` to keep them)."""
    if n <= 0:
        if n == 0:
            return b""
        raise ValueError(f"read size must be positive, not {n}")
    read = _reader(src, ctx)
    first: bytes = await read(n)
    if len(first) == n:
        return first
    buf = bytearray(first)
    while len(buf) < n:
        if not first:
            raise IncompleteReadError(bytes(buf), n, _where(src))
        first = await read(n - len(buf))
        buf += first
    return bytes(buf)


class Reader:
    """A buffered reader on a connection: ``readline``, ``readuntil``, ``readexactly``, ``read``.

    ``limit`` (default 64 KiB) bounds how far ``readuntil``/``readline`` look
    for a separator, and so how much a peer that never sends one makes us
    buffer. Go: ``bufio.NewReaderSize(conn, limit)``; asyncio:
    ``StreamReader(limit=...)``.
    """

    __slots__ = ("_buf", "_eof", "_limit", "_src")

    def __init__(self, conn: _Source, limit: int = 65536) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"limit must be a positive int, not {limit!r}")
        if not callable(getattr(conn, "read", None)):
            raise TypeError(f"Reader needs a connection with async read(n), not {type(conn).__name__}")
        self._src = conn
        self._limit = limit
        self._buf = bytearray()
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes read from the connection and not yet returned (Go's Buffered)."""
        return len(self._buf)

    def at_eof(self) -> bool:
        """True once the stream has ended and the buffer is empty."""
        return self._eof and not self._buf

    async def _fill(self, ctx: Context | None) -> bool:
        """Read once more from the connection (with ``ctx``, if any); False at end of stream."""
        if self._eof:
            return False
        data = await _reader(self._src, ctx)(_CHUNK)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def read(self, n: int = -1, ctx: Context | None = None) -> bytes:
        """Up to ``n`` bytes (buffered ones first, else one read); ``-1``: everything until EOF.

        With ``ctx``: ``ctx.err()`` once the context is done; for ``-1`` what
        came before stays buffered."""
        ctxdone(ctx)
        if n < 0:
            while await self._fill(ctx):
                pass
            return self._take(len(self._buf))
        if n == 0:
            return b""
        if not self._buf:
            await self._fill(ctx)
        return self._take(n)

    async def readexactly(self, n: int, ctx: Context | None = None) -> bytes:
        """Exactly ``n`` bytes; ``IncompleteReadError`` (``unexpected EOF``) if the stream ends first.

        With ``ctx``: ``ctx.err()`` once the context is done; what came stays buffered."""
        if n < 0:
            raise ValueError(f"read size must be >= 0, not {n}")
        ctxdone(ctx)
        while len(self._buf) < n:
            if not await self._fill(ctx):
                partial = self._take(len(self._buf))
                raise IncompleteReadError(partial, n, _where(self._src))
        return self._take(n)

    async def readuntil(self, separator: bytes = b"\n", ctx: Context | None = None) -> bytes:
        """Bytes up to and including ``separator`` (Go's ReadBytes, asyncio's readuntil).

        ``IncompleteReadError`` if the stream ends first (its ``partial`` holds
        the rest, which is consumed); ``LimitOverrunError`` if the separator is
        not within ``limit`` bytes (nothing is consumed). With ``ctx``:
        ``ctx.err()`` once the context is done (nothing is consumed).
        """
        seplen = len(separator)
        if seplen == 0:
            raise ValueError("separator must be at least one byte")
        ctxdone(ctx)
        start = 0
        while True:
            i = self._buf.find(separator, start)
            if i >= 0:
                if i > self._limit:
                    raise LimitOverrunError(
                        f"bufio: buffer full: separator found after {i} bytes, limit {self._limit}", i)
                return self._take(i + seplen)
            if len(self._buf) > self._limit:
                raise LimitOverrunError(
                    f"bufio: buffer full: no separator in {len(self._buf)} bytes, limit {self._limit}",
                    len(self._buf))
            start = max(0, len(self._buf) - seplen + 1)  # a separator may straddle the next read
            if not await self._fill(ctx):
                raise IncompleteReadError(self._take(len(self._buf)), None, _where(self._src))

    async def readline(self, ctx: Context | None = None) -> bytes:
        """One line including ``b"\\n"``; at EOF the rest without it (``b""`` once drained).

        Like asyncio's and Python's file readline: the end of the stream is not an
        error here. ``LimitOverrunError`` for a line longer than ``limit``; with
        ``ctx``, ``ctx.err()`` once the context is done (nothing is consumed).
        """
        try:
            return await self.readuntil(b"\n", ctx)
        except IncompleteReadError as e:
            return e.partial
