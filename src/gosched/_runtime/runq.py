"""Run queues and the idle P list (Go's runqput, runqget, runqsteal, globrunqput, globrunqget,
pidleput, pidleget).

Each P has a local queue (``p.runq``, a deque) and ``p.runnext``; overflow and
work readied off an M go to the global queue ``sched.runq``. Appends are
lock-free (``deque.append`` is atomic) and every consumer pops from the left,
so a thief and the owner never take the same goroutine. The loop side (the M
that owns ``p``) is the only writer of ``p.runnext``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from math import gcd

from . import timers as _timers
from . import trace
from .lock import lock2
from .runtime2 import RUNQ_SIZE, G, M, P, Pdead, Pidle, Sched
from .traps import getm


def addtimerhere(sched: Sched, t: _timers.RTimer) -> bool:
    """Put ``t`` on this M's P, or on a live P if it has none in this run (Go's doaddtimer).

    True if a thread must be woken for it (wakenetpoller, once the caller's
    locks are released): this M's P runs its timers when it next schedules,
    but a thread blocked in netpoll, or another P, must be told.
    """
    m = getm()
    p: P | None = m.p if m is not None and m.sched is sched else None
    mine = p is not None and not p.dying
    if not mine:
        p = next((q for q in sched.allp if not q.dying), sched.allp[0])
    _timers.addtimer(p, t)  # type: ignore[arg-type]
    return not mine or sched.lastpoll == 0


def globrunqput(sched: Sched, gp: G) -> None:
    """Append to the global queue (Go's globrunqput).

    Lock-free: ``deque.append`` is atomic, and every consumer pops from the
    left under ``sched.lock``, so a concurrent append never disturbs a batch
    take. A thread that parks after seeing the queue empty is covered by the
    caller's ``wakep`` (or by the spinning M's re-check), as in Go.
    """
    sched.runq.append(gp)


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
    if maxn == 1:  # the fair turn's one (globrunqturn): min() and max() cost more than the pop
        n = 1
    else:
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


def pidleput(sched: Sched, p: P) -> None:
    # sched.lock held
    if trace.enabled:
        trace.procstop(p, p.m)
    p.status = Pidle
    p.m = None
    if p.dying:
        pdestroy(sched, p)
        return
    sched.pidle.append(p)
    sched.npidle += 1
    p.sysmontick.busywhen = 0  # its busy spell is over (sysmonwatch, retake)
    if sched.sysmonwait and sched.npidle == sched.gomaxprocs and sched.sysmonnote.movable:
        sysmonrest(sched)


def pidleget(sched: Sched) -> P | None:
    # sched.lock held
    if not sched.pidle:
        return None
    p = sched.pidle.pop()
    sched.npidle -= 1
    if sched.sysmonwait:  # a P goes busy: sysmon must watch it again (docs/sysmon.md)
        sysmonwatch(sched, p)
    return p


def _noonbusy() -> None:
    pass


# sysmon (above the scheduler) installs it: a P goes busy while sysmon sleeps deeply.
onbusy: Callable[[], None] = _noonbusy


def sysmonwatch(sched: Sched, p: P) -> None:
    """``p`` goes busy while sysmon sleeps deeply (sched.lock held): make sure sysmon
    looks at it within ``sysmonwatch`` ns (forcePreemptNS), without waking it if it can.

    The P's sysmontick is stamped with when it went busy, for retake (sysmon is
    asleep: we own pd; pidleput clears it). A movable note's deadline is pulled in (no
    wake-up: the watch is cancelled if every P is idle again by then, pidleput). A
    plain note's sleeper is woken, as before the movable note (sysmon then sees the P
    at once, as it always did where no timerfd exists).
    """
    now = time.monotonic_ns()
    p.sysmontick.busywhen = now
    onbusy()  # sysmon's look at this slice must not wait a whole switch interval for the GIL
    if not sched.sysmonnote.movable:
        sched.sysmonwait = False
        sched.sysmonnote.wakeup()
        return
    due = now + sched.sysmonwatch
    if due < sched.sysmondeadline:
        sched.sysmondeadline = due
        sched.sysmonnote.move(due)


def sysmonrest(sched: Sched) -> None:
    """Every P is idle again while sysmon sleeps deeply (sched.lock held): a watch that
    pidleget pulled its deadline in for is moot; move it back out to the next timer
    plus the watch, as sysmon's own deep sleep would (sysmon.deepsleep), but never past
    ``sysmonidle``, the fixed instant of sysmon's next periodic work."""
    now = time.monotonic_ns()
    rest = sched.sysmonidle
    nxt = _timers.timesleepuntil(sched)
    if nxt and not sched.faketime:  # virtual timers are not wall time
        rest = min(rest, max(nxt, now) + sched.sysmonwatch)
    if rest > sched.sysmondeadline:
        sched.sysmondeadline = rest
        sched.sysmonnote.move(rest)


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


def runqget(p: P) -> G | None:
    """Take runnext, else the local queue's head (Go's runqget; the M owns p)."""
    gp = p.runnext
    if gp is not None:
        p.runnext = None
        return gp
    q = p.runq
    if q:  # test first: a raised IndexError costs more than the test
        try:
            return q.popleft()
        except IndexError:  # a thief took it
            pass
    return None


# stealWork visits the Ps in a random order: a random start and a stride coprime to
# their number (Go's randomOrder), so every P is visited once per pass.
_coprime_cache: dict[int, list[int]] = {}


def _coprimes(n: int) -> list[int]:
    c = _coprime_cache.get(n)
    if c is None:
        c = [i for i in range(1, n + 1) if gcd(i, n) == 1]
        _coprime_cache[n] = c
    return c
