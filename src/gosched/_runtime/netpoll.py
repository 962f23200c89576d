"""The network poller's generic half (Go's runtime/netpoll.go; the epoll half is
netpoll_epoll.py, as Go's netpoll_epoll.go).

A goroutine that must wait for a descriptor parks on its ``PollDesc``
(``rg``/``wg``: the goroutine waiting to read or write). ``netpoll(delay)``
returns the goroutines whose descriptors are ready; the scheduler readies them.
Only one M blocks in ``netpoll`` at a time (the one that swapped
``sched.lastpoll`` to 0); it is also the thread that sleeps until the next
timer, and ``netpoll_break`` wakes it early.

For a socket owned by ``gosched.net`` (edge-triggered, both directions), an
edge that arrives while nobody waits leaves ``rready``/``wready`` set (Go's
``pdReady``), so the goroutine that next gets EAGAIN and comes to wait sees it
and retries instead of sleeping through it. Descriptors of other libraries
(``wait_readable``/``wait_writable``) are one-shot: ``waitfd`` re-arms them for
what is waited on.

A parked goroutine learns why it woke from ``gp.param`` (the value its trap
returns): ``READY``, ``TIMEOUT`` (its deadline passed), ``CLOSING``, or, for a
foreign descriptor, ``CANCELED`` (``netpollunblock``: its ``ctx=`` may be done).

Lock order: ``pd.lock`` → ``Poller.lock`` and ``pd.lock`` → ``p.timerslock``.
``Poller.waiting`` (the waiter count) needs no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import mgr, proc, runq
from . import timers as _timers
from .runtime2 import G, Sched, waitReasonIOWait
from .traps import PARK, checkpreempt, preempted, require_m, trap

if TYPE_CHECKING:
    from .netpoll_epoll import Poller

# Why a goroutine parked in pollwait woke (Go's pollNoError/pollErrTimeout/pollErrClosing).
OK = 0
READY = 1
TIMEOUT = 2
CLOSING = 3
CANCELED = 4

MODE_R = 1
MODE_W = 2
MODE_RW = 3


class PollDesc:
    """Per-descriptor wait state (Go's pollDesc). Every field is guarded by ``lock``.

    ``rd``/``wd`` are Go's deadlines: 0 none, -1 expired, otherwise the
    ``nanotime`` at which the timer ``rt``/``wt`` fires. ``rseq``/``wseq`` let
    a timer that fired concurrently with a deadline change see it is stale.
    """

    __slots__ = (
        "fd",
        "lock",
        "rg",
        "wg",
        "rready",
        "wready",
        "closing",
        "poller",
        "rd",
        "wd",
        "rt",
        "wt",
        "rseq",
        "wseq",
        "oneshot",
        "armed",
        "dead",
        "hup",
        "keep",
    )

    def __init__(self, fd: int, poller: Poller) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.rg: G | None = None  # goroutine parked waiting to read
        self.wg: G | None = None
        self.rready = False  # an edge arrived with nobody waiting (Go's pdReady)
        self.wready = False
        self.closing = False
        self.poller = poller
        self.rd = 0
        self.wd = 0
        self.rt: _timers.RTimer | None = None
        self.wt: _timers.RTimer | None = None
        self.rseq = 0
        self.wseq = 0
        self.oneshot = False  # a descriptor we do not own (wait_readable/wait_writable)
        self.armed = False  # oneshot: in the epoll set (possibly disabled by ONESHOT)
        self.dead = False  # oneshot: dropped from the poller; look it up again
        self.hup = False  # epoll reported hang-up or error: reads end without a new edge
        self.keep = False  # oneshot: stays in the epoll set between waits, until notify_closing

    def __repr__(self) -> str:
        return f"<PollDesc fd={self.fd}>"


def netpollready(pd: PollDesc, mode: int, ready: list[G]) -> None:
    """(pd.lock held) ``pd`` is ready for ``mode``: take its waiter into ``ready`` (Go's
    netpollready/netpollunblock), or, for a socket we own, remember the edge (pdReady)."""
    if mode == MODE_R:
        g = pd.rg
        if g is not None:
            pd.rg = None
    else:
        g = pd.wg
        if g is not None:
            pd.wg = None
    if g is not None:
        g.param = READY
        ready.append(g)
    elif not pd.oneshot:
        if mode == MODE_R:
            pd.rready = True
        else:
            pd.wready = True


def pollunblock(pd: PollDesc) -> list[G]:
    """``pd`` is closing: its waiters, who will see CLOSING (Go's poll_runtime_pollUnblock).

    Deadline timers are stopped; the waiters are uncounted but not readied.
    """
    with pd.lock:
        pd.closing = True
        pd.dead = True
        pd.rseq += 1
        pd.wseq += 1
        for t in (pd.rt, pd.wt):
            if t is not None:
                _timers.deltimer(t)
        pd.rt = pd.wt = None
        woken = [g for g in (pd.rg, pd.wg) if g is not None]
        pd.rg = pd.wg = None
        for g in woken:
            g.param = CLOSING
    if woken:
        pd.poller.addwaiter(-len(woken))
    return woken


# --- the goroutine side (Go's internal/poll + poll_runtime_* entry points) --------------


def current_g(what: str) -> tuple[G, Sched]:
    m = require_m(f"gosched.net {what}", "start it with gosched.go()")
    return m.curg, m.sched


def checkerr(pd: PollDesc, mode: int) -> int:
    """Go's netpollcheckerr: CLOSING, TIMEOUT or OK. Racy reads are fine: callers retry."""
    if pd.closing:
        return CLOSING
    if (mode == MODE_R and pd.rd < 0) or (mode == MODE_W and pd.wd < 0):
        return TIMEOUT
    return OK


async def pollwait(pd: PollDesc, mode: int) -> int:
    """Park until ``pd`` is ready for ``mode`` (Go's poll_runtime_pollWait/netpollblock).

    Returns OK when the caller should retry its syscall, or TIMEOUT/CLOSING.
    The goroutine sets ``rg``/``wg`` and parks holding ``pd.lock`` (the M's
    loop drops it once we are off the CPU), so neither netpoll nor a deadline
    timer can ready it before it is parked.
    """
    gp = require_m("gosched.net I/O", "start it with gosched.go()").curg
    lk = pd.lock
    lk.acquire()
    if pd.closing:
        lk.release()
        return CLOSING
    # Go's netpollblock takes &pd.rg or &pd.wg by mode; here, the fields' names.
    r = mode == MODE_R
    d, ready, g, verb = (pd.rd, "rready", "rg", "reading") if r else (pd.wd, "wready", "wg", "writing")
    if d < 0:
        lk.release()
        return TIMEOUT
    if getattr(pd, ready):  # an edge came while nobody waited: consume it and retry
        setattr(pd, ready, False)
        lk.release()
        if preempted:
            await checkpreempt()
        return OK
    if getattr(pd, g) is not None:
        lk.release()
        raise RuntimeError(f"gosched.net: two goroutines {verb} fd {pd.fd} at once")
    setattr(pd, g, gp)
    poller = pd.poller
    poller.waiting.append(1)
    gp.blockedon = pd
    why = await trap(PARK, lk, waitReasonIOWait)
    gp.blockedon = None
    if why == READY:
        return OK
    if why is None:  # not expected: treat as spurious, let the caller retry
        return OK
    return why  # type: ignore[no-any-return]


def netpollunblock(pd: PollDesc, mode: int) -> None:
    """Make the goroutine waiting on ``pd`` for ``mode`` look again (Go's netpollunblock, ioready).

    A parked waiter is readied (its pollwait returns OK); with none parked the
    ready flag is left set, so the next pollwait returns at once instead of
    sleeping through the call. gosched.net's ``ctx=`` calls it when the context
    is done; the woken operation sees that and raises the context's error.

    On a foreign descriptor the waiter wakes with CANCELED (the flag, which
    epoll never sets there, makes the next waitfd return it) and the epoll
    registration is cut down to what is still waited on, or dropped.
    """
    with pd.lock:
        if pd.closing:
            return
        if mode == MODE_R:
            gp, pd.rg = pd.rg, None
            pd.rready = gp is None
        else:
            gp, pd.wg = pd.wg, None
            pd.wready = gp is None
        if gp is not None:
            gp.param = CANCELED if pd.oneshot else READY
            if pd.oneshot:
                _rearm(pd)
    if gp is not None:
        pd.poller.addwaiter(-1)
        proc.goready(gp)


# --- deadlines (Go's poll_runtime_pollSetDeadline, netpolldeadlineimpl) -----------------


def _always(_: Any) -> bool:
    # checkdead: a deadline timer readies the goroutine waiting on the descriptor.
    return True


def _deadline_fired(arg: tuple[PollDesc, int, int]) -> None:
    """Timer callback (on some M, outside timer locks): expire and wake the waiter."""
    pd, mode, seq = arg
    gp: G | None = None
    with pd.lock:
        if mode == MODE_R:
            if seq != pd.rseq:
                return  # the deadline was changed after this timer was armed
            pd.rd = -1
            pd.rt = None
            gp = pd.rg
            pd.rg = None
        else:
            if seq != pd.wseq:
                return
            pd.wd = -1
            pd.wt = None
            gp = pd.wg
            pd.wg = None
        if gp is not None:
            gp.param = TIMEOUT
    if gp is not None:
        pd.poller.addwaiter(-1)
        proc.goready(gp)


def setdeadline(pd: PollDesc, sched: Sched, when: int, mode: int) -> None:
    """Set the read and/or write deadline of ``pd`` to ``when`` (nanotime; 0 clears).

    A deadline already in the past expires at once and wakes the waiter; a
    future one arms a runtime timer on the current P, like Go's.
    """
    if when and when <= proc.nanotime():
        when = -1
    woken: list[G] = []
    wake = False
    with pd.lock:
        if pd.closing:
            return
        for md in (MODE_R, MODE_W):
            if not mode & md:
                continue
            if md == MODE_R:
                pd.rseq += 1
                seq, old = pd.rseq, pd.rt
                pd.rd = when
            else:
                pd.wseq += 1
                seq, old = pd.wseq, pd.wt
                pd.wd = when
            if old is not None:
                _timers.deltimer(old)
            t: _timers.RTimer | None = None
            if when > 0:
                t = _timers.RTimer(_deadline_fired, (pd, md, seq), when, wakes=_always)
                wake = runq.addtimerhere(sched, t) or wake
            if md == MODE_R:
                pd.rt = t
                if when < 0 and pd.rg is not None:
                    woken.append(pd.rg)
                    pd.rg = None
            else:
                pd.wt = t
                if when < 0 and pd.wg is not None:
                    woken.append(pd.wg)
                    pd.wg = None
        for g in woken:
            g.param = TIMEOUT
    if wake:
        # Make sure a thread sleeps no later than the deadline (Go's wakeNetPoller).
        mgr.wakenetpoller(sched, when)
    if woken:
        pd.poller.addwaiter(-len(woken))
        for g in woken:
            proc.goready(g, sched)


# --- descriptors we do not own (wait_readable / wait_writable) ---------------------------


async def waitfd(
    fd: int, mode: int, wake: Callable[[PollDesc, int], Callable[[], bool]] | None = None, keep: bool = False
) -> bool:
    """Park until ``fd`` is readable/writable (level-triggered, one-shot registration).

    True once it is; False when ``netpollunblock`` woke the wait (``ctx=``):
    ``wake(pd, mode)`` arranges that and returns its ``stop``. A False return
    may be stale (an earlier call's wake), so the caller checks its context
    and waits again if it is not done. ``keep``: the descriptor stays in the
    epoll set (disabled) after the wait, so the next wait costs one
    ``epoll_ctl`` instead of a register and an unregister, until
    ``notify_closing`` (gosched._aio watches a descriptor for its lifetime).
    """
    gp, sched = current_g("wait_readable/wait_writable")
    poller = sched.poller
    if poller is None:  # pragma: no cover - run() always installs one
        raise RuntimeError("gosched.net: no poller")
    stop: Callable[[], bool] | None = None
    try:
        pd, stop = _lockforeign(poller, fd, mode, wake)
        if keep:
            pd.keep = True
        if pd.rready if mode == MODE_R else pd.wready:  # unblocked before we parked
            if mode == MODE_R:
                pd.rready = False
            else:
                pd.wready = False
            _rearm(pd)  # nothing of ours is registered: drop pd if nobody else waits
            pd.lock.release()
            return False
        _addwaiter(pd, mode, gp)
        poller.waiting.append(1)
        gp.blockedon = pd
        why = await trap(PARK, pd.lock, waitReasonIOWait)
        gp.blockedon = None
    finally:
        if stop is not None:
            stop()
    if why == CLOSING:
        raise OSError(9, f"fd {fd} was closed while a goroutine waited on it (notify_closing)")
    return bool(why != CANCELED)


def _lockforeign(
    poller: Poller, fd: int, mode: int, wake: Callable[[PollDesc, int], Callable[[], bool]] | None
) -> tuple[PollDesc, Callable[[], bool] | None]:
    """The live one-shot PollDesc of ``fd``, returned with its lock held, and ``wake``'s stop.

    ``wake`` is set up before the lock is taken (it may start a goroutine,
    which takes scheduler locks that must not nest inside ``pd.lock``)."""
    while True:
        pd = poller.openforeign(fd)
        if not pd.oneshot:
            raise ValueError(f"fd {fd} belongs to a gosched.net socket; use its own methods")
        stop = wake(pd, mode) if wake is not None else None
        pd.lock.acquire()
        if not pd.dead:
            return pd, stop
        pd.lock.release()  # dropped between the lookup and the lock: look again
        if stop is not None:
            stop()


def _addwaiter(pd: PollDesc, mode: int, gp: G) -> None:
    """(pd.lock held) Make ``gp`` the waiter for ``mode`` and register it with epoll."""
    busy = pd.rg if mode == MODE_R else pd.wg
    if busy is not None:
        pd.lock.release()
        what = "readable" if mode == MODE_R else "writable"
        raise RuntimeError(f"another goroutine is already waiting for fd {pd.fd} to become {what}")
    if mode == MODE_R:
        pd.rg = gp
    else:
        pd.wg = gp
    try:
        pd.poller.rearm(pd)
    except OSError:
        if mode == MODE_R:
            pd.rg = None
        else:
            pd.wg = None
        _rearm(pd)  # keep the other direction's waiter, or drop pd
        pd.lock.release()
        raise


def _rearm(pd: PollDesc) -> None:
    """(pd.lock held) Register a foreign ``pd`` for what is still waited on, or drop it."""
    try:
        pd.poller.rearm(pd)
    except OSError:
        pd.poller.forget(pd)


def notify_closing(sched: Sched, fd: int) -> None:
    """Wake goroutines in wait_readable/wait_writable on ``fd``: it is about to be closed."""
    poller = sched.poller
    if poller is None:
        return
    pd = poller.descs.get(fd)
    if pd is not None and pd.oneshot:
        poller.close(pd, sched)
