"""Channels (Go's runtime/chan.go).

A channel is a lock, a ring buffer of ``cap`` slots, and two wait queues
(``recvq``, ``sendq``). A goroutine blocked on one channel waits as itself (its
G doubles as the sudog); a goroutine blocked in ``select`` waits as one
``Sudog`` per case, all sharing a ``SelectWait`` that lets exactly one waker
win (Go's ``g.selectDone`` CAS). Values pass straight from sender to a parked
receiver (and back), never through the buffer, exactly as in Go.

Every blocking path parks with the channel lock still held; the M's loop
releases it once the goroutine is off its stack (gopark's unlockf).
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import proc
from .blocking import chan_recv, chan_send
from .lock import held, lockslow, newlock
from .runtime2 import G, waitReasonChanReceive, waitReasonChanSend
from .traps import PARK, Trap, checkpreempt, getm, outside_goroutine, preempted

T = TypeVar("T")


class Panic(RuntimeError):
    """A run-time panic in Go's words (``send on closed channel``, ...)."""


class ClosedChannelError(Panic):
    """Send on, or close of, a closed channel."""


class Closed(Exception):
    """``recv()`` on a channel that is closed and drained (Go's ``v, ok := <-c`` with ok false)."""


class SelectWait:
    """Shared by one blocked select's sudogs: the first waker to claim it wins."""

    __slots__ = ("fired", "tok")

    def __init__(self) -> None:
        self.tok = [1]  # list.pop() is atomic: the CAS of g.selectDone
        self.fired: Sudog | None = None

    def claim(self) -> bool:
        try:
            self.tok.pop()
        except IndexError:
            return False
        return True


class Sudog:
    """One select case waiting on one channel."""

    __slots__ = ("c", "elem", "g", "index", "issend", "sel", "success")

    def __init__(self, g: G, sel: SelectWait, index: int, c: Chan[Any], issend: bool, elem: Any) -> None:
        self.g = g
        self.sel = sel
        self.index = index
        self.c = c
        self.issend = issend
        self.elem = elem
        self.success = False


def _take(q: deque[Any]) -> Any:
    """Pop the first waiter that can still be woken (skips selects already won).

    Returns the waiter (a G or a Sudog), or None. Channel lock held.
    """
    while q:
        w = q.popleft()
        if type(w) is Sudog:
            if not w.sel.claim():
                continue
            w.sel.fired = w
        return w
    return None


def recvfrom(c: Chan[Any], w: Any) -> Any:
    """Take the value of parked sender ``w`` (Go's recv; channel lock held).

    Unbuffered: straight from the sender. Buffered (so the buffer is full): the
    buffer's head, and the sender's value goes to its tail, keeping FIFO order.
    """
    if c._cap == 0:
        v = w.elem
    else:
        v = c._buf.popleft()
        c._buf.append(w.elem)
    w.success = True
    return v


def _g(w: Any) -> G:
    return w.g if type(w) is Sudog else w


_OK, _RAISE, _STOP = 0, 1, 2  # what a receive does at end of stream


def _chanrecv(mode: int, name: str, doc: str) -> Callable[[Chan[Any]], Generator[Trap, Any, Any]]:
    """Make Go's chanrecv for one end-of-stream ``mode``, as method ``name``.

    Each receive method *is* the generator function (not a method returning
    one), so ``await ch.recv()`` costs one frame, like ``send``: the hottest
    path of ping-pong and of every ``async for`` over a channel.
    """

    @types.coroutine
    def chanrecv(c: Chan[Any]) -> Generator[Trap, Any, Any]:
        lk = c._lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        sq = c.sendq
        while sq:
            w = sq.popleft()
            if type(w) is Sudog:
                if not w.sel.claim():
                    continue
                w.sel.fired = w
                gp = w.g
            else:
                gp = w
            v = recvfrom(c, w)
            lk.append(1)
            proc.goready(gp)
            break
        else:
            if c._buf:
                v = c._buf.popleft()
                lk.append(1)
            elif c.closed:
                lk.append(1)
                if mode == _RAISE:
                    raise Closed(f"receive from closed channel {c!r}")
                if mode == _STOP:
                    raise StopAsyncIteration
                return None, False
            else:
                m = getm()
                cur: G | None = m.curg if m is not None else None
                if cur is None:
                    lk.append(1)
                    raise outside_goroutine("Chan.recv", "from a plain thread use recv_blocking()")
                cur.elem = None
                cur.success = False
                cur.blockedon = c
                c.recvq.append(cur)
                yield (PARK, lk, waitReasonChanReceive)
                cur.blockedon = None
                v = cur.elem
                cur.elem = None
                if not cur.success:
                    if mode == _RAISE:
                        raise Closed(f"receive from closed channel {c!r}")
                    if mode == _STOP:
                        raise StopAsyncIteration
                    return None, False
                return v if mode else (v, True)
        if preempted:
            yield from checkpreempt()
        return v if mode else (v, True)

    # Tracebacks and goroutine dumps name the code object: make it Chan.<name>.
    chanrecv.__code__ = chanrecv.__code__.replace(co_name=name, co_qualname=f"Chan.{name}")
    chanrecv.__name__ = name
    chanrecv.__qualname__ = f"Chan.{name}"
    chanrecv.__doc__ = doc
    return chanrecv


