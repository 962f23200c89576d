"""The fake clock's bubble: durable blocking, testing.wait and the clock's jumps
(Go's runtime/synctest.go and checkdead's faketime branch).

Under ``clock="fake"`` the whole program is one synctest bubble. When every
goroutine is *durably* blocked (only another goroutine of the program can wake
it) checkdead asks this module what to do: wake the ``testing.wait()`` caller,
end the run if main has returned, or jump the clock to the next timer and fire
it. Unlike synctest, a goroutine waiting for a Mutex whose holder is a
goroutine counts as durably blocked: synctest cannot know who holds a Go mutex
and must assume someone outside the bubble might; gosched's Mutex records its
owner, and the whole program is the bubble.

*Foreign* objects are never durable (docs/checkdead.md, "the foreign rule"): a
Chan, Mutex or WaitGroup that a still-running plain thread has used through its
``*_blocking`` API (``obj.fusers``), that the program marked with
``obj.foreign = True``, or a channel ``gosched.signal.notify`` registered
(``sigqueue.watched``): something outside the goroutines may signal it.
"""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import Any

from . import panic, runq, sigqueue
from . import timers as _timers
from .errors import Goexit
from .runtime2 import G, Grunnable, Gwaiting, Sched, waitReasonSynctestWait
from .traps import PARK, require_m, trap


class Bubble:
    """What checkdead needs beyond Sched: the testing.wait() caller and main's fate."""

    __slots__ = ("lock", "main_returned", "result", "waiter")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards waiter (and is the unlockf of its park)
        self.waiter: G | None = None
        self.main_returned = False  # fake clock: main returned; run() waits for the rest
        self.result: Any = None


_bubbles_lock = threading.Lock()  # makes sched.bubble once


def bubble(sched: Sched) -> Bubble:
    b: Bubble | None = sched.bubble
    if b is None:
        with _bubbles_lock:
            b = sched.bubble
            if b is None:
                b = sched.bubble = Bubble()
    return b


async def root(sched: Sched, coro: Coroutine[Any, Any, Any]) -> Any:
    """Goroutine 1 under the fake clock: synctest.Test's root.

    When main returns, the program goes on until every goroutine it started has
    exited (time stops advancing, as in synctest); checkdead then ends it with
    main's result, or reports ``BUBBLE_MAIN_EXITED`` if some remain blocked.
    """
    r = await coro
    b = bubble(sched)
    b.result = r
    b.main_returned = True
    raise Goexit()


async def wait() -> None:
    """Park until every other goroutine is durably blocked (synctest.Wait); see gosched.testing."""
    m = require_m("gosched.testing.wait", "")
    gp = m.curg
    b = bubble(m.sched)
    lk = b.lock
    lk.acquire()
    if b.waiter is not None:
        lk.release()
        raise RuntimeError("wait already in progress")
    b.waiter = gp
    gp.blockedon = None
    # The M's loop releases b.lock once we are off our stack (gopark's unlockf):
    # checkdead takes b.lock before waking us, so it cannot wake us too early.
    await trap(PARK, lk, waitReasonSynctestWait)


# --- durable blocking ---------------------------------------------------------------------


def liveusers(obj: Any) -> int:
    """Plain threads that used ``obj``'s blocking API and still live (blocking.adduser)."""
    return sum(1 for r in getattr(obj, "fusers", ()) if r() is not None)


def foreign(obj: Any) -> bool:
    """Something outside the goroutines may wake a goroutine blocked on ``obj`` (or a select's list)."""
    if isinstance(obj, list):
        return any(foreign(o) for o in obj)
    return bool(getattr(obj, "foreign", False)) or liveusers(obj) > 0 or id(obj) in sigqueue.watched


def durable(gp: G) -> bool:
    """Blocked so that only another goroutine of this program can wake it (synctest's idea)."""
    return gp.status == Gwaiting and gp.waitreason.durable and not foreign(gp.blockedon)


# --- checkdead's bubble branch (sched.lock held, no M active) -------------------------------


def wakewaiter(sched: Sched) -> bool:
    """Ready the testing.wait() caller, if any: everyone else is durably blocked.

    synctest's maybeWakeLocked prefers the Wait caller over advancing the clock.
    """
    b = bubble(sched)
    with b.lock:
        w = b.waiter
        b.waiter = None
    if w is None:
        return False
    w.status = Grunnable
    runq.globrunqput(sched, w)
    return True


def endmain(sched: Sched) -> bool:
    """No goroutine is left: if main had returned, end the run with its result."""
    b = bubble(sched)
    if not b.main_returned:
        return False
    sched.result = b.result
    panic.finish_locked(sched)
    return True


def advance(sched: Sched, when: int) -> None:
    """Move the fake clock to the first timer, at ``when`` or before (checkdead's faketime branch).

    Unrelated earlier timers fire at their exact times too. This M is about to
    fire the timers and take a P to run what they ready: it counts as spinning
    meanwhile so goready does not wake a second M (Go: nmspinning++,
    mp.spinning); firetimers undoes it.
    """
    nxt = _timers.timesleepuntil(sched)
    if nxt and nxt < when:
        when = nxt
    if when > sched.faketime:
        sched.faketime = when
    sched.nmspinning += 1


def firetimers(sched: Sched) -> None:
    """After checkdead's JUMPED verdict: fire what is due at the new virtual time, on this M.

    idle() calls it only once this M counts as active again: a timer popped
    but not yet fired is invisible to checkdead, so only an active M may hold
    one (another M going idle meanwhile would not run checkdead). Fired here
    rather than left to whichever P idle() picks: the timer may sit on another
    P's heap, and no M owns a P now. Callbacks only ready goroutines (onto the
    global queue).
    """
    now = sched.faketime
    try:
        for p in list(sched.allp):
            if p.timer0when and p.timer0when <= now:
                _timers.runtimers(p, now)
    finally:
        with sched.lock:
            sched.nmspinning -= 1
