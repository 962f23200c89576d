"""The end of a run: goroutines left behind (claimg, unqueue, closeg, gfinalize, abandon).

Go's program ends with main: the process exits and no goroutine runs again. A
gosched run ends inside a process that goes on (and may start another run), so
run() finishes what Go's exit leaves to the kernel: every goroutine of the run
is closed before run() returns (docs/design.md, "The end of a run"). A
goroutine still running on an M (a blocking call or a loop Python cannot
interrupt) is closed by that M when it next reaches the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .lock import held
from .mgr import injectglist
from .panic import log, over
from .runq import takereadyq
from .runtime2 import G, Gdead, Grunning, Gsyscall, M, Sched
from .speedups import EXIT as _EXIT
from .speedups import Returned, gctrack
from .traps import PARK, closing, getm, setm


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


def unqueue(gs: Iterable[G], locked: bool) -> None:
    """Take parked goroutines off the wait queues of what they are blocked on.

    Objects a goroutine parks on (Chan, a select's channels, Mutex, ...) have
    ``_dropwaiters(gs)``, called with their runtime lock ``_lock`` held (``locked``:
    the caller holds it already). Once off, no later operation of another run
    can hand a goroutine a value or ready it. A poll descriptor needs nothing:
    its poller ends with the run. Each object's queues are passed over once for
    all of ``gs``: taken one goroutine at a time, the end of a run that left
    50,000 goroutines on one channel was quadratic (minutes).
    """
    byobj: dict[int, tuple[Any, set[G]]] = {}
    for gp in gs:
        obj = gp.blockedon
        for o in obj if type(obj) is list else (obj,):
            if getattr(o, "_dropwaiters", None) is not None:
                byobj.setdefault(id(o), (o, set()))[1].add(gp)
    for o, mine in byobj.values():
        if locked:
            o._dropwaiters(mine)
        else:
            with held(o._lock):
                o._dropwaiters(mine)


def forgetg(sched: Sched, gp: G) -> None:
    """``gp`` leaves ``allgs``, and goes back on the cyclic collector's lists (the C go()
    took it off them while allgs kept it reachable; proc.schedule's goexit does the same in line)."""
    sched.allgs.pop(gp.goid, None)
    if gctrack is not None:
        gctrack(gp)


def closeg(sched: Sched, gp: G) -> None:
    """Close ``gp``'s coroutine on this thread: GeneratorExit runs its finally blocks now.

    The thread is not an M meanwhile and ``traps.closing`` names the goroutine,
    so a runtime call that would wait fails saying why; what a finally block
    raises is logged (logger ``gosched``), as asyncio logs a task's exception
    nobody retrieved: the run's outcome is decided already.
    """
    forgetg(sched, gp)
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


def gfinalize(sched: Sched, gps: Iterable[G]) -> None:
    """run()'s end: close the goroutines the run left parked or runnable, in order.

    All are claimed and off their wait queues before the first is closed, so
    what a finally block does (a send, a close) cannot hand a value to, or
    ready, another goroutine of the ended run.
    """
    claimed = [gp for gp in gps if claimg(sched, gp, False)]
    unqueue(claimed, False)
    for gp in claimed:
        closeg(sched, gp)


def dropqueues(sched: Sched) -> None:
    """The ended run's Ps let go of the goroutines left on their run queues (gfinalize
    closed them): an ended run's Sched may outlive it (gosched.aio keeps the last runtime's
    loop until the next run starts), and must not keep them and what they hold alive."""
    for p in sched.allp:
        p.runnext = None
        p.runq.clear()


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
        forgetg(sched, gp)
        gp.coro = None  # type: ignore[assignment]
        return
    if type(tr) is tuple and tr[0] is PARK:
        unqueue((gp,), True)
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


def schedend(sched: Sched, m: M, nextg: G | None) -> None:
    """The run ended. Back from a syscall that outlived it, close that (abandon), unless
    this is a child forked from it, where it goes on as plain Python (fork._childmain)."""
    if nextg is not None and over(sched):
        abandon(sched, m, nextg, None)
