"""sysmon: the monitor thread (Go's proc.go: sysmon, retake, preemptone).

sysmon runs on its own M with no P for the life of ``run()``. Each tick it
polls the network if nobody has for 10 ms, starts an M for overdue timers,
retakes Ps, forces a GC every ``forcegcperiod`` and prints schedtrace lines.

Where Python cannot do what Go does, sysmon reaches Go's guarantee another way
(docs/sysmon.md lists every difference):

* Go preempts a running goroutine asynchronously (SIGURG). Python cannot stop
  a frame from outside, so a goroutine that ignores ``g.preempt`` for
  ``preemptGraceNS`` after being asked -- a CPU loop, or a blocking call it did
  not wrap in ``gosched.syscall`` -- loses its P exactly as a goroutine in a
  syscall does: sysmon pops the P's token and hands the P to another M. The
  stuck M keeps running the goroutine without a P and takes the exitsyscall
  slow path when it next reaches the scheduler.
"""

from __future__ import annotations

import time
from typing import Any

from . import blame, proc
from . import timers as _timers
from .runtime2 import Gsyscall, M, P, Prunning, Sched
from .traps import preempted

forcePreemptNS = 10_000_000  # a goroutine's time slice (Go's forcePreemptNS)
preemptGraceNS = 1_000_000  # how long a preempted goroutine may ignore the request
syscallRetakeNS = 10_000_000  # retake an idle-ish syscall P after this anyway
netpollStaleNS = 10_000_000  # poll the network if nobody has for this long
forcegcperiod = 120 * 1_000_000_000  # force a GC this often (Go's forcegcperiod)


def start(sched: Sched) -> M:
    """Start sysmon on its own M with no P (Go: newm(sysmon, nil))."""
    with sched.lock:
        m = proc.allocm(sched)
        m.issysmon = True
        sched.nmsys += 1
        sched.sysmon_m = m
    proc.newm(m, name="gosched-sysmon")
    return m


def wake(sched: Sched) -> None:
    """Wake sysmon from deep sleep (entersyscall, or a P leaving the idle list)."""
    with sched.lock:
        if sched.sysmonwait:
            sched.sysmonwait = False
            sched.sysmonnote.release()


def _notetsleep(sched: Sched, ns: int) -> bool:
    got = sched.sysmonnote.acquire(timeout=max(ns, 1000) / 1e9)
    with sched.lock:
        if not got and not sched.sysmonwait:
            # A waker released the note after our timeout: consume it.
            sched.sysmonnote.acquire()
            got = True
        sched.sysmonwait = False
    return got


def sysmon(m: M) -> None:
    """The monitor loop. Runs in place of a scheduler loop on the sysmon M."""
    from . import trace

    sched = m.sched
    idle = 0
    delay = 0
    lasttrace = 0
    while not sched.dead:
        if idle == 0:
            delay = 20
        elif idle > 50:
            delay *= 2
        if delay > 10_000:
            delay = 10_000
        time.sleep(delay / 1e6)
        if sched.dead:
            break
        if trace.settings.schedtrace <= 0 and sched.npidle == sched.gomaxprocs:
            now = proc.nanotime()
            with sched.lock:
                deep = sched.npidle == sched.gomaxprocs and not sched.dead
                sleep = 0
                if deep:
                    nxt = _timers.timesleepuntil(sched)
                    sleep = forcegcperiod // 2
                    if nxt and nxt - now < sleep:
                        sleep = nxt - now
                    if sched.faketime:
                        sleep = forcegcperiod // 2  # virtual timers are not wall time
                    deep = sleep > 0
                    sched.sysmonwait = deep
            if deep and _notetsleep(sched, sleep):
                idle = 0
                delay = 20
        rnow = time.monotonic_ns()
        now = proc.nanotime()
        netpollcheck(sched, rnow)
        nxt = _timers.timesleepuntil(sched)
        if nxt and nxt < now and sched.npidle:
            proc.startm(sched, None, False)  # overdue timers on a busy P
        if retake(sched, rnow):
            idle = 0
        else:
            idle += 1
        sweep(sched)
        forcegc(sched, rnow)
        if trace.settings.schedtrace > 0 and lasttrace + trace.settings.schedtrace * 1_000_000 <= rnow:
            lasttrace = rnow
            trace.schedtrace(sched, trace.settings.scheddetail > 0)


