"""A loop's turn: one task step or callback at a time, passed as a baton (issue 12).

asyncio code assumes that nothing else of its loop runs between two awaits. A
loop's task steps, callbacks and I/O callbacks each hold its *turn*: the loop
keeps the goroutine that holds it (``holder``) and a FIFO of the goroutines
waiting for it (``waiters``, parked, not runnable). When the holder yields, it
hands the turn straight to the first waiter and readies it into runnext, as
Go's semrelease(handoff=true) hands a semaphore to the next waiter: only the
holder is runnable, so the loop's goroutines never convoy on a lock across Ms
(the per-step Mutex this replaces did: docs/aio-bugs.md #8). A task woken by a
future, or just created, is queued for the turn instead of made runnable while
the turn is held; the holder's hand-off starts it.

The exception is Go's: sysmon retakes the P of a task stuck in its own code (a
blocking call, a CPU loop) and ``retaken`` passes its turn on at once, so the
others go on; the stuck step finishes beside them and queues for the turn
again at its next step. A task stuck inside asyncio's or ssl's code keeps the
turn (two Ms inside one ssl.SSLObject crash: docs/aio-bugs.md #7).

A plain goroutine that runs asyncio code holds the turn the same way, from each resume
to its next yield (``turnheld``), once its first asyncio call gave it a task identity.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections import deque
from collections.abc import Callable, Generator
from types import FrameType
from typing import Any

from .._runtime import mgr, proc, speedups, traceback
from .._runtime.lock import lock, lockslow, newlock
from .._runtime.runtime2 import G, Gwaiting, M, Sched, waitReasonAsyncioTurn
from .._runtime.traps import PARK, getm

_cgoready = speedups.goready  # proc.goready from an M, in C (None: the pure-Python path)


class Turn:
    """The holder and the waiters of one loop's turn, guarded by a runtime lock."""

    __slots__ = ("defer", "first", "holder", "kick", "lk", "ready", "waiters")

    def __init__(self, ready: deque[Any] | None = None, kick: Callable[[], None] | None = None) -> None:
        self.lk = newlock()
        self.holder: G | None = None
        self.waiters: deque[G] = deque()
        # The task whose first step the holder (the loop's dispatcher) runs, else None:
        # a retake passes the turn from the dispatcher only in one (passturn).
        self.first: Any = None
        # Steps that go on after a retake passed their turn on (passturn), by goroutine: what
        # each schedules (callbacks, wake-ups, new tasks: the loop's call_soon and create_task
        # put them here) joins the ready queue when it ends (flush), as asyncio runs what a
        # step schedules only after it. None while no step overlaps.
        self.defer: dict[G, list[Any]] | None = None
        self.ready = ready  # the loop's ready queue, and what wakes its dispatcher (flush)
        self.kick = kick


@types.coroutine
def taketurn(turn: Turn, gp: G) -> Generator[Any, Any, None]:
    """Hold ``turn`` (running goroutine ``gp``): at once if free or handed to ``gp``, else park for it."""
    lk = turn.lk
    try:  # lock(lk), in line: this runs at every step
        lk.pop()
    except IndexError:
        lockslow(lk)
    h = turn.holder
    if h is None:
        turn.holder = gp
    elif h is not gp:
        turn.waiters.append(gp)
        yield (PARK, lk, waitReasonAsyncioTurn)  # the lock is released once gp is off the CPU
        return  # handon made gp the holder before readying it
    lk.append(1)


@types.coroutine
def queueturn(
    turn: Turn, ready: deque[Any], wake: Any, kick: Callable[[], None]
) -> Generator[Any, Any, None]:
    """A step yielded (``asyncio.sleep(0)``) while callbacks are queued: park behind them.

    asyncio runs such a task after the callbacks queued before it (its ``__step``
    goes to the ready queue's tail). ``wake`` goes there, and ``kick`` wakes the
    dispatcher, which readies the goroutine for the turn when it reaches it.
    Under the turn's lock, so the wake-up cannot come before the park.
    """
    lk = turn.lk
    lock(lk)
    ready.append(wake)
    kick()
    yield (PARK, lk, waitReasonAsyncioTurn)  # the lock is released once off the CPU


def giveturn(turn: Turn, gp: G, sched: Sched, m: M | None) -> None:
    """``gp`` yields: hand the turn to the first waiter (nothing if retaken passed it on already)."""
    lk = turn.lk
    try:  # lock(lk), in line: this runs at every step
        lk.pop()
    except IndexError:
        lockslow(lk)
    if turn.holder is gp:
        _handon(turn, sched, m)
    else:
        lk.append(1)
        if turn.defer is not None:
            flush(turn, gp)


