"""A borrowed M: a thread outside the runtime that lends itself to the scheduler for a while.

gosched.aio's run_forever lends the main thread (docs/aio.md, "The main thread
as an M"): asyncio's main task must run its steps there (``signal.signal``
works only there: aio-bugs #3), and posting each step to it from an M cost two
thread hand-offs per step (aio-bugs #14). Go has no counterpart. Go's
LockOSThread wires a G to an M that runs nothing else (lockedm.py); a borrowed
M runs any goroutine, like any M, and only the goroutines *bound* to it
(``gp.lockedm``, the main task's) are kept to it. So tasks that ping-pong with
the main task run on the main thread, with no hand-off at all.

A hand-off happens only when another M finds a bound G runnable (schedule's
``startlockedm`` → ``handto``): if the borrowed M idles, it is handed that M's P
with the G (Go's startlockedm); if it runs a goroutine, or lost its P to sysmon
and is not back yet, the G is queued for it (``Borrow.q``) and it takes it at
its next trip through the scheduler (``between``), or, back without a P, puts it
on the global queue (still bound) for the next M to hand over with a P.

The borrowed M never sleeps in netpoll nor on the idle list: idle, it waits on
the lender's wait (the main thread's signal-serving one, sigwait.SignalNote),
counted in ``nmidlelocked`` as a locked M asleep is (checkdead leaves it out).
Every round (the C rounds too, which return to schedule's loop for it) it checks
``Borrow.pending`` between goroutines: the lender's work (``serve``: calls made to the main
thread, deferred signal handlers) and its request to leave. Leaving
(``giveback``), it hands its P off, unbinds its Gs and requeues those handed to
it; the lender's thread goes on as before, and borrows the same M next time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from .mgr import acquirep, activems, allocm, breakpoller, handoffp, injectglist, releasep, startm
from .runq import drainreadyq, pidleget, runqput, takereadyq
from .runtime2 import G, M, Sched
from .timers import timesleepuntil
from .traps import setm


class Borrow:
    """A borrowed M's state (``m.borrowed``); ``q``, ``idle`` and ``bound`` under ``sched.lock``."""

    __slots__ = ("bound", "idle", "leave", "pending", "q", "serve", "wait", "wakefn")

    def __init__(self, wait: Callable[[], None], wakefn: Callable[[], None], serve: Callable[[], None]):
        self.wait = wait  # the lender's sleep (the main thread's: signals wake it too)
        self.wakefn = wakefn  # ends that sleep
        self.serve = serve  # the lender's work, run between goroutines and when idle
        self.bound: set[G] = set()
        self.q: deque[G] = deque()  # bound Gs handed to it while it was busy (handto)
        self.idle = False  # asleep in idle() without a P, counted in nmidlelocked
        self.leave = False  # the lender wants its thread back
        # Something for its next trip through the scheduler: q, leave, serve's work.
        # Read without a lock between goroutines: a stale False only waits one round.
        self.pending = False


def borrow(sched: Sched, m: M | None, b: Borrow, gs: Iterable[G]) -> M:
    """This thread becomes an M of ``sched`` (``m`` again if it was sched's), with ``gs`` bound to it.

    The caller then runs ``proc.schedule`` on it, and ``giveback`` when that returns.
    """
    with sched.lock:
        if m is None or m.sched is not sched:
            m = allocm(sched)  # a thread of its own is never started: this one lends itself
        else:
            sched.nmfreed -= 1  # counted freed while away (giveback)
            m.freed = False
        m.borrowed = b
        for gp in gs:
            gp.lockedm = m
            b.bound.add(gp)
    m.bindthread()
    setm(m)
    return m


def unbind(sched: Sched, gp: G) -> None:
    """``gp`` ends (its driver's finally): unbound (goexit0 would take a locked G's M along)."""
    m = gp.lockedm
    if m is None or m.borrowed is None:
        return
    with sched.lock:
        if gp.lockedm is m:
            gp.lockedm = None
            m.borrowed.bound.discard(gp)


