"""The SYSCALL trap: entersyscall, the call, exitsyscall (Go's entersyscall/exitsyscall/exitsyscall0).

The call runs with the P published (``p.tok``) so that sysmon can retake it if
the call blocks (Go's retake of a P in _Psyscall). On return the M pops the
token back: the fast path keeps the P; if sysmon took it, the slow path grabs
an idle P or queues the goroutine globally and the M goes idle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import trace
from .lockedm import syscallaway
from .mgr import acquirep, injectglist
from .runq import pidleget, takereadyq
from .runtime2 import G, Grunnable, Grunning, Gsyscall, M, P, Sched, waitReasonSyscall, waitReasonZero


def _nolostp(sched: Sched, m: M, gp: G) -> None:
    pass


def _nowake(sched: Sched) -> None:
    pass


def _nowakefor(sched: Sched, p: P, m: M) -> None:
    pass


# Hooks into sysmon, which sits above the scheduler and imports it; it installs
# them when imported. The defaults are what a scheduler without sysmon does.
lostp_returned: Callable[[Sched, M, G], None] = _nolostp  # sysmon.lostp_returned
wakesysmon: Callable[[Sched], None] = _nowake  # sysmon.wake
wakesysmonfor: Callable[[Sched, P, M], None] = _nowakefor  # sysmon.wakefor


def syscall(sched: Sched, m: M, gp: G, p: P | None, fn: Any, args: Any) -> G | None:
    """entersyscall; fn(*args); exitsyscall. Returns gp if this M may go on running it."""
    if (m.lockedint and not m.lockedext) or (m.borrowed is not None and gp.lockedm is not m):
        syscallaway(sched, m, gp, fn, args)
        return None
    gp.status = Gsyscall
    gp.waitreason = waitReasonSyscall
    m.syscalls += 1  # /sched/syscalls: this M's own counter
    if p is not None:
        p.syscalltick += 1
    with sched.lock:
        sched.nsyscall += 1
    if sched.sysmonwait:
        wakesysmon(sched)
    elif p is not None and (nap := sched.sysmonwhen) and (
        p.runq or p.runnext is not None or m.readyq or 0 < p.timer0when < nap
    ):
        # Others wait for this P (goroutines, or a timer due before sysmon's nap ends):
        # make sure sysmon comes in time to hand the P off (Go's entersyscallblock, a
        # tick later). Attribute reads only, when nothing waits: short syscalls stay cheap.
        wakesysmonfor(sched, p, m)
    tok = p.tok if p is not None else None
    if tok is not None:
        tok.append(1)
    t0 = trace.now() if trace.enabled else 0.0
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
    if trace.enabled:
        trace.syscall(m, gp, fn, t0, lost)
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


def lostp(sched: Sched, m: M, gp: G) -> None:
    """The loop found its P taken by sysmon: hand on what this M still holds."""
    m.p = None  # only this M writes m.p; sysmon's takep leaves it stale until here
    lostp_returned(sched, m, gp)
    injectglist(sched, takereadyq(m))