def flush(turn: Turn, gp: G) -> None:
    """A step a retake passed the turn from has ended: what it scheduled meanwhile joins the
    loop's ready queue now (Turn.defer)."""
    lock(turn.lk)
    d = turn.defer
    items = d.pop(gp, None) if d is not None else None
    if d is not None and not d:
        turn.defer = None
    turn.lk.append(1)
    if items and turn.ready is not None and turn.kick is not None:
        turn.ready.extend(items)
        turn.kick()


def _handon(turn: Turn, sched: Sched, m: M | None) -> None:
    """With ``turn.lk`` held: the next waiter holds the turn and runs next (semrelease's handoff)."""
    w = turn.waiters
    if not w:
        turn.holder = None
        turn.lk.append(1)
        return
    nxt = turn.holder = w.popleft()
    turn.lk.append(1)
    if m is not None and _cgoready is not None:  # from an M (giveturn): in C, at every task step
        _cgoready(nxt)
    else:
        proc.goready(nxt, sched, m)


class Wake:
    """A future's done-callback that readies the goroutine parked on it (gosched._aio.task).

    The gosched loop's call_soon recognises it and readies the goroutine at once,
    without a trip through the loop's callback queue. A task's goroutine, which
    takes its loop's turn first when it resumes, is queued for the turn if it is
    held (turnready, in line: this runs at every wake-up).
    """

    __slots__ = ("gp", "sched", "turn")

    def __init__(self, gp: G, sched: Sched, turn: Turn | None) -> None:
        self.gp = gp
        self.sched = sched
        self.turn = turn  # a task's loop's turn, which its goroutine takes first when it resumes

    def __call__(self, fut: Any) -> None:
        sched = self.sched
        if sched.dead:  # its run ended (the goroutine was closed): nothing to wake
            return
        gp = self.gp
        gp.blockedon = None
        turn = self.turn
        if turn is None:  # a plain goroutine: woken ones resume in wake-up order, as call_soon's
            mgr.goreadytail(gp, sched)
            return
        lk = turn.lk
        try:  # lock(lk), in line
            lk.pop()
        except IndexError:
            lockslow(lk)
        if turn.holder is None:
            turn.holder = gp
            lk.append(1)
            mgr.goreadytail(gp, sched)
            return
        gp.status = Gwaiting
        gp.waitreason = waitReasonAsyncioTurn
        turn.waiters.append(gp)
        lk.append(1)


# Wake.__call__(w, fut): in C when accelerated (_speedups_aio.h wake, which calls w(fut) for
# what it does not handle: a plain goroutine's, a contended turn lock).
wakeup: Callable[[Wake, Any], Any] = speedups.c.wake if speedups.c is not None else Wake.__call__


def turnready(turn: Turn, gp: G, sched: Sched) -> None:
    """Ready parked goroutine ``gp`` that will take ``turn`` first: queue it for the turn if held.

    For a task woken by a future or just created: readying it while another
    goroutine holds the turn would only have it park again on the turn, maybe
    on another M.
    """
    wakeup(Wake(gp, sched, turn), None)


@types.coroutine
def turnheld(inner: Any, turn: Turn, gp: G, sched: Sched, task: Any) -> Generator[Any, Any, Any]:
    """A plain goroutine that runs asyncio code (``task``: its identity) holds its loop's turn
    from each resume to its next yield, as a task's step does (docs/aio-bugs.md #9).

    asyncio code assumes that nothing else of its loop runs between two awaits (anyio's
    cancel scopes, a client's connection pool); a plain goroutine used to run beside the
    loop's steps and callbacks on another M. This generator takes the goroutine's place
    (``gp.coro``) at its first asyncio call, primed to its first ``yield``, so the M's next
    resume sends here and on into ``inner``. A future it parks on is its task's
    ``_fut_waiter`` from before the turn is given up, so a ``cancel()`` by the next holder
    always finds it (Task.__step's order). sysmon passes the turn on from a goroutine stuck
    in its own code (task.retaken), as from a task.
    """
    y: Any = None  # primed to the first yield below: what the M sends next is for inner's pending await
    while True:
        val: Any = None
        exc: BaseException | None = None
        try:
            val = yield y
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as e:
            exc = e
        try:
            if turn.holder is not gp:
                yield from taketurn(turn, gp)
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as e:  # thrown in while it waited for the turn: on to inner
            exc = e
            _leaveline(turn, gp)
        task._gwaiter = None
        try:
            y = inner.send(val) if exc is None else inner.throw(exc)
        except StopIteration as e:
            giveturn(turn, gp, sched, getm())
            return e.value
        except BaseException:
            giveturn(turn, gp, sched, getm())
            raise
        if type(y) is not tuple and getattr(y, "_asyncio_future_blocking", None):  # a future, not a trap
            task._gwaiter = y
            c = task._gcancel
            if c is not None and y.cancel(msg=c[0]):
                task._gcancel = None
        giveturn(turn, gp, sched, getm())