def netpollcheck(sched: Sched, rnow: int) -> None:
    poller = sched.poller
    if poller is None or not poller.nwaiters:
        return
    lastpoll = sched.lastpoll
    if lastpoll == 0 or lastpoll + netpollStaleNS >= rnow:
        return
    with sched.lock:
        if sched.lastpoll != lastpoll:
            return
        sched.lastpoll = rnow
    proc.injectglist(sched, poller.netpoll(0))


def retake(sched: Sched, now: int) -> int:
    """Preempt long-running goroutines and take Ps from stuck Ms (Go's retake)."""
    n = 0
    for p in list(sched.allp):
        if p.status != Prunning:
            continue
        m = p.m
        if m is None:
            continue
        gp = m.curg
        pd = p.sysmontick
        sysretake = False
        t = p.schedtick
        if pd.schedtick != t:
            pd.schedtick = t
            pd.schedwhen = now
            pd.preemptwhen = 0
            pd.preemptg = None
        elif pd.schedwhen + forcePreemptNS <= now and gp is not None:
            if pd.preemptg is not gp:
                if preemptone(p, m, gp):
                    pd.preemptwhen = now
                    pd.preemptg = gp
            sysretake = True
        if gp is None:
            continue
        if gp.status == Gsyscall:
            st = p.syscalltick
            if not sysretake and pd.syscalltick != st:
                pd.syscalltick = st
                pd.syscallwhen = now
                continue
            if (
                not p.runq
                and p.runnext is None
                and sched.nmspinning + sched.npidle > 0
                and pd.syscallwhen + syscallRetakeNS > now
            ):
                continue
            if takep(sched, p, m, now, True):
                n += 1
                proc.handoffp(sched, p)
        elif pd.preemptg is gp and gp.preempt and pd.preemptwhen + preemptGraceNS <= now:
            # The goroutine was asked to yield and has not reached a runtime call
            # since: it is in a CPU loop or an unwrapped blocking call.
            if takep(sched, p, m, now, False):
                n += 1
                blame.report(sched, m, gp, now - pd.schedwhen)
                proc.handoffp(sched, p)
    return n


def preemptone(p: P, m: M, gp: Any) -> bool:
    """Ask the goroutine running on ``p`` to yield at its next runtime call."""
    if gp is None:
        return False
    gp.preempt = True
    preempted.add(gp)
    # Goroutines it readied cannot run on this P until it yields: let others have them.
    moved = _drain(m)
    if moved:
        proc.injectglist(m.sched, moved)
    return True


def _drain(m: M) -> list[Any]:
    moved = []
    rq = m.readyq
    while rq:
        try:
            moved.append(rq.popleft())
        except IndexError:
            break
    return moved


def takep(sched: Sched, p: P, m: M, now: int, insyscall: bool) -> bool:
    """Take ``p`` from ``m`` while its goroutine runs user code (the CAS in retake)."""
    try:
        p.tok.pop()
    except IndexError:
        return False  # the M is in its own loop: it owns the P right now
    if m.p is p:
        m.p = None
    p.m = None
    p.syscalltick += 1
    m.lostp_since = now
    m.lostp_syscall = insyscall
    moved = _drain(m)
    if moved:
        proc.injectglist(sched, moved)
    return True


def sweep(sched: Sched) -> None:
    """Catch up with races around takep and idle Ps that still hold work."""
    for m in list(sched.allm):
        if m.p is None and m.lostp_since and m.readyq:
            proc.injectglist(sched, _drain(m))
    if sched.npidle and not sched.nmspinning:
        for p in list(sched.pidle):
            if p.runq or p.runnext is not None:
                proc.wakep(sched)
                break


def lostp_returned(sched: Sched, m: M, gp: Any) -> None:
    """The M whose P was taken got back to the scheduler (exitsyscall's slow path)."""
    since = m.lostp_since
    m.lostp_since = 0
    if since and not m.lostp_syscall:
        blame.finish(m, gp, time.monotonic_ns() - since)


def forcegc(sched: Sched, rnow: int) -> None:
    """Run a collection if none ran for forcegcperiod (Go's forcegc helper)."""
    if not sched.lastgc:
        sched.lastgc = rnow
        return
    if rnow - sched.lastgc > forcegcperiod:
        sched.lastgc = rnow
        from . import gc as _gc

        _gc.force(sched)
