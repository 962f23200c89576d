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
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import proc, speedups
from .blocking import chan_recv, chan_send
from .errors import Closed, ClosedChannelError
from .goroutine import Goroutine
from .lock import held, lockslow, newlock
from .runtime2 import G, Grunnable, WaitDesc, waitReasonChanReceive, waitReasonChanSend
from .traps import PARK, Trap, checkpreempt, getm, outside_goroutine, preempted

T = TypeVar("T")


class SelectWait:
    """Shared by one blocked select's sudogs: the first waker to claim it wins."""

    __slots__ = ("fired", "tok")

    def __init__(self) -> None:
        self.tok = [1]  # list.pop() is atomic: the CAS of g.selectDone
        self.fired: Sudog | None = None

    def claim(self, sg: Sudog) -> bool:
        """Win the select for case ``sg`` (Go's ``sgp.g.selectDone.CompareAndSwap(0, 1)``)."""
        try:
            self.tok.pop()
        except IndexError:
            return False
        self.fired = sg
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


def dequeue(q: deque[Any]) -> Any:
    """Pop the first waiter that can still be woken (Go's ``waitq.dequeue``; lock held).

    A goroutine waits as its own G (a single-channel operation) or as a select
    case's Sudog; a select another case has already won is skipped. Returns the
    waiter, its select claimed, or None.
    """
    while q:
        w = q.popleft()
        if type(w) is not Sudog or w.sel.claim(w):
            return w
    return None


def waiterg(w: Any) -> G:
    """The goroutine of waiter ``w`` (a G, or a Sudog's ``g``)."""
    return w.g if type(w) is Sudog else w


def recvfrom(c: Chan[Any], w: Any) -> Any:
    """Take the value of parked sender ``w`` (Go's recv; channel lock held).

    Unbuffered: straight from the sender. Buffered (so the buffer is full): the
    buffer's head, and the sender's value goes to its tail, keeping FIFO order.
    """
    if c.dataqsiz == 0:
        v = w.elem
    else:
        v = c.buf.popleft()
        c.buf.append(w.elem)
    w.success = True
    return v


_OK, _RAISE, _STOP = 0, 1, 2  # what a receive does at end of stream


def _closed(c: Chan[Any], mode: int) -> tuple[None, bool]:
    """A receive found ``c`` closed and drained: what ``mode`` does at end of stream."""
    if mode == _RAISE:
        raise Closed(f"receive from closed channel {c!r}")
    if mode == _STOP:
        raise StopAsyncIteration
    return None, False