def _leaveline(turn: Turn, gp: G) -> None:
    """``gp`` stops waiting for the turn (an exception was thrown in): out of the line, unless
    the turn was handed to it meanwhile (it holds it then, and gives it up at its next yield)."""
    lock(turn.lk)
    if turn.holder is not gp:
        with contextlib.suppress(ValueError):
            turn.waiters.remove(gp)
    turn.lk.append(1)


def holdturn(gp: G, turn: Turn, sched: Sched, task: Any) -> None:
    """Put ``turnheld`` in place of running goroutine ``gp``'s coroutine (its first asyncio call).

    The rest of the slice runs as before, without the turn: the goroutine cannot park
    for it here, and a turn taken now would be held over the yield that ends the slice.
    """
    w = turnheld(gp.coro, turn, gp, sched, task)
    next(w)
    gp.coro = w


_MACHINERY = ("asyncio", "ssl", "gosched", "selectors")
# Code that a stuck call must not be under for the turn to pass: asyncio's, ssl's and the
# selector's objects are mid-operation there (a transport, an SSLProtocol, a future's
# callbacks), and an import holds a module half-initialised under the import lock.
_UNDER = ("asyncio", "ssl", "selectors", "importlib")


def _sharable(frames: list[FrameType]) -> bool:
    """May the turn pass from a step stuck in ``frames`` (outermost first)? Only if no frame
    between the stuck call and the task's driver is the loop's machinery or an import: not
    from code that asyncio's code called (a protocol method called by sslproto, a socket
    call made by create_connection), where the next holder could enter the same objects.
    An asyncio coroutine that awaits the coroutine above it (3.12's ``wait_for`` runs the
    awaited one in line) is at an await: its objects are as any await leaves them."""
    if not frames or _modname(frames[-1]).startswith(_MACHINERY):
        return False
    callee = frames[-1]
    for f in reversed(frames):
        name = _modname(f)
        if name.startswith("gosched"):
            return True  # down to the task's driver
        if name.startswith(_UNDER) and not (_awaiting(f) and _awaiting(callee)):
            return False
        callee = f
    return True


_CO_AWAITS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _awaiting(f: FrameType) -> bool:
    return bool(f.f_code.co_flags & _CO_AWAITS)


def _modname(f: FrameType) -> str:
    return str(f.f_globals.get("__name__", ""))


def passturn(turn: Turn, sched: Sched, m: M, gp: G, first: Any = None) -> bool:
    """sysmon retook the P of ``gp`` on M ``m``: pass its turn on, unless inside the loop's machinery.

    ``first`` is the task whose first step ``gp``, the loop's dispatcher, runs (None for a
    task's own goroutine): the turn passes only if that step still runs (endfirst).
    Whether it passed.
    """
    # The stack through traceback.thread_frames: walking another thread's f_back with the
    # collector on can crash 3.11 (gh-106883).
    if turn.holder is not gp or not _sharable(traceback.thread_frames(m.ident, lambda f: False)):
        return False
    lk = turn.lk
    lock(lk)
    if turn.holder is gp and turn.first is first:
        turn.first = None
        if turn.defer is None:
            turn.defer = {}
        turn.defer.setdefault(gp, [])  # what the rest of the step schedules waits for its end
        _handon(turn, sched, None)
        return True
    lk.append(1)
    return False


def endfirst(turn: Turn, gp: G) -> bool:
    """The dispatcher ``gp`` ends a task's first step: does it still hold the turn (not passed on
    by a retake)?"""
    lk = turn.lk
    try:  # lock(lk), in line: this runs at every task's first step
        lk.pop()
    except IndexError:
        lockslow(lk)
    turn.first = None
    held = turn.holder is gp
    lk.append(1)
    if not held and turn.defer is not None:
        flush(turn, gp)
    return held