def handto(sched: Sched, m: M, gp: G, lm: M) -> bool:
    """``startlockedm`` for a borrowed ``lm``: M ``m`` found ``gp``, bound to ``lm``, runnable.

    False: run it here: ``m`` is ``lm``; or the lender took its thread back (unbound);
    or sysmon retook ``lm``'s P from another goroutine stuck on it, which would hold gp
    up for as long (the lender's code then runs gp's steps where they are: mainthread.py).
    True: ``lm`` has it; if ``lm`` was idle it has this M's P too and this M stops,
    else this M goes on with its P.
    """
    if lm is m or lm.lostp_since:
        return False
    b = lm.borrowed
    assert b is not None
    p = m.p
    assert p is not None
    if m.readyq:  # before the lock: the P may go to lm with it
        drainreadyq(sched, m, p)
    with sched.lock:
        if gp.lockedm is not lm:
            return False
        b.q.append(gp)
        b.pending = True
        if not b.idle:
            return True  # it takes gp between two goroutines (between), or in idle()
        b.idle = False
        sched.nmidlelocked -= 1
        releasep(m)
        lm.nextp = p
    b.wakefn()
    return True


def wake(b: Borrow) -> None:
    """The lender has work for the borrowed M (a call, a deferred signal handler, leave)."""
    b.pending = True
    b.wakefn()


def between(m: M, b: Borrow) -> bool:
    """Between two goroutines, ``b.pending``: the lender's work, then a G handed over (to run
    next, from ``m.readyq``, if ``m`` holds a P; else idle() takes it). True: leave."""
    b.pending = False
    b.serve()
    if b.leave:
        return True
    if b.q and m.p is not None:
        with m.sched.lock:
            if b.q:
                m.readyq.append(b.q.popleft())
            b.pending = bool(b.q)
    return False


def idle(m: M) -> bool:
    """proc.idle for a borrowed M without a P: serve the lender and wait for a G handed over.

    True holding a P (the handed Gs queued first on it); False to leave (the lender's
    request, or the run ended).
    """
    sched, b = m.sched, m.borrowed
    assert b is not None
    while True:
        b.pending = False
        b.serve()
        with sched.lock:
            if b.leave or sched.dead:
                return False
            p = m.nextp
            m.nextp = None
            if p is None and b.q:
                p = pidleget(sched)
            gs = list(b.q)
            b.q.clear()
            if p is None:
                # No P for them: to the global queue, still bound, for the M that takes one to
                # hand it over with its P (handto, which finds this M idle: set under this lock).
                sched.runq.extend(gs)
                b.idle = True
                sched.nmidlelocked += 1  # Go's incidlelocked(1), as stoplockedm
                last = activems(sched) == 0
            else:
                acquirep(m, p)
        if p is not None:
            for i, gp in enumerate(gs):
                runqput(sched, p, gp, i == 0)
            return True
        if last:  # an M that goes idle runs checkdead (proc.idle), as stoplockedm does
            startm(sched, None, False)
        else:
            # proc.idle's step before stopm: the M in netpoll may have read its sleep before
            # a timer this M just added (a task's asyncio.sleep); it slept on, nobody fired it.
            polluntil = timesleepuntil(sched)
            if polluntil:
                breakpoller(sched, polluntil)
        try:
            b.wait()
        finally:
            with sched.lock:
                if b.idle:  # woken by the lender or a signal, not by handto
                    b.idle = False
                    sched.nmidlelocked -= 1


def giveback(m: M) -> None:
    """The lender takes its thread back: hand off the P, unbind the Gs, requeue those handed over."""
    sched, b = m.sched, m.borrowed
    assert b is not None
    p = m.p
    if p is not None and m.readyq:
        drainreadyq(sched, m, p)
    gs = takereadyq(m)
    with sched.lock:
        for gp in b.bound:
            if gp.lockedm is m:
                gp.lockedm = None
        b.bound.clear()
        gs.extend(b.q)
        b.q.clear()
        if b.idle:
            b.idle = False
            sched.nmidlelocked -= 1
        if p is not None:
            releasep(m)
        elif m.nextp is not None:  # handed over as it left (handto): on to another M
            p, m.nextp = m.nextp, None
        m.borrowed = None
        m.freed = True
        sched.nmfreed += 1
    setm(None)
    if p is not None:
        handoffp(sched, p)
    injectglist(sched, gs)