def _chanrecv(mode: int, name: str, doc: str) -> Callable[[Chan[Any]], Generator[Trap, Any, Any]]:
    """Make Go's chanrecv for one end-of-stream ``mode``, as method ``name``.

    Each receive method *is* the generator function (not a method returning
    one), so ``await ch.recv()`` costs one frame, like ``send``: the hottest
    path of ping-pong and of every ``async for`` over a channel.
    """

    @types.coroutine
    def chanrecv(c: Chan[Any]) -> Generator[Trap, Any, Any]:
        lk = c.lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        sq = c.sendq
        while sq:  # dequeue, inline: a call here would cost ~4% of a ping-pong
            w = sq.popleft()
            if type(w) is Sudog and not w.sel.claim(w):
                continue  # that select was won by another case
            v = recvfrom(c, w)
            lk.append(1)
            proc.goready(w.g if type(w) is Sudog else w)
            break
        else:
            if c.buf:
                v = c.buf.popleft()
                lk.append(1)
            elif c.closed:
                lk.append(1)
                return _closed(c, mode)
            else:  # gopark, in line as in send (which says why)
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
                    return _closed(c, mode)
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

    # Runtime-internal fields, for select, timers and the blocking API as Go's
    # runtime reads hchan's (left out of the API reference: docs/api/conf.py):
    # ``lock`` (lock.newlock; taken by select in address order), ``buf`` (the
    # ring buffer), ``dataqsiz`` (its capacity), ``closed``, and the wait queues
    # ``recvq``/``sendq`` of Gs and select Sudogs.
    __slots__ = ("__weakref__", "buf", "closed", "dataqsiz", "foreign", "fusers", "lock", "recvq", "sendq")

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
        self.lock = newlock()
        self.buf: deque[T] = deque()
        self.dataqsiz = capacity
        self.closed = False
        self.recvq: deque[Any] = deque()
        self.sendq: deque[Any] = deque()
        self.foreign = False  # set by the program: a plain thread may use it (synctest.foreign)
        self.fusers: tuple[Any, ...] = ()  # live plain threads that used the blocking API (blocking.py)

    # -- introspection ----------------------------------------------------------------
    @property
    def cap(self) -> int:
        return self.dataqsiz

    def __len__(self) -> int:
        return len(self.buf)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<Chan {id(self):#x} {len(self.buf)}/{self.dataqsiz}{state}>"

    # -- send ------------------------------------------------------------------------
    # send and receive are generator-based coroutines (types.coroutine), not
    # ``async def``: an ``await ch.send(v)`` then costs one frame, and a park
    # yields its trap straight to the M's loop. This is the runtime's hottest path.
    @types.coroutine
    def send(self, v: T) -> Generator[Trap, Any, None]:
        """Send ``v``; blocks until a receiver takes it (or buffer space frees)."""
        lk = self.lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        if self.closed:
            lk.append(1)
            raise ClosedChannelError("send on closed channel")
        rq = self.recvq
        while rq:  # dequeue, inline: a call here would cost ~4% of a ping-pong
            w = rq.popleft()
            if type(w) is Sudog and not w.sel.claim(w):
                continue  # that select was won by another case
            w.elem = v  # Go's send: straight to the parked receiver
            w.success = True
            lk.append(1)
            proc.goready(w.g if type(w) is Sudog else w)
            if preempted:
                yield from checkpreempt()
            return
        if len(self.buf) < self.dataqsiz:
            self.buf.append(v)
            lk.append(1)
            if preempted:
                yield from checkpreempt()
            return
        # gopark, in line, as in chanrecv: one generator for both parks (yield from) cost
        # 9 % of a ping-pong (python -m bench.instructions: 28,060 vs 25,665 instructions).
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
        with held(self.lock):
            ok, gp = self.sendlocked(v)
        if gp is not None:
            proc.goready(gp)
        return ok

    def sendlocked(self, v: T) -> tuple[bool, G | None]:
        """Non-blocking send with the lock held: (sent, goroutine to ready).

        Go's chansend without the park, shared by select's poll, timers and the
        blocking API. A send on a closed channel panics here, as Go's does.
        """
        if self.closed:
            raise ClosedChannelError("send on closed channel")
        w = dequeue(self.recvq) if self.recvq else None
        if w is not None:
            w.elem = v
            w.success = True
            return True, waiterg(w)
        if len(self.buf) < self.dataqsiz:
            self.buf.append(v)
            return True, None
        return False, None

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
        with held(self.lock):
            v, ok, got, gp = self.recvlocked()
        if gp is not None:
            proc.goready(gp)
        return v, ok, got

    def recvlocked(self) -> tuple[T | None, bool, bool, G | None]:
        """Non-blocking receive with the lock held: (value, ok, received, goroutine to ready).

        Go's chanrecv without the park, shared by select's poll and the blocking
        API: closed and drained counts as received, with ``ok`` False.
        """
        w = dequeue(self.sendq) if self.sendq else None
        if w is not None:
            return recvfrom(self, w), True, True, waiterg(w)
        if self.buf:
            return self.buf.popleft(), True, True, None
        return None, False, self.closed, None

    # -- close ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the channel: wake every receiver (ok=False) and sender (panics)."""
        with held(self.lock):
            if self.closed:
                raise ClosedChannelError("close of closed channel")
            self.closed = True
            woken: list[G] = []
            for q in (self.recvq, self.sendq):
                while (w := dequeue(q)) is not None:
                    w.elem = None
                    w.success = False
                    woken.append(waiterg(w))
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
    def waiters(self) -> tuple[list[Goroutine], list[Goroutine]]:
        """Goroutines blocked receiving and sending, as read-only handles (a snapshot)."""
        r, s = self.waitqs()
        return [Goroutine(g) for g in r], [Goroutine(g) for g in s]

    def waitqs(self) -> tuple[list[G], list[G]]:
        """(runtime-internal) The Gs blocked receiving and sending (a snapshot, for checkdead)."""
        with held(self.lock):
            return [waiterg(w) for w in self.recvq], [waiterg(w) for w in self.sendq]

    @property
    def _lock(self) -> list[int]:
        # The name proc.unqueue's protocol gives a parkable object's runtime lock.
        return self.lock

    def waitdesc(self) -> WaitDesc:
        """What a goroutine blocked here waits on (runtime2.Waitable): fill, receivers, senders."""
        r, s = self.waitqs()
        return WaitDesc("waits on channel", f"{len(self)}/{self.cap} buffered", r, s)

    def _dropwaiters(self, gs: AbstractSet[G]) -> None:
        """Take the waits of the goroutines ``gs`` (their own, or a select's cases) off
        the queues, in one pass over each; lock held.

        Their run ended while they waited (runend.unqueue): nothing may hand them a value.
        """
        for q in (self.recvq, self.sendq):
            keep = [w for w in q if waiterg(w) not in gs]
            if len(keep) != len(q):
                q.clear()
                q.extend(keep)

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


def _accelerate() -> None:
    """Put the C versions of send and the receives on Chan (speedups; _speedups_chan.h).

    They finish an operation that needs no park in C, with no coroutine frame,
    park a goroutine that must wait as the generators do, and run the generators
    above for every other case; the generators stay the definition (and the
    whole of the pure-Python path).
    """
    c = speedups.c
    if c is None:
        return
    names = ("send", "recv_ok", "recv", "__anext__")
    ops = tuple(vars(Chan)[n] for n in names)
    sigs = ("($self, v, /)", "($self, /)", "($self, /)", "($self, /)")  # text signatures, for docs
    docs = tuple(f"{n}{sig}\n--\n\n{op.__doc__}" for n, sig, op in zip(names, sigs, ops, strict=True))
    helpers = (preempted, proc.goready, vars(proc), Grunnable)
    modes = (_OK, _RAISE, _STOP)  # recv_ok's, recv's, __anext__'s
    park = (PARK, waitReasonChanSend, waitReasonChanReceive, _closed, ClosedChannelError, modes)
    c.setup_chan(Chan, Sudog, SelectWait, G, *helpers, ops, docs, park)  # sets the methods on Chan


_accelerate()
