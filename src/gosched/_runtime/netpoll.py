"""The network poller (Go's runtime/netpoll.go + netpoll_epoll.go).

One epoll instance per runtime. A goroutine that must wait for a descriptor
parks on its ``PollDesc`` (``rg``/``wg``: the goroutine waiting to read or
write). ``netpoll(delay)`` returns the goroutines whose descriptors are ready;
the scheduler readies them. Only one M blocks in ``netpoll`` at a time (the one
that swapped ``sched.lastpoll`` to 0); it is also the thread that sleeps until
the next timer, and ``netpoll_break`` (an eventfd) wakes it early.

Two kinds of descriptors are registered:

* sockets owned by ``gosched.net`` are registered once, edge-triggered, for
  both directions (as Go does). An edge that arrives while nobody waits leaves
  ``rready``/``wready`` set (Go's ``pdReady``), so the goroutine that next gets
  EAGAIN and comes to wait sees it and retries instead of sleeping through it.
* descriptors of other libraries (``wait_readable``/``wait_writable``) are
  registered level-triggered and one-shot for exactly the directions somebody
  waits for, and dropped from epoll when nobody does: we do not own them and
  cannot know when they are closed (trio does the same).

A parked goroutine learns why it woke from ``gp.param`` (the value its trap
returns): ``READY``, ``TIMEOUT`` (its deadline passed) or ``CLOSING``.

Lock order: ``pd.lock`` → ``Poller.lock`` and ``pd.lock`` → ``p.timerslock``.
``Poller.waiting`` (the waiter count) needs no lock.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Any

from . import mgr, proc, runq
from . import timers as _timers
from .runtime2 import G, Sched, waitReasonIOWait
from .traps import PARK, checkpreempt, preempted, require_m, trap

_EPOLLIN = select.EPOLLIN
_EPOLLOUT = select.EPOLLOUT
_EPOLLERRS = select.EPOLLERR | select.EPOLLHUP | select.EPOLLRDHUP
_EDGE = select.EPOLLET
_ONESHOT = select.EPOLLONESHOT
_ERRS = _EPOLLERRS
_RMASK = _EPOLLIN | _EPOLLERRS
_WMASK = _EPOLLOUT | _EPOLLERRS
_ETMASK = _EPOLLIN | _EPOLLOUT | _EPOLLERRS | _EDGE

# Why a goroutine parked in pollwait woke (Go's pollNoError/pollErrTimeout/pollErrClosing).
OK = 0
READY = 1
TIMEOUT = 2
CLOSING = 3

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

    def __repr__(self) -> str:
        return f"<PollDesc fd={self.fd}>"


class Poller:
    def __init__(self) -> None:
        self.ep = select.epoll()
        self.breakfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.ep.register(self.breakfd, _EPOLLIN)
        self.lock = threading.Lock()
        self.descs: dict[int, PollDesc] = {}
        # One entry per goroutine parked on a descriptor (checkdead counts them).
        # A list used as an atomic counter: append/pop are atomic on every CPython
        # build, so parking and waking cost no lock (Go's atomic netpollWaiters).
        # A goroutine is counted before it parks and uncounted only by whoever took
        # it out of rg/wg, so the list never underflows.
        self.waiting: list[int] = []
        self.breaking = False
        self.closed = False

    # -- registration (poll_runtime_pollOpen / pollClose) ----------------------
    def open(self, fd: int) -> PollDesc:
        """Register a socket we own: edge-triggered, both directions, once."""
        pd = PollDesc(fd, self)
        # Publish pd before epoll can report the fd: registering a socket that is
        # already ready (a connect that finished) queues its one and only edge,
        # which the polling M must find a PollDesc for. (Go stores pd in the
        # epoll data itself, so it has no such window.)
        with self.lock:
            self.descs[fd] = pd
        try:
            self.ep.register(fd, _ETMASK)
        except BaseException:
            with self.lock:
                if self.descs.get(fd) is pd:
                    del self.descs[fd]
            raise
        return pd

    def close(self, pd: PollDesc, sched: Sched | None = None) -> list[G]:
        """Unregister ``pd`` and ready its waiters, who see CLOSING (Go's pollUnblock).

        Returns the goroutines it readied. The caller closes the descriptor
        afterwards, as Go's fd layer closes only after pollUnblock. Once the
        runtime ``sched`` has ended (a socket closed by the ``finally`` of a
        goroutine its run's end closes) nobody is readied.
        """
        woken = self._unblock(pd)
        with self.lock:
            if self.descs.get(pd.fd) is pd:
                del self.descs[pd.fd]
        if not pd.oneshot or pd.armed:
            try:
                self.ep.unregister(pd.fd)
            except (OSError, ValueError):
                pass
        if sched is not None and sched.dead:
            return woken
        for gp in woken:
            proc.goready(gp, sched)
        return woken

    def _unblock(self, pd: PollDesc) -> list[G]:
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
            self.addwaiter(-len(woken))
        return woken

    @property
    def nwaiters(self) -> int:
        """Goroutines parked on descriptors (what proc, sysmon and checkdead read)."""
        return len(self.waiting)

    def addwaiter(self, n: int) -> None:
        w = self.waiting
        if n > 0:
            for _ in range(n):
                w.append(1)
        else:
            for _ in range(-n):
                w.pop()

    # -- polling ---------------------------------------------------------------
    def netpoll(self, delay_ns: int) -> list[G]:
        """Go's netpoll(delay): <0 blocks, 0 polls, >0 waits up to delay.

        As on Linux Go, a positive delay below 1 ms still waits 1 ms (epoll's
        resolution), and a longer one is truncated to whole milliseconds.
        """
        if self.closed:
            return []
        if delay_ns < 0:
            timeout: float = -1
        elif delay_ns == 0:
            timeout = 0
        elif delay_ns < 1_000_000:
            timeout = 0.001
        else:
            timeout = min(delay_ns // 1_000_000, 1_000_000_000) / 1e3
        try:
            events = self.ep.poll(timeout)
        except (OSError, ValueError):
            return []  # closed under us at shutdown
        ready: list[G] = []
        descs = self.descs
        for fd, ev in events:
            pd = descs.get(fd)
            if pd is None:
                if fd == self.breakfd:
                    try:
                        os.eventfd_read(self.breakfd)
                    except OSError:
                        pass
                    with self.lock:
                        self.breaking = False
                # Otherwise a descriptor closed since epoll_wait returned: its
                # waiters were readied by close().
                continue
            with pd.lock:
                if ev & _ERRS:
                    pd.hup = True
                if ev & _RMASK:
                    g = pd.rg
                    if g is not None:
                        pd.rg = None
                        g.param = READY
                        ready.append(g)
                    elif not pd.oneshot:
                        pd.rready = True
                if ev & _WMASK:
                    g = pd.wg
                    if g is not None:
                        pd.wg = None
                        g.param = READY
                        ready.append(g)
                    elif not pd.oneshot:
                        pd.wready = True
                if pd.oneshot:
                    # One-shot: epoll disabled the registration (it stays in the
                    # set); re-enable it for a remaining waiter, or drop it.
                    self._rearm(pd)
        if ready:
            w = self.waiting
            for _ in ready:
                w.pop()
        return ready

    def _rearm(self, pd: PollDesc) -> None:
        """(pd.lock held) Register a foreign descriptor for what is waited on, or drop it."""
        mask = (_RMASK if pd.rg is not None else 0) | (_WMASK if pd.wg is not None else 0)
        if mask:
            if pd.armed:
                self.ep.modify(pd.fd, mask | _ONESHOT)
            else:
                self.ep.register(pd.fd, mask | _ONESHOT)
                pd.armed = True
            return
        if pd.armed:
            pd.armed = False
            try:
                self.ep.unregister(pd.fd)
            except (OSError, ValueError):
                pass
        pd.dead = True
        with self.lock:
            if self.descs.get(pd.fd) is pd:
                del self.descs[pd.fd]

    def netpoll_break(self) -> None:
        """Wake the M blocked in netpoll (Go's netpollBreak); coalesced."""
        with self.lock:
            if self.breaking or self.closed:
                return
            self.breaking = True
        try:
            os.eventfd_write(self.breakfd, 1)
        except OSError:
            pass

    def shutdown(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        try:
            os.close(self.breakfd)
        except OSError:
            pass
        self.ep.close()


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
    if mode == MODE_R:
        if pd.rd < 0:
            lk.release()
            return TIMEOUT
        if pd.rready:  # an edge came while nobody waited: consume it and retry
            pd.rready = False
            lk.release()
            if preempted:
                await checkpreempt()
            return OK
        if pd.rg is not None:
            lk.release()
            raise RuntimeError(f"gosched.net: two goroutines reading fd {pd.fd} at once")
        pd.rg = gp
    else:
        if pd.wd < 0:
            lk.release()
            return TIMEOUT
        if pd.wready:
            pd.wready = False
            lk.release()
            if preempted:
                await checkpreempt()
            return OK
        if pd.wg is not None:
            lk.release()
            raise RuntimeError(f"gosched.net: two goroutines writing fd {pd.fd} at once")
        pd.wg = gp
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


async def waitfd(fd: int, mode: int) -> None:
    """Park until ``fd`` is readable/writable (level-triggered, one-shot registration)."""
    gp, sched = current_g("wait_readable/wait_writable")
    poller = sched.poller
    if poller is None:  # pragma: no cover - run() always installs one
        raise RuntimeError("gosched.net: no poller")
    while True:
        with poller.lock:
            pd = poller.descs.get(fd)
            if pd is None:
                pd = PollDesc(fd, poller)
                pd.oneshot = True
                poller.descs[fd] = pd
        if not pd.oneshot:
            raise ValueError(f"fd {fd} belongs to a gosched.net socket; use its own methods")
        lk = pd.lock
        lk.acquire()
        if pd.dead:  # dropped between the lookup and the lock: look again
            lk.release()
            continue
        break
    busy = pd.rg if mode == MODE_R else pd.wg
    if busy is not None:
        lk.release()
        what = "readable" if mode == MODE_R else "writable"
        raise RuntimeError(f"another goroutine is already waiting for fd {fd} to become {what}")
    if mode == MODE_R:
        pd.rg = gp
    else:
        pd.wg = gp
    try:
        poller._rearm(pd)
    except OSError:
        if mode == MODE_R:
            pd.rg = None
        else:
            pd.wg = None
        try:
            poller._rearm(pd)  # keep the other direction's waiter, or drop pd
        except OSError:
            _drop(poller, pd)
        lk.release()
        raise
    poller.waiting.append(1)
    gp.blockedon = pd
    why = await trap(PARK, lk, waitReasonIOWait)
    gp.blockedon = None
    if why == CLOSING:
        raise OSError(9, f"fd {fd} was closed while a goroutine waited on it (notify_closing)")


def _drop(poller: Poller, pd: PollDesc) -> None:
    pd.dead = True
    with poller.lock:
        if poller.descs.get(pd.fd) is pd:
            del poller.descs[pd.fd]


def notify_closing(sched: Sched, fd: int) -> None:
    """Wake goroutines in wait_readable/wait_writable on ``fd``: it is about to be closed."""
    poller = sched.poller
    if poller is None:
        return
    pd = poller.descs.get(fd)
    if pd is not None and pd.oneshot:
        poller.close(pd, sched)
