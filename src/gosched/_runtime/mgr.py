"""Ms: OS threads that run the scheduler (Go's allocm/newm/startm/stopm/mput/mget, wakep, handoffp).

An M runs ``schedule`` while it holds a P. An M with nothing to do parks on
``m.park`` in the idle list (stopm); ``startm`` hands an idle or new M a P and
wakes it; ``wakep`` starts a spinning M when work appears and nobody looks for
it; ``handoffp`` passes on a P an M let go of in a syscall. The thread's entry
point is proc's ``mstart``, installed below by proc (Go: newm → mstart).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from . import trace
from .errors import Fatal
from .panic import fatal
from .runq import globrunqput, pdestroy, pidleget, pidleput
from .runtime2 import LATENCY_BUCKETS, RUNQ_SIZE, G, Grunnable, M, P, Pdead, Prunning, Sched
from .traps import getm


def _nomstart(m: M) -> None:
    raise RuntimeError("gosched: the scheduler (proc) is not loaded")


# The new thread's entry point: proc.mstart, which installs itself here (proc
# sits above this module; Go's newm starts the thread at mstart).
mstart: Callable[[M], None] = _nomstart


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
    if trace.enabled:
        trace.procstart(p, m)


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

    Go's checkdead counts ``mcount - nmidle - nmidlelocked - nmsys``; the M blocked
    in netpoll is left out here too, because it may be sleeping on a timer that wakes nobody.
    """
    # mcount in line: the last M runs this twice before every sleep (idle, checkdead)
    idle = sched.nmidle + sched.nmidlelocked + sched.nmsys + (sched.lastpoll == 0)
    return sched.mnext - sched.nmfreed - idle


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
    if trace.enabled:
        trace.mstart(m)
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
    if not breakpoller(sched, when) and sched.npidle and not sched.nmspinning:
        wakep(sched)


def breakpoller(sched: Sched, when: int) -> bool:
    """Wake the M blocked in netpoll if it would sleep past ``when``; False if none is polling.

    The poller's ``polluntil`` is only ever zero or the time its poll ends, so
    this may wake it spuriously but never lets it miss ``when``.
    """
    if sched.lastpoll != 0:
        return False
    pu = sched.polluntil
    if (pu == 0 or pu > when) and sched.poller is not None:
        sched.poller.netpoll_break()
    return True


def trackrunning(m: M, gp: G, now: int) -> None:
    """A sampled goroutine starts running on ``m``: count its runnable time in the M's
    histogram (Go's casgstatus → sched.timeToRun.record), bucketed by ``ns.bit_length()``."""
    ts = gp.trackingstamp
    gp.trackingstamp = 0
    if ts > 0:  # -1: it never became runnable through a stamping path (a syscall's return)
        b = (now - ts).bit_length()
        m.latencies[b if b < LATENCY_BUCKETS else LATENCY_BUCKETS - 1] += 1


def injectglist(sched: Sched, gs: list[G]) -> None:
    """Make a batch runnable from a thread without a P (Go's injectglist)."""
    if not gs:
        return
    for gp in gs:
        gp.status = Grunnable
        if gp.trackingstamp:  # sampled for /sched/latencies; proc.nanotime's clock (below proc)
            gp.trackingstamp = sched.faketime or time.monotonic_ns()
    with sched.lock:
        sched.runq.extend(gs)
        n = min(len(gs), sched.npidle)
    for _ in range(n):
        startm(sched, None, False)


def resetspinning(sched: Sched, m: M) -> None:
    m.spinning = False
    with sched.lock:
        sched.nmspinning -= 1
    if sched.npidle and not sched.nmspinning:
        wakep(sched)


def stopm(m: M) -> bool:
    """Park an idle M until startm hands it a P (Go's stopm; the caller did mput under its lock).

    Returns True holding that P, False if the run ended meanwhile.
    """
    m.blocked = True
    t0 = trace.now() if trace.enabled else 0.0
    m.park.acquire()  # notesleep(&m.park): startm hands us a P, or shutdown
    m.blocked = False
    if trace.enabled:
        trace.mpark(m, t0, False)
    if m.sched.dead:
        return False
    p = m.nextp
    m.nextp = None
    assert p is not None
    acquirep(m, p)
    return True


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


def goreadytail(gp: G, sched: Sched, m: M | None = None, urgent: bool = False) -> None:
    """Make ``gp`` runnable at the tail of this M's local run queue, not runnext.

    For asyncio's order (gosched._aio): tasks start, and woken tasks resume, in
    the order they were created or woken (call_soon's FIFO), where goready's
    runnext would run the last one first. ``urgent`` (a sleeper's timer, Go's
    goroutineReady): at the global queue's head while that queue has a backlog,
    so a wake-up never waits behind goroutines that have not started yet.
    ``m``: the calling M, when the caller has it (saves the getm() lookup).
    """
    gp.status = Grunnable
    if gp.trackingstamp:  # sampled for /sched/latencies; proc.nanotime's clock (below proc)
        gp.trackingstamp = sched.faketime or time.monotonic_ns()
    if m is None:
        m = getm()
    if trace.enabled:
        trace.goready(gp, m)
    p = m.p if m is not None and m.sched is sched and not m.lostp_since else None
    if p is None:
        globrunqput(sched, gp)
    elif len(p.runq) >= RUNQ_SIZE or (urgent and sched.runq):
        (sched.runq.appendleft if urgent else sched.runq.append)(gp)  # globrunqput(head)
    else:
        p.runq.append(gp)
    if sched.npidle and not sched.nmspinning:
        wakep(sched)