class Chan(Generic[T]):
    """A Go channel. ``Chan[int](capacity)``; capacity 0 is a rendezvous."""

    __slots__ = ("__weakref__", "_buf", "_cap", "_lock", "closed", "foreign", "fusers", "recvq", "sendq")

    def __class_getitem__(cls, item: Any) -> Any:
        # Chan[int](n) makes a plain Chan: typing's alias call would try (and,
        # with __slots__, fail) to set __orig_class__ on every new channel.
        return cls

    def __init__(self, capacity: int = 0) -> None:
        if type(capacity) is not int:
            if isinstance(capacity, bool) or not isinstance(capacity, int):
                raise TypeError(f"Chan capacity must be an int, not {type(capacity).__name__}")
        if capacity < 0:
            raise ValueError("makechan: size out of range")
        self._lock = newlock()
        self._buf: deque[T] = deque()
        self._cap = capacity
        self.closed = False
        self.recvq: deque[Any] = deque()
        self.sendq: deque[Any] = deque()
        self.foreign = False  # set by the program: a plain thread may use it (deadlock.py)
        self.fusers: tuple[Any, ...] = ()  # live plain threads that used the blocking API (blocking.py)

    # -- introspection ----------------------------------------------------------------
    @property
    def cap(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return len(self._buf)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<Chan {id(self):#x} {len(self._buf)}/{self._cap}{state}>"

    # -- send ------------------------------------------------------------------------
    # send and receive are generator-based coroutines (types.coroutine), not
    # ``async def``: an ``await ch.send(v)`` then costs one frame, and a park
    # yields its trap straight to the M's loop. This is the runtime's hottest path.
    @types.coroutine
    def send(self, v: T) -> Generator[Trap, Any, None]:
        """Send ``v``; blocks until a receiver takes it (or buffer space frees)."""
        lk = self._lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        if self.closed:
            lk.append(1)
            raise ClosedChannelError("send on closed channel")
        rq = self.recvq
        while rq:
            w = rq.popleft()
            if type(w) is Sudog:
                if not w.sel.claim():
                    continue  # that select was won by another case
                w.sel.fired = w
                gp = w.g
            else:
                gp = w
            w.elem = v
            w.success = True
            lk.append(1)
            proc.goready(gp)
            if preempted:
                yield from checkpreempt()
            return
        if len(self._buf) < self._cap:
            self._buf.append(v)
            lk.append(1)
            if preempted:
                yield from checkpreempt()
            return
        m = getm()
        cur: G | None = m.curg if m is not None else None
        if cur is None:
            lk.append(1)
            raise outside_goroutine("Chan.send", "from a plain thread use send_blocking()")
        cur.elem = v
        cur.success = False
        cur.blockedon = self
        self.sendq.append(cur)
        yield (PARK, lk, waitReasonChanSend)
        cur.blockedon = None
        cur.elem = None
        if not cur.success:
            raise ClosedChannelError("send on closed channel")

    def trysend(self, v: T) -> bool:
        """Send without blocking; False if it would block (select with default)."""
        with held(self._lock):
            if self.closed:
                raise ClosedChannelError("send on closed channel")
            ok, gp = self.sendlocked(v)
        if gp is not None:
            proc.goready(gp)
        return ok

    def sendlocked(self, v: T) -> tuple[bool, G | None]:
        """Non-blocking send with the lock held: (sent, goroutine to ready)."""
        w = _take(self.recvq) if self.recvq else None
        if w is None:
            if len(self._buf) >= self._cap:
                return False, None
            self._buf.append(v)
            return True, None
        w.elem = v
        w.success = True
        return True, _g(w)

    # -- receive -----------------------------------------------------------------------
    # The receive methods are chanrecv generator functions made by _chanrecv
    # (one per end-of-stream mode); mypy sees their signatures here.
    if TYPE_CHECKING:

        def recv_ok(self) -> Awaitable[tuple[T | None, bool]]:
            """Receive ``(value, True)``, or ``(None, False)`` once closed and drained."""

        def recv(self) -> Awaitable[T]:
            """Receive a value; raises ``Closed`` once the channel is closed and drained."""

    else:
        recv_ok = _chanrecv(
            _OK, "recv_ok", "Receive ``(value, True)``, or ``(None, False)`` once closed and drained."
        )
        recv = _chanrecv(
            _RAISE, "recv", "Receive a value; raises ``Closed`` once the channel is closed and drained."
        )

    def tryrecv(self) -> tuple[T | None, bool, bool]:
        """Receive without blocking: ``(value, ok, received)``."""
        with held(self._lock):
            v, ok, got, gp = self.recvlocked()
        if gp is not None:
            proc.goready(gp)
        return v, ok, got

    def recvlocked(self) -> tuple[T | None, bool, bool, G | None]:
        """Non-blocking receive with the lock held: (value, ok, received, goroutine to ready)."""
        w = _take(self.sendq) if self.sendq else None
        if w is not None:
            return recvfrom(self, w), True, True, _g(w)
        if self._buf:
            return self._buf.popleft(), True, True, None
        return None, False, self.closed, None

    # -- close ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the channel: wake every receiver (ok=False) and sender (panics)."""
        with held(self._lock):
            if self.closed:
                raise ClosedChannelError("close of closed channel")
            self.closed = True
            woken: list[G] = []
            for q in (self.recvq, self.sendq):
                while True:
                    w = _take(q)
                    if w is None:
                        break
                    w.elem = None
                    w.success = False
                    woken.append(_g(w))
        for gp in woken:
            proc.goready(gp)

    async def wait_closed(self) -> None:
        """Block until the channel is closed: Go's ``<-done`` on a channel that is only ever
        closed, the close-to-broadcast idiom. Returns at once once closed and drained; a
        value sent meanwhile is received and dropped (Go's ``for range ch {}``)."""
        async for _ in self:
            pass

    # -- iteration -------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[T]:
        return self

    if TYPE_CHECKING:

        def __anext__(self) -> Awaitable[T]: ...

    else:
        __anext__ = _chanrecv(
            _STOP, "__anext__", "Receive the next value; the loop ends once closed and drained."
        )

    # -- for dumps ---------------------------------------------------------------------------
    def waiters(self) -> tuple[list[G], list[G]]:
        """Goroutines blocked receiving and sending (a snapshot)."""
        with held(self._lock):
            return [_g(w) for w in self.recvq], [_g(w) for w in self.sendq]

    def _dropwaiter(self, gp: G) -> None:
        """Take ``gp``'s waits (its own, or a select's cases) off the queues; lock held.

        Its run ended while it waited (runend.unqueue): nothing may hand it a value.
        """
        for q in (self.recvq, self.sendq):
            for w in [w for w in q if _g(w) is gp]:
                q.remove(w)

    # -- plain threads (blocking.py) --------------------------------------------------------
    def send_blocking(self, v: T, timeout: float | None = None) -> None:
        """Send from a plain thread, blocking it; ``TimeoutError`` after ``timeout`` s.

        While this thread lives, goroutines blocked on the channel are never
        reported as deadlocked (a foreign user: docs/checkdead.md).
        """
        if not chan_send(self, v, timeout):
            raise ClosedChannelError("send on closed channel")

    def recv_blocking(self, timeout: float | None = None) -> T:
        """Receive in a plain thread, blocking it; ``Closed`` once closed and drained,
        ``TimeoutError`` after ``timeout`` s. Makes this thread a foreign user while it lives."""
        v, ok = chan_recv(self, timeout)
        if not ok:
            raise Closed(f"receive from closed channel {self!r}")
        return v  # type: ignore[no-any-return]
