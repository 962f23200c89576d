"""lock_os_thread (Go's LockOSThread: proc.go's lockOSThread, dolockOSThread,
startlockedm, stoplockedm, mexit) and m0, run()'s own thread.

A locked G runs only on its M, and that M runs nothing else. When the G blocks,
its M hands its P off and sleeps (stoplockedm); whichever M later finds the G
runnable hands that M its P and stops itself (startlockedm). Go's lockedExt
(the user's nested count) and lockedInt (the runtime's own: main on m0 until
main first blocks, as Go locks main through init) are kept on the M. A locked
M asleep is counted in ``sched.nmidlelocked``, which checkdead leaves out of
the running Ms (mgr.activems), as Go does. See docs/design.md, "m0 and locked
goroutines".
"""

from __future__ import annotations

from typing import Any

from .mainm import handto
from .mgr import acquirep, activems, handoffp, injectglist, releasep, startm
from .panic import wakefd
from .runq import drainreadyq, globrunqput, runqput
from .runtime2 import G, Grunnable, M, Sched
from .traps import SYSCALL


class Reissue(BaseException):
    """``gp.exc`` for a goroutine whose trap, in ``gp.param``, another M handles (syscallaway)."""


REISSUE = Reissue()


def lockosthread(m: M, gp: G) -> None:
    """``gp``, running on ``m``, is wired to it (Go's LockOSThread → dolockOSThread)."""
    m.lockedext += 1
    m.lockedg = gp
    gp.lockedm = m
    gp.preempt = True  # the loop re-reads m.lockedg at gp's next trap (proc.schedule)


def unlockosthread(m: M, gp: G) -> None:
    """Undo one lockosthread; an extra call is a no-op (Go's UnlockOSThread)."""
    if m.lockedext == 0:
        return
    m.lockedext -= 1
    if m.lockedext == 0 and m.lockedint == 0:
        dounlockosthread(m, gp)
        gp.preempt = True  # the loop re-reads m.lockedg at gp's next trap (proc.schedule)


def dounlockosthread(m: M, gp: G) -> None:
    gp.lockedm = None
    if m is not m.sched.m0:  # m0 keeps lockedg until its loop sees the end (stoplockedm)
        m.lockedg = None


def stoplockedm(m: M) -> G | None:
    """The locked G blocked: hand off the P and sleep until it is runnable (Go's stoplockedm).

    Returns it, this M holding a P to run it on; None if the run ended, or if
    this is m0 and main is no longer locked to it (m0 leaves the scheduler then:
    run() serves signals on it, sigwait.py).
    """
    sched = m.sched
    gp = m.lockedg
    assert gp is not None
    if m.lockedint and endinit(sched, m, gp):  # main was readied already: run it
        return gp
    if gp.lockedm is not m:  # m0, and main is unlocked
        mexit(sched, m)
        return None
    p = m.p
    if p is not None:
        if m.readyq:
            drainreadyq(sched, m, p)
        handoffp(sched, releasep(m))
    with sched.lock:
        sched.nmidlelocked += 1  # Go's incidlelocked(1)
        last = activems(sched) == 0 and not sched.dead
    if last:  # an M that goes idle runs checkdead (proc.idle), as incidlelocked would
        startm(sched, None, False)
    m.blocked = True
    if m.parkfn is None:
        m.park.acquire()  # notesleep(&m.park): startlockedm hands us a P, or shutdown
    else:
        m.parkfn()
    m.blocked = False
    p = m.nextp
    if sched.dead or p is None:
        return None
    m.nextp = None
    acquirep(m, p)
    return gp


def endinit(sched: Sched, m: M, gp: G) -> bool:
    """Main first blocked: the runtime's lock of main to m0 ends (Go: at the end of init).

    Under ``sched.lock``, against startlockedm: if an M has handed main back to
    m0 already (main was readied at once), m0 runs it, keeping the lock until
    main's next block; True then, with m0 holding that P.
    """
    with sched.lock:
        p = m.nextp
        if p is None:
            m.lockedint = 0
            if not m.lockedext:
                dounlockosthread(m, gp)
            return False
        m.nextp = None
        sched.nmidlelocked += 1  # startlockedm counted m0 out of it
    # Consume startlockedm's notewakeup, which it sends after dropping sched.lock: left
    # pending, m0's next sleep would return at once with no P, and the next
    # startlockedm's release of an unlocked park would raise (Go: noteclear).
    m.park.acquire()
    old = m.p
    if old is not None:
        handoffp(sched, releasep(m))
    acquirep(m, p)
    return True


def startlockedm(sched: Sched, m: M, gp: G, lm: M) -> bool:
    """``gp`` is locked to ``lm``, which the caller read from ``gp.lockedm`` once: hand
    lm our P, which runs gp there; this M stops (Go's startlockedm + stopm: the
    caller's loop idles without a P).

    False if main's lock to m0 ended meanwhile (endinit, under ``sched.lock``): run
    gp here. The caller must not read ``gp.lockedm`` again: endinit may clear it
    between two reads, which once failed an assertion here (the stress test's
    random programs, CI on 3.11). A borrowed ``lm`` (gosched.aio's main thread,
    which runs other goroutines too) is handed gp its own way (mainm.handto).
    """
    if lm.borrowed is not None:
        return handto(sched, m, gp, lm)
    p = m.p
    assert p is not None
    if m.readyq:
        drainreadyq(sched, m, p)
    with sched.lock:
        if gp.lockedm is not lm:
            return False
        sched.nmidlelocked -= 1
        releasep(m)
        lm.nextp = p
    lm.park.release()  # notewakeup(&mp.park)
    if lm.parkfn is not None:  # m0 sleeps in poll: wake it there
        wakefd(sched)
    return True


def mexit(sched: Sched, m: M) -> None:
    """This M leaves the scheduler (Go's mexit): a G exited locked to it, or m0's main
    is unlocked. Its P goes to another M, which runs checkdead if nothing is left."""
    m.lockedg = None
    m.lockedext = m.lockedint = 0
    p = m.p
    if p is not None:
        if m.readyq:
            drainreadyq(sched, m, p)
        releasep(m)
    with sched.lock:
        sched.nmfreed += 1
        m.freed = True
    startm(sched, p, False)


def syscallaway(sched: Sched, m: M, gp: G, fn: Any, args: Any) -> None:
    """Main's first syscall, not locked by the user: not on m0, whose thread must
    stay free to run Python's signal handlers (sigwait.py). Main's lock to m0
    ends (endinit) and the M that next runs main makes the call (REISSUE).

    A syscall on a borrowed M (mainm.py), but for its own Gs': the lender's thread
    must stay free too (for stop() and signals), so gp goes with this M's P to another M.
    """
    if m.borrowed is None:
        with sched.lock:
            m.lockedint = 0
            dounlockosthread(m, gp)
    m.curg = None
    gp.param = (SYSCALL, fn, args)
    gp.exc = REISSUE
    gp.status = Grunnable
    p = m.p
    if m.borrowed is None:
        globrunqput(sched, gp)
    elif p is None:
        injectglist(sched, [gp])  # for an M with a P
    else:
        if m.readyq:
            drainreadyq(sched, m, p)
        releasep(m)
        runqput(sched, p, gp, True)
        startm(sched, p, False)


def resumethrow(gp: G, exc: BaseException) -> Any:
    """execute's resume with an error for gp (gp.exc), raised where it awaits; REISSUE
    (lockedm) resumes nothing: the trap it yielded, kept in gp.param, is handled again."""
    gp.exc = None
    return gp.param if exc is REISSUE else gp.coro.throw(exc)
