"""The scheduler (Go's runtime/proc.go): newproc, goready, schedule, findRunnable,
run queues, work stealing, startm/idle (stopm)/wakep/handoffp and the syscall protocol.

An M is an OS thread running ``schedule``. It owns at most one P; user code runs
inside ``coro.send`` with the P *published* (``p.tok`` holds one item) so that sysmon can
take it away (see runtime2's ownership rules). When the goroutine yields a trap,
the loop pops the token back; if the pop fails, sysmon took the P while the
goroutine ran and the M takes Go's exitsyscall slow path: find an idle P or put
the goroutine on the global queue and stop.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, NoReturn

from . import speedups
from . import timers as _timers
from .lock import held, lock2
from .runtime2 import (
    FAIRNESS_TICK,
    GOID_CACHE_BATCH,
    RUNQ_SIZE,
    STEAL_TRIES,
    G,
    Gdead,
    Grunnable,
    Grunning,
    Gsyscall,
    Gwaiting,
    M,
    P,
    Pdead,
    Pidle,
    Prunning,
    Sched,
    waitReasonSleep,
    waitReasonSyscall,
    waitReasonZero,
)
from .speedups import EXIT as _EXIT
from .speedups import Returned
from .traps import GOSCHED, PARK, SLEEP, SYSCALL, closing, getm, preempted, setm


class Goexit(BaseException):
    """Raised by ``gosched.goexit()``; unwinds the goroutine through its finally blocks."""


class Fatal(BaseException):
    """An unrecoverable runtime error, worded as Go's ``fatal error: ...``.

    Go's ``fatal`` cannot be recovered: the process dies even under ``recover()``.
    Here it is a BaseException (like Goexit), so ``except Exception`` lets it
    through, and ``throw`` records it on the scheduler where it is raised, so a
    goroutine that catches it anyway does not go on: the run ends at its next
    scheduling point and ``run()`` raises it.
    """


# The running scheduler, for threads that are not Ms (sysmon, foreign threads).
current: Sched | None = None

# Set in a child process forked from a goroutine (fork.py): the forking M, and
# what it does when its scheduler loop returns (the rest of that goroutine as
# plain Python, then the process exits; never returns).
afterfork: tuple[M, Callable[[], None]] | None = None


log = logging.getLogger("gosched")

# The runtime's clock in ns (Go's nanotime). run(clock="fake") swaps in the
# virtual clock; everything reads it through this module attribute.
nanotime: Callable[[], int] = time.monotonic_ns

# checkdead's verdicts, which idle() acts on: go on idling; the program ended;
# grab a P and run (a woken testing.wait()); the fake clock moved, so fire the
# due timers (firetimers), then grab a P.
OK = 0
DEAD = 1
ADVANCED = 2
JUMPED = 3


def _nocheckdead(sched: Sched) -> int:
    return OK


def _nofiretimers(sched: Sched) -> None:
    pass


def _nolostp(sched: Sched, m: M, gp: G) -> None:
    pass


def _nowake(sched: Sched) -> None:
    pass


def _noforeignpark(sched: Sched, m: M, gp: G, obj: Any) -> bool:
    return False


def _nomstarted(m: M) -> None:
    pass


# Hooks into the monitors, which sit above the scheduler and import it: Go
# calls them directly (one package), the way mstart calls ``mp.mstartfn``.
# Each monitor installs its own when it is imported (deadlock.py, sysmon.py);
# the defaults are what a scheduler without that monitor does.
checkdead: Callable[[Sched], int] = _nocheckdead  # deadlock.checkdead
firetimers: Callable[[Sched], None] = _nofiretimers  # deadlock.firetimers
lostp_returned: Callable[[Sched, M, G], None] = _nolostp  # sysmon.lostp_returned
wakesysmon: Callable[[Sched], None] = _nowake  # sysmon.wake
# An event loop's awaitable yielded by a goroutine (an asyncio Future): park the
# goroutine on it and return True, or False to refuse it (gosched._aio.task).
foreignpark: Callable[[Sched, M, G, Any], bool] = _noforeignpark
# Each M, as it starts: per-thread state an upper layer needs on every M, such
# as asyncio's running loop (gosched._aio.loop).
mstarted: Callable[[M], None] = _nomstarted


# --- goroutine creation and readying ------------------------------------------------


def newgoid(sched: Sched, m: M | None) -> int:
    if m is not None:
        if m.goidcache == m.goidcacheend:
            lk = sched.lock
            if not lk.acquire(False):
                lock2(lk)
            m.goidcache = sched.goidgen + 1
            sched.goidgen += GOID_CACHE_BATCH
            m.goidcacheend = sched.goidgen + 1
            lk.release()
        gid = m.goidcache
        m.goidcache += 1
        return gid
    with sched.lock:
        sched.goidgen += 1
        return sched.goidgen


def newproc(
    sched: Sched,
    coro: Coroutine[Any, Any, Any],
    f: FrameType | None,
    m: M | None,
    fn: str = "",
    system: bool = False,
    tail: bool = False,
) -> G:
    """Create a goroutine and make it runnable (Go's newproc: into runnext).

    ``f`` is the caller's frame (its creation site), ``m`` the calling M or None
    on a thread that is not one. System goroutines (runtime helpers) are not in
    ``allgs``: they are neither counted by num_goroutine nor shown in dumps, as
    in Go.
    """
    if m is not None and m.goidcache != m.goidcacheend:
        gid = m.goidcache
        m.goidcache = gid + 1
    else:
        gid = newgoid(sched, m)
    cur = m.curg if m is not None else None
    gp = G(gid, coro, f, cur.goid if cur is not None else 0)
    if fn:
        gp.pc = fn  # a runtime helper: no creation site, a name (G.startfn)
    if not system:
        sched.allgs[gid] = gp
    if tail:
        goreadytail(gp, sched)
    else:
        goready(gp, sched, m)
    return gp


def goready(gp: G, sched: Sched | None = None, m: M | None = None) -> None:
    """Make a parked goroutine runnable (Go's goready → runqput(next=true) + wakep).

    Callable from a goroutine's frame, from an M's loop (timers), from sysmon or
    from a foreign thread; ``m``, when the caller has it at hand, is the calling
    M (saves the getm() lookup). On an M that holds a P the goroutine goes
    into the M's ``readyq`` and becomes the P's ``runnext`` when the loop next
    runs; anywhere else it goes on the global queue.
    """
    gp.status = Grunnable
    if m is None:
        m = getm()
    if m is not None:
        p = m.p
        if p is not None and not m.lostp_since:
            s = m.sched
            rq = m.readyq
            if rq:
                # Only one goroutine waits for runnext; an earlier one goes to the
                # runq tail, as Go's runqput(next=true) kicks the old runnext out.
                try:
                    old = rq.popleft()
                except IndexError:  # sysmon took it
                    pass
                else:
                    if len(p.runq) < RUNQ_SIZE:
                        p.runq.append(old)
                    else:
                        s.runq.append(old)  # globrunqput
            rq.append(gp)
            if s.npidle and not s.nmspinning:
                wakep(s)
            return
        if sched is None:
            sched = m.sched
    elif sched is None:
        sched = current
        if sched is None:
            raise RuntimeError("gosched: no runtime is running")
    sched.runq.append(gp)  # globrunqput
    if sched.npidle and not sched.nmspinning:
        wakep(sched)


def goreadytail(gp: G, sched: Sched) -> None:
    """Make ``gp`` runnable at the tail of this M's local run queue, not runnext.

    For asyncio's order (gosched._aio): tasks start, and woken tasks resume, in
    the order they were created or woken (call_soon's FIFO), where goready's
    runnext would run the last one first.
    """
    gp.status = Grunnable
    m = getm()
    p = m.p if m is not None and m.sched is sched and not m.lostp_since else None
    if p is not None and len(p.runq) < RUNQ_SIZE:
        p.runq.append(gp)
    else:
        sched.runq.append(gp)  # globrunqput
    if sched.npidle and not sched.nmspinning:
        wakep(sched)


def globrunqput(sched: Sched, gp: G) -> None:
    """Append to the global queue (Go's globrunqput).

    Lock-free: ``deque.append`` is atomic, and every consumer pops from the
    left under ``sched.lock``, so a concurrent append never disturbs a batch
    take. A thread that parks after seeing the queue empty is covered by the
    caller's ``wakep`` (or by the spinning M's re-check), as in Go.
    """
    sched.runq.append(gp)


def injectglist(sched: Sched, gs: list[G]) -> None:
    """Make a batch runnable from a thread without a P (Go's injectglist)."""
    if not gs:
        return
    for gp in gs:
        gp.status = Grunnable
    with sched.lock:
        sched.runq.extend(gs)
        n = min(len(gs), sched.npidle)
    for _ in range(n):
        startm(sched, None, False)


# --- local and global run queues (loop side: the M owns p) ----------------------------


def runqput(sched: Sched, p: P, gp: G, nxt: bool) -> None:
    if nxt:
        old = p.runnext
        p.runnext = gp
        if old is None:
            return
        gp = old
    if len(p.runq) < RUNQ_SIZE:
        p.runq.append(gp)
    else:
        runqputslow(sched, p, gp)


def runqputslow(sched: Sched, p: P, gp: G) -> None:
    """Move half the local queue plus ``gp`` to the global queue (Go's runqputslow)."""
    batch: list[G] = []
    q = p.runq
    for _ in range(len(q) // 2):
        try:
            batch.append(q.popleft())
        except IndexError:
            break
    batch.append(gp)
    with sched.lock:
        sched.runq.extend(batch)


def drainreadyq(sched: Sched, m: M, p: P) -> None:
    rq = m.readyq
    while rq:
        try:
            gp = rq.popleft()
        except IndexError:
            return
        runqput(sched, p, gp, True)


def globrunqget(sched: Sched, p: P, maxn: int) -> G | None:
    """Take a batch from the global queue; return one, the rest to p's runq."""
    lk = sched.lock
    if not lk.acquire(False):
        lock2(lk)
    q = sched.runq
    size = len(q)
    if not size:
        lk.release()
        return None
    n = min(size, size // max(sched.gomaxprocs, 1) + 1, RUNQ_SIZE // 2)
    if maxn > 0 and n > maxn:
        n = maxn
    gp = q.popleft()
    rest = [q.popleft() for _ in range(n - 1)]
    lk.release()
    if rest:
        p.runq.extend(rest)
    return gp


def runqsteal(p: P, victim: P) -> G | None:
    """Steal half of ``victim``'s local queue into ``p`` (Go's runqsteal)."""
    q = victim.runq
    n = len(q)
    if not n:
        return None
    n -= n // 2
    got: list[G] = []
    for _ in range(n):
        try:
            got.append(q.popleft())
        except IndexError:
            break
    if not got:
        return None
    gp = got[0]
    if len(got) > 1:
        p.runq.extend(got[1:])
    return gp


# --- Ps and Ms --------------------------------------------------------------------------


def pidleput(sched: Sched, p: P) -> None:
    # sched.lock held
    p.status = Pidle
    p.m = None
    if p.dying:
        pdestroy(sched, p)
        return
    sched.pidle.append(p)
    sched.npidle += 1


def pidleget(sched: Sched) -> P | None:
    # sched.lock held
    if not sched.pidle:
        return None
    p = sched.pidle.pop()
    sched.npidle -= 1
    if sched.sysmonwait:  # a P goes busy: sysmon must watch it again (docs/sysmon.md)
        sched.sysmonwait = False
        sched.sysmonnote.release()
    return p


def pdestroy(sched: Sched, p: P) -> None:
    """Retire a P that GOMAXPROCS shrank away: its work moves elsewhere (procresize)."""
    # sched.lock held
    p.status = Pdead
    moved = list(p.runq)
    p.runq.clear()
    if p.runnext is not None:
        moved.append(p.runnext)
        p.runnext = None
    sched.runq.extend(moved)
    sched.allp = [q for q in sched.allp if q is not p]
    for i, q in enumerate(sched.allp):
        q.id = i
    live = [q for q in sched.allp if not q.dying]
    if live:
        _timers.movetimers(p, live[0])


def acquirep(m: M, p: P) -> None:
    # A fresh token deque per owner. An M whose P sysmon took still holds the
    # old deque in its loop and pops it when its goroutine returns: that pop
    # must fail even if the P's next owner has published the P meanwhile (with
    # one deque for life it took the new owner's token, and both Ms ran as if
    # they held the P: an ABA on the handshake).
    p.tok = deque()
    p.m = m
    p.status = Prunning
    m.p = p


def releasep(m: M) -> P:
    p = m.p
    assert p is not None
    p.m = None
    m.p = None
    return p


def mput(sched: Sched, m: M) -> None:
    # sched.lock held
    sched.midle.append(m)
    sched.nmidle += 1


def mget(sched: Sched) -> M | None:
    # sched.lock held
    if not sched.midle:
        return None
    m = sched.midle.pop()
    sched.nmidle -= 1
    return m


def mcount(sched: Sched) -> int:
    return sched.mnext - sched.nmfreed


def activems(sched: Sched) -> int:
    """Ms that could still make progress (sched.lock held).

    Go's checkdead counts ``mcount - nmidle - nmsys``; the M blocked in netpoll
    is left out here too, because it may be sleeping on a timer that wakes nobody.
    """
    return mcount(sched) - sched.nmidle - sched.nmsys - (sched.lastpoll == 0)


def checkmcount(sched: Sched) -> None:
    # sched.lock held
    if mcount(sched) >= sched.maxmcount:
        msg = f"runtime: program exceeds {sched.maxmcount}-thread limit"
        sys.stderr.write(msg + "\nfatal error: thread exhaustion\n")
        fatal(sched, Fatal(f"thread exhaustion ({msg})"), locked=True)
        raise Fatal("thread exhaustion")


def allocm(sched: Sched) -> M:
    # sched.lock held
    checkmcount(sched)
    m = M(sched.mnext, sched)
    sched.mnext += 1
    sched.allm.append(m)
    return m


def newm(m: M, name: str = "") -> None:
    t = threading.Thread(target=mstart, args=(m,), name=name or f"gosched-M{m.id}", daemon=True)
    m.thread = t
    t.start()


def startm(sched: Sched, p: P | None, spinning: bool, lockheld: bool = False) -> None:
    """Run ``p`` (or an idle P) on an idle or new M (Go's startm)."""
    if not lockheld:
        sched.lock.acquire()
    try:
        if sched.dead:
            return
        if p is None:
            p = pidleget(sched)
            if p is None:
                if spinning:
                    sched.nmspinning -= 1
                return
        nmp = mget(sched)
        fresh = nmp is None
        if nmp is None:
            try:
                nmp = allocm(sched)
            except Fatal:
                pidleput(sched, p)
                return
        nmp.spinning = spinning
        nmp.nextp = p
    finally:
        if not lockheld:
            sched.lock.release()
    if fresh:
        newm(nmp)
    else:
        nmp.park.release()  # notewakeup(&nmp.park)


def wakep(sched: Sched) -> None:
    """Start a spinning M on an idle P if nobody is looking for work (Go 1.19's wakep)."""
    with sched.lock:
        if not sched.npidle or sched.nmspinning or sched.dead:
            return
        sched.nmspinning += 1
        startm(sched, None, True, lockheld=True)


def handoffp(sched: Sched, p: P) -> None:
    """Hand off a P that an M let go of in a syscall or stuck call (Go's handoffp)."""
    if p.runq or p.runnext is not None or sched.runq:
        startm(sched, p, False)
        return
    with sched.lock:
        if not sched.nmspinning and not sched.npidle:
            sched.nmspinning += 1
            startm(sched, p, True, lockheld=True)
            return
        if sched.runq:
            startm(sched, p, False, lockheld=True)
            return
        # Last running P and nobody is polling: someone must watch the timers.
        if sched.npidle == sched.gomaxprocs - 1 and sched.lastpoll != 0:
            startm(sched, p, False, lockheld=True)
            return
        when = p.timer0when
        pidleput(sched, p)
    if when:
        wakenetpoller(sched, when)


def wakenetpoller(sched: Sched, when: int) -> None:
    """Make sure some thread will wake for a timer at ``when`` (Go's wakeNetPoller)."""
    if sched.lastpoll == 0:
        pu = sched.polluntil
        if (pu == 0 or pu > when) and sched.poller is not None:
            sched.poller.netpoll_break()
    elif sched.npidle and not sched.nmspinning:
        wakep(sched)


def over(sched: Sched) -> bool:
    """The run has ended for its goroutines (``abandon``; ``fatal`` keeps its outcome).

    Not in a child forked from a goroutine: there ``dead`` only stops the
    scheduler loop, and the goroutine goes on as plain Python (fork._childmain),
    its exception deciding the child's exit status.
    """
    return sched.dead and afterfork is None


def fatal(sched: Sched, err: BaseException, locked: bool = False) -> None:
    """End the program with ``err`` (a panic or a fatal error)."""
    if not locked:
        sched.lock.acquire()
    try:
        if sched.panic is None and sched.deadlock is None:
            if over(sched):  # main returned first: the run's outcome stands (Go has exited by now)
                log.error("gosched: goroutine raised after its run ended (ignored)", exc_info=err)
            else:
                sched.panic = err
        finish_locked(sched)
    finally:
        if not locked:
            sched.lock.release()


def throw(msg: str) -> NoReturn:
    """End the run with ``fatal error: msg`` and raise it here (Go's runtime.fatal).

    Recorded before it is raised: catching it cannot keep the program going.
    From a plain thread with no run in progress it is simply raised.
    """
    e = Fatal(msg)
    m = getm()
    sched = m.sched if m is not None else current
    if sched is not None:
        gp = m.curg if m is not None else None
        if gp is not None:
            e.add_note(_gnote(gp))
        fatal(sched, e)
    raise e


def finish_locked(sched: Sched) -> None:
    """End the run (sched.lock held): nothing runs any more, and run() wakes."""
    if not sched.dead:
        sched.dead = True
        wakerun_locked(sched)


def wakerun_locked(sched: Sched) -> None:
    """Let run() return (sched.lock held, which keeps ``wakefd`` open while it is written)."""
    sched.done.release()
    if sched.wakefd >= 0:  # run() waits in poll (sigwait.wait_done): wake it
        try:
            os.write(sched.wakefd, b"\0")
        except OSError:  # full: it is awake already
            pass


# --- the scheduler loop -----------------------------------------------------------------


def mstart(m: M) -> None:
    # No pthread_sigmask here: a blocked mask would be inherited by every
    # process a goroutine starts (sigwait.py says why, and how run() still
    # wakes for a signal the kernel hands to an M).
    setm(m)
    m.ident = threading.get_ident()
    sched = m.sched
    if m.nextp is not None:
        p = m.nextp
        m.nextp = None
        acquirep(m, p)
    try:
        mstarted(m)
        if m.mstartfn is not None:  # sysmon's M runs its loop instead (Go: mstart1 → mp.mstartfn)
            m.mstartfn(m)
        else:
            schedule(m)
            if afterfork is not None and afterfork[0] is m:  # a child forked from our goroutine
                afterfork[1]()
    except BaseException as e:  # a bug in the runtime itself: never hang silently
        fatal(sched, Fatal(f"runtime: M{m.id}: {e!r}").with_traceback(e.__traceback__))
    finally:
        with sched.lock:
            sched.nmfreed += 1
        setm(None)


def schedule(m: M) -> None:
    """One round of the scheduler per goroutine switch (Go's schedule + execute).

    The hottest loop of the runtime: the body runs once per goroutine switch,
    so values that cannot change while it runs are hoisted, and the typing
    narrowings are comments, not ``assert`` statements.
    """
    sched = m.sched
    nextg: G | None = None  # a goroutine to resume at once (syscall return, inheritTime)
    gp: G | None
    p: P | None
    rq = m.readyq
    allgs = sched.allgs
    csend = speedups.send
    while True:
        if sched.dead:
            # Back from a syscall that outlived the run: close it (abandon), unless this is
            # a child forked from it, where it goes on as plain Python (fork._childmain).
            if nextg is not None and over(sched):
                abandon(sched, m, nextg, None)
            return
        p = m.p
        if nextg is not None:
            gp = nextg
            nextg = None
        else:
            if p is None:
                if not idle(m):
                    return
                continue
            if p.dying:  # GOMAXPROCS shrank below this P: findrunnable retires it
                findrunnable(m)
                continue
            if p.timer0when:
                now = nanotime()
                if p.timer0when <= now:
                    _timers.runtimers(p, now)
            # Every FAIRNESS_TICK-th round, and through the global turn that round
            # starts (p.globturn), the global queue goes first (findRunnable).
            fair = (p.schedtick % FAIRNESS_TICK and not p.globturn) or not sched.runq
            gp = None
            if rq:
                # What this M's goroutine readied becomes runnext (goready's
                # runqput(next=true)) and, as runnext, runs next inheriting the
                # time slice. goready keeps it to one goroutine: take it directly.
                if fair and len(rq) == 1 and p.runnext is None:
                    try:
                        gp = rq.popleft()
                    except IndexError:  # sysmon drained it
                        pass
                else:
                    drainreadyq(sched, m, p)
            if gp is None:
                gp = p.runnext
                if gp is not None and fair:
                    p.runnext = None  # inheritTime: runnext shares the waker's slice
                else:
                    gp = None
                    q = p.runq
                    if q and fair:
                        try:
                            gp = q.popleft()
                        except IndexError:  # a thief took it
                            pass
                    if gp is None:
                        gp = findrunnable(m)
                        if gp is None:
                            continue
                        p = m.p  # findrunnable returns a G only with a P
                    p.schedtick += 1  # type: ignore[union-attr]
            if m.spinning:
                # Whatever queue gp came from (Go's schedule: resetspinning once
                # findRunnable returns): an M woken spinning whose P had a due
                # timer takes what it readied from readyq above, and a flag left
                # set leaks nmspinning when the M later loses its P -- then wakep
                # and stealing stop for good and overdue timers on idle Ps wait.
                resetspinning(sched, m)

        # execute(gp): run it until it yields a trap. p is not None here: a G
        # comes from this P's queues, or is nextg, which only a P holder sets.
        if gp.waitsince:
            gp.waitsince = 0
        gp.status = Grunning
        gp.m = m
        m.curg = gp
        tok = p.tok  # type: ignore[union-attr]
        tok.append(1)  # publish the P: from here sysmon may take it
        exc = gp.exc
        try:
            if exc is None:
                if csend is None:
                    tr = gp.coro.send(gp.param)
                else:  # the C resume: a return is EXIT or Returned, not StopIteration
                    tr = csend(gp.coro, gp.param)
            else:
                gp.exc = None
                tr = gp.coro.throw(exc)
        except StopIteration as e:
            tr = _EXIT if e.value is None else Returned(e.value)
        except Goexit:
            tr = _EXIT
            if gp is sched.main_g:
                sched.main_goexited = True
        except BaseException as e:  # an uncaught exception ends the program (a Go panic)
            tr = _EXIT
            gopanic(sched, gp, e)
        gp.param = None
        try:
            tok.pop()  # reclaim the P
        except IndexError:
            p = None  # sysmon took it while gp ran
            lostp(sched, m, gp)
        if gp.preempt:
            gp.preempt = False
            preempted.discard(gp)
        if sched.dead and over(sched):  # the run ended while gp ran (the test before the call: hot path)
            abandon(sched, m, gp, tr)
            return

        if type(tr) is not tuple:
            if tr is _EXIT or type(tr) is Returned:  # goexit0
                gp.status = Gdead
                m.curg = None
                allgs.pop(gp.goid, None)
                gp.coro = None  # type: ignore[assignment]
                if gp is sched.main_g:
                    mainexit(sched, gp, None if tr is _EXIT else tr.value)
                continue
            nextg = foreignyield(sched, m, gp, p, tr)
            continue
        kind = tr[0]  # a TrapKind: its members are singletons, so ``is`` is the cheapest test
        if kind is PARK:
            gp.status = Gwaiting
            gp.waitreason = tr[2]
            m.curg = None
            ul = tr[1]
            if ul is not None:
                ult = type(ul)
                if ult is list:  # a runtime lock (lock.newlock): unlock inline
                    ul.append(1)
                elif ult is tuple:  # select's channel locks
                    for lk in ul:
                        lk.append(1)
                else:  # a threading.Lock
                    ul.release()
        elif kind is GOSCHED:
            m.curg = None
            gp.status = Grunnable
            globrunqput(sched, gp)
        elif kind is SLEEP:
            m.curg = None
            gp.status = Gwaiting
            gp.waitreason = waitReasonSleep
            t = _timers.RTimer(_readytimer, gp, nanotime() + tr[1])
            hp = p if p is not None else _anyp(sched)
            _timers.addtimer(hp, t)
            if hp is not p or sched.lastpoll == 0:
                wakenetpoller(sched, t.when)
        elif kind is SYSCALL:
            nextg = syscall(sched, m, gp, p, tr[1], tr[2])
        else:
            nextg = foreignyield(sched, m, gp, p, tr)


def foreignyield(sched: Sched, m: M, gp: G, p: P | None, obj: Any) -> G | None:
    """A goroutine yielded something that is not a gosched trap.

    A bare ``yield`` (``await asyncio.sleep(0)``) is a plain yield of the
    processor: the goroutine goes to the back of the local queue (Go's goyield).
    An asyncio Future parks the goroutine until it is done (``foreignpark``,
    installed by gosched's asyncio loop). Anything else is another event loop's
    awaitable (a trio trap): that loop is not running here, so the goroutine
    gets a TypeError it can see, instead of hanging forever.
    """
    m.curg = None
    if obj is not None and foreignpark(sched, m, gp, obj):
        return None
    if obj is None:
        gp.status = Grunnable
        if p is not None and len(p.runq) < RUNQ_SIZE:
            p.runq.append(gp)
        else:
            globrunqput(sched, gp)
        return None
    gp.exc = TypeError(
        f"a goroutine awaited {type(obj).__module__}.{type(obj).__qualname__} {obj!r}, which belongs "
        f"to another event loop; in gosched use gosched.sleep, channels and gosched.syscall instead"
    )
    gp.status = Grunnable
    if p is not None:
        return gp  # resume it at once with the error
    globrunqput(sched, gp)
    return None


def _readytimer(gp: G) -> None:
    goready(gp)


def _anyp(sched: Sched) -> P:
    for p in sched.allp:
        if not p.dying:
            return p
    return sched.allp[0]


def resetspinning(sched: Sched, m: M) -> None:
    m.spinning = False
    with sched.lock:
        sched.nmspinning -= 1
    if sched.npidle and not sched.nmspinning:
        wakep(sched)


def mainexit(sched: Sched, gp: G, ret: Any) -> None:
    """The main goroutine returned: the program ends with its result (Go's main → exit)."""
    with sched.lock:
        if gp.exc is None and not sched.main_goexited:
            sched.result = ret
            finish_locked(sched)


def _gnote(gp: G) -> str:
    note = f"gosched: raised in goroutine {gp.goid} ({gp.startfn})"
    if gp.gopc is not None:
        note += f", created by {gp.gopc[2]} at {gp.gopc[0]}:{gp.gopc[1]}"
    return note


def gopanic(sched: Sched, gp: G, e: BaseException) -> None:
    if e is sched.panic:  # a fatal error (throw) already ended the run, noted
        return
    try:
        e.add_note(_gnote(gp))
    except AttributeError:  # pragma: no cover - not an Exception
        pass
    fatal(sched, e)


def lostp(sched: Sched, m: M, gp: G) -> None:
    """The loop found its P taken by sysmon: hand on what this M still holds."""
    m.p = None  # only this M writes m.p; sysmon's takep leaves it stale until here
    lostp_returned(sched, m, gp)
    injectglist(sched, takereadyq(m))


def takereadyq(m: M) -> list[G]:
    """Empty ``m.readyq`` (any thread may: deque pops are atomic)."""
    moved = []
    rq = m.readyq
    while rq:
        try:
            moved.append(rq.popleft())
        except IndexError:
            break
    return moved


def syscall(sched: Sched, m: M, gp: G, p: P | None, fn: Any, args: Any) -> G | None:
    """entersyscall; fn(*args); exitsyscall. Returns gp if this M may go on running it."""
    gp.status = Gsyscall
    gp.waitreason = waitReasonSyscall
    if p is not None:
        p.syscalltick += 1
    with sched.lock:
        sched.nsyscall += 1
    if sched.sysmonwait:
        wakesysmon(sched)
    tok = p.tok if p is not None else None
    if tok is not None:
        tok.append(1)
    try:
        gp.param = fn(*args)
    except BaseException as e:
        gp.exc = e
    lost = p is None
    if tok is not None:
        try:
            tok.pop()
        except IndexError:
            lost = True
    with sched.lock:
        sched.nsyscall -= 1
    if sched.dead:
        return gp  # the loop closes it (abandon)
    gp.waitreason = waitReasonZero
    if not lost:
        assert p is not None
        p.syscalltick += 1
        gp.status = Grunning
        return gp  # exitsyscall fast path: keep the P, resume gp now
    # Slow path (exitsyscall0): grab an idle P or queue gp globally and stop.
    lostp(sched, m, gp)
    with sched.lock:
        p2 = pidleget(sched) if not sched.dead else None
        if p2 is None:
            gp.status = Grunnable
            sched.runq.append(gp)
    m.curg = None
    if p2 is None:
        return None
    acquirep(m, p2)
    gp.status = Grunning
    return gp


# --- the end of a run: goroutines left behind -----------------------------------------
#
# Go's program ends with main: the process exits and no goroutine runs again. A
# gosched run ends inside a process that goes on (and may start another run), so
# run() finishes what Go's exit leaves to the kernel: every goroutine of the run
# is closed before run() returns (docs/design.md, "The end of a run"). A
# goroutine still running on an M (a blocking call or a loop Python cannot
# interrupt) is closed by that M when it next reaches the scheduler.


def claimg(sched: Sched, gp: G, mine: bool) -> bool:
    """Take ``gp`` to close it: True for exactly one caller.

    ``mine``: the caller is the M that was running it; anyone else leaves a
    running goroutine to its M.
    """
    with sched.lock:
        st = gp.status
        if st == Gdead or (not mine and (st == Grunning or st == Gsyscall)):
            return False
        gp.status = Gdead
        return True


def unqueue(gp: G, locked: bool) -> None:
    """Take a parked goroutine off the wait queues of what it is blocked on.

    Objects a goroutine parks on (Chan, a select's channels, Mutex, ...) have
    ``_dropwaiter(gp)``, called with their runtime lock ``_lock`` held (``locked``:
    the caller holds it already). Once off, no later operation of another run
    can hand the goroutine a value or ready it. A poll descriptor needs nothing:
    its poller ends with the run.
    """
    obj = gp.blockedon
    for o in obj if type(obj) is list else (obj,):
        drop = getattr(o, "_dropwaiter", None)
        if drop is None:
            continue
        if locked:
            drop(gp)
        else:
            with held(o._lock):
                drop(gp)


def closeg(sched: Sched, gp: G) -> None:
    """Close ``gp``'s coroutine on this thread: GeneratorExit runs its finally blocks now.

    The thread is not an M meanwhile and ``traps.closing`` names the goroutine,
    so a runtime call that would wait fails saying why; what a finally block
    raises is logged (logger ``gosched``), as asyncio logs a task's exception
    nobody retrieved: the run's outcome is decided already.
    """
    sched.allgs.pop(gp.goid, None)
    coro = gp.coro
    if coro is None:
        return
    m = getm()
    setm(None)
    tok = closing.set(gp)
    try:
        coro.close()
    except Exception:
        log.exception("gosched: goroutine %d (%s) raised while its run's end closed it", gp.goid, gp.startfn)
    finally:
        closing.reset(tok)
        setm(m)
        gp.coro = None  # type: ignore[assignment]


def gfinalize(sched: Sched, gp: G) -> None:
    """run()'s end: close a goroutine the run left parked or runnable."""
    if claimg(sched, gp, False):
        unqueue(gp, False)
        closeg(sched, gp)


def abandon(sched: Sched, m: M, gp: G, tr: Any) -> None:
    """The run ended while ``gp`` ran on this M: close it, never run it further.

    ``tr`` is what it yielded (None: it came back from a syscall). A park
    yielded with its waiting object's lock held: the goroutine leaves the
    object's queue before the unlock, or a goroutine of the next run could
    find it there and ready it into that run.
    """
    m.curg = None
    if tr is _EXIT or type(tr) is Returned:  # it finished: goexit0
        gp.status = Gdead
        sched.allgs.pop(gp.goid, None)
        gp.coro = None  # type: ignore[assignment]
        return
    if type(tr) is tuple and tr[0] is PARK:
        unqueue(gp, True)
        ul = tr[1]  # then gopark's unlockf, as schedule's PARK branch
        for lk in ul if type(ul) is tuple else (ul,):
            if type(lk) is list:
                lk.append(1)
            elif lk is not None:
                lk.release()
    if claimg(sched, gp, True):
        closeg(sched, gp)
    rehome(sched, takereadyq(m))


def rehome(sched: Sched, gs: list[G]) -> None:
    """Hand goroutines of a later run back to it (from ``abandon``).

    On its way out a goroutine of the ended run may ready one of the next run
    (its last call was a send to a shared channel, say); goready queued it on
    this M, which belongs to the ended run. Its own run is the one of the M
    that last ran it. The ended run's own goroutines are closed by its end.
    """
    while True:  # what goready queued on the ended run itself (this M had lost its P)
        try:
            gs.append(sched.runq.popleft())
        except IndexError:
            break
    for g in gs:
        gm = g.m
        if gm is not None and gm.sched is not sched:
            injectglist(gm.sched, [g])


# --- findRunnable ------------------------------------------------------------------------


def findrunnable(m: M) -> G | None:
    """Find a goroutine to run, blocking until one exists (Go's findRunnable).

    Returns None when the M lost its P or the program ended; the caller loops.
    """
    sched = m.sched
    while True:
        p = m.p
        if p is None or sched.dead:
            return None
        now = 0
        if p.timer0when:
            now = nanotime()
            if p.timer0when <= now:
                _timers.runtimers(p, now)
        if m.readyq:
            drainreadyq(sched, m, p)
        if p.dying:  # pdestroy hands its queues to the global queue
            with sched.lock:
                releasep(m)
                pidleput(sched, p)
            return None
        if (p.globturn or p.schedtick % FAIRNESS_TICK == 0) and sched.runq:
            # Go takes one goroutine here, a share sized for a global queue of a
            # few: local work that never runs out (goroutines readied by this P's
            # timers, runnext hand-offs) gets 60 of every 61 ticks, and a goroutine
            # behind a queue of Q waits ~61*Q ticks -- minutes at Python's switch
            # rate for Q in the thousands (issue 14). gosched takes the P's share
            # of the queue instead (Q/gomaxprocs, at most 61), one per tick: Go's
            # rule exactly for a queue shorter than 2*gomaxprocs, at most half the
            # ticks for a long one, so its wait is ~2*Q/gomaxprocs ticks.
            if p.globturn:
                p.globturn -= 1
            else:
                p.globturn = max(min(len(sched.runq) // sched.gomaxprocs, FAIRNESS_TICK) - 1, 0)
            gp = globrunqget(sched, p, 1)
            if gp is not None:
                return gp
        if p.runnext is not None:
            gp = p.runnext
            p.runnext = None
            return gp
        q = p.runq
        if q:  # test first: a raised IndexError costs more than the test
            try:
                return q.popleft()
            except IndexError:  # a thief took it
                pass
        if sched.runq:
            gp = globrunqget(sched, p, 0)
            if gp is not None:
                return gp
        poller = sched.poller
        if poller is not None and poller.nwaiters and sched.lastpoll:
            gs = poller.netpoll(0)
            if gs:
                injectglist(sched, gs[1:])
                gs[0].status = Grunnable
                return gs[0]
        # Spin: steal from other Ps, bounded to half the busy Ps (Go's rule).
        if m.spinning or 2 * sched.nmspinning < sched.gomaxprocs - sched.npidle:
            if not m.spinning:
                with sched.lock:
                    sched.nmspinning += 1
                m.spinning = True
            gp = stealwork(m, p)
            if gp is not None:
                return gp
            if m.readyq:  # a thief ran another P's timers
                drainreadyq(sched, m, p)  # into runnext, else the loop spins forever
                continue
        # Nothing to do: drop the P, unless work reached the global queue meanwhile.
        with sched.lock:
            if sched.dead:
                return None
            dropped = not sched.runq
            if dropped:
                releasep(m)
                pidleput(sched, p)
        if not dropped:
            continue
        if m.spinning:
            m.spinning = False
            with sched.lock:
                sched.nmspinning -= 1
            # The delicate dance: re-check after dropping out of spinning, so a
            # submitter that saw nmspinning > 0 and did not wake anyone is not lost.
            if sched.runq or any(q.runq for q in sched.allp):
                with sched.lock:
                    p2 = pidleget(sched)
                    if p2 is not None:
                        acquirep(m, p2)
                        m.spinning = True
                        sched.nmspinning += 1
                if p2 is not None:
                    continue
        if not idle(m):
            return None
        # idle() returned with a P (woken by startm or after polling).


def stealwork(m: M, p: P) -> G | None:
    """Try to steal from other Ps, four passes in a random coprime order."""
    allp = m.sched.allp
    n = len(allp)
    if n <= 1:
        return None
    now = 0
    for i in range(STEAL_TRIES):
        last = i == STEAL_TRIES - 1
        pos = random.randrange(n)
        inc = _coprimes(n)[random.randrange(len(_coprimes(n)))]
        for _ in range(n):
            victim = allp[pos]
            pos = (pos + inc) % n
            if victim is p:
                continue
            if last and victim.timer0when:
                if not now:
                    now = nanotime()
                if victim.timer0when <= now:
                    _timers.runtimers(victim, now, blocking=False)
                    if m.readyq:
                        return None
            gp = runqsteal(p, victim)
            if gp is not None:
                return gp
    return None


_coprime_cache: dict[int, list[int]] = {}


def _coprimes(n: int) -> list[int]:
    c = _coprime_cache.get(n)
    if c is None:
        from math import gcd

        c = [i for i in range(1, n + 1) if gcd(i, n) == 1]
        _coprime_cache[n] = c
    return c


def idle(m: M) -> bool:
    """The M has no P and found no work: poll the network/timers, or park.

    Returns True once it holds a P again, False if the program ended.

    Going inactive (claiming the poller, or joining the idle list) and asking
    "was I the last active M?" happen under one ``sched.lock``, so of two Ms
    going idle at once exactly one sees itself last and runs checkdead (Go
    runs checkdead from mput, under the same lock, for the same reason).
    """
    sched = m.sched
    poller = sched.poller
    while True:
        polluntil = _timers.timesleepuntil(sched)
        with sched.lock:
            if sched.dead:
                return False
            if sched.runq and sched.pidle:  # work arrived while we gave up our P
                acquirep(m, pidleget(sched))  # type: ignore[arg-type]
                return True
            polling = bool(poller is not None and (poller.nwaiters or polluntil) and sched.lastpoll != 0)
            if polling:
                sched.lastpoll = 0
                sched.polluntil = polluntil
            else:
                mput(sched, m)
            last = activems(sched) == 0
        if last:
            act = checkdead(sched)
            if act == DEAD:
                return False
            if act == ADVANCED or act == JUMPED:  # go run what was readied
                with sched.lock:
                    if polling:
                        sched.lastpoll = nanotime() or 1
                        sched.polluntil = 0
                        resumed = True
                    else:
                        resumed = m in sched.midle
                        if resumed:
                            sched.midle.remove(m)
                            sched.nmidle -= 1
                    p2 = pidleget(sched) if resumed else None
                if act == JUMPED:
                    # Active again (or chosen by startm): fire the timers the clock
                    # jump made due, so no M going idle meanwhile sees one in flight.
                    firetimers(sched)
                if resumed:
                    if p2 is not None:
                        acquirep(m, p2)
                        return True
                    continue
                # else startm already chose us: the park below returns at once
        if polling:
            assert poller is not None
            if sched.faketime or not polluntil:
                delay = -1  # virtual timers are not wall time: wait for I/O or a break
            else:
                delay = max(0, polluntil - nanotime())
            m.blocked = True
            gs = poller.netpoll(delay)
            m.blocked = False
            with sched.lock:
                sched.lastpoll = nanotime() or 1
                sched.polluntil = 0
                p2 = pidleget(sched) if not sched.dead else None
            if sched.dead:
                return False
            if p2 is None:
                injectglist(sched, gs)
                continue
            acquirep(m, p2)
            if gs:
                # Keep what fits in the local queue; the rest goes global and to
                # idle Ps (Go's injectglist).
                room = max(0, RUNQ_SIZE - len(p2.runq))
                for gp in gs[:room]:
                    gp.status = Grunnable
                p2.runq.extend(gs[:room])
                injectglist(sched, gs[room:])
                if len(gs) > 1 and sched.npidle and not sched.nmspinning:
                    wakep(sched)
            return True
        m.blocked = True
        m.park.acquire()  # notesleep(&m.park): startm hands us a P, or shutdown
        m.blocked = False
        if sched.dead:
            return False
        p = m.nextp
        m.nextp = None
        assert p is not None
        acquirep(m, p)
        return True


# --- GOMAXPROCS ------------------------------------------------------------------------


def procresize(sched: Sched, n: int) -> int:
    """Change the number of Ps (Go's procresize, without stopping the world).

    New Ps start idle. Ps above ``n`` are marked dying: an idle one is retired at
    once, a running one by its M at its next trip through the scheduler, which
    moves its run queue to the global queue and its timers to a live P.
    """
    if n < 1:
        raise ValueError(f"gomaxprocs must be >= 1, got {n}")
    with sched.lock:
        old = sched.gomaxprocs if sched.allp else 0
        live = [p for p in sched.allp if p.status != Pdead and not p.dying]
        for p in live[n:]:
            p.dying = True
            if p in sched.pidle:
                sched.pidle.remove(p)
                sched.npidle -= 1
                pdestroy(sched, p)
        for _ in range(len(live), n):
            p = P(len(sched.allp))
            sched.allp.append(p)
            sched.pidle.append(p)
            sched.npidle += 1
        sched.allp = [p for p in sched.allp if p.status != Pdead]
        for i, p in enumerate(sched.allp):
            p.id = i
        sched.gomaxprocs = n
    for _ in range(min(sched.npidle, len(sched.runq))):
        startm(sched, None, False)
    return old
