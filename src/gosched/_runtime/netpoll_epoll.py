"""The epoll poller (Go's runtime/netpoll_epoll.go; trio's _io_epoll.py).

One epoll instance per runtime, plus an eventfd that ``netpoll_break`` writes
to wake the M blocked in ``netpoll`` early. This module owns the kernel side:
registering descriptors, waiting, and re-arming one-shot registrations. What a
readiness event does to the goroutines waiting on a descriptor is netpoll.py's
(``netpollready``), as Go's netpoll_epoll.go calls netpoll.go's.

* sockets owned by ``gosched.net`` are registered once, edge-triggered, for
  both directions (as Go does);
* descriptors of other libraries (``wait_readable``/``wait_writable``) are
  registered level-triggered and one-shot for exactly the directions somebody
  waits for, and dropped from epoll when nobody does: we do not own them and
  cannot know when they are closed (trio does the same).

Lock order: ``pd.lock`` → ``Poller.lock``. ``Poller.waiting`` (the waiter count)
needs no lock.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable

from . import proc, speedups, trace
from .netpoll import MODE_R, MODE_W, PollDesc, netpollready, pollunblock
from .runtime2 import G, Sched

_EPOLLIN = select.EPOLLIN
_EPOLLOUT = select.EPOLLOUT
_EPOLLERRS = select.EPOLLERR | select.EPOLLHUP | select.EPOLLRDHUP
_EDGE = select.EPOLLET
_ONESHOT = select.EPOLLONESHOT
_RMASK = _EPOLLIN | _EPOLLERRS
_WMASK = _EPOLLOUT | _EPOLLERRS
_ETMASK = _EPOLLIN | _EPOLLOUT | _EPOLLERRS | _EDGE
_MAXEVENTS = 1023  # epoll.poll's own default

# A wait with a nanosecond timeout (epoll_pwait2: the C accelerator's, _speedups_poll.h), or
# None: epoll.poll's whole milliseconds. Set to None for good if the kernel lacks it.
_nswait: Callable[[int, int, int], list[tuple[int, int]] | None] | None = (
    speedups.c.epoll_wait if speedups.c is not None else None
)

# epoll_ctl keeping the GIL (the C accelerator's; _speedups_poll.h says why), or None:
# select.epoll's methods. Its operations are Linux's numbers, the same on every architecture.
_ctl: Callable[[int, int, int, int], None] | None = speedups.c.epoll_ctl if speedups.c is not None else None
_CTL_ADD, _CTL_MOD = 1, 3


class Poller:
    """One runtime's epoll set, its descriptors and its parked-waiter count (Go's netpollinit)."""

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
            self.forget(pd)
            raise
        return pd

    def openforeign(self, fd: int) -> PollDesc:
        """The one-shot PollDesc of a descriptor we do not own, made on first use."""
        with self.lock:
            pd = self.descs.get(fd)
            if pd is None:
                pd = PollDesc(fd, self)
                pd.oneshot = True
                self.descs[fd] = pd
        return pd

    def close(self, pd: PollDesc, sched: Sched | None = None) -> list[G]:
        """Unregister ``pd`` and ready its waiters, who see CLOSING (Go's pollUnblock).

        Returns the goroutines it readied. The caller closes the descriptor
        afterwards, as Go's fd layer closes only after pollUnblock. Once the
        runtime ``sched`` has ended (a socket closed by the ``finally`` of a
        goroutine its run's end closes) nobody is readied.
        """
        woken = pollunblock(pd)
        self.forget(pd)
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

    def forget(self, pd: PollDesc) -> None:
        """Drop ``pd`` from the table (a later waiter on its fd makes a new one)."""
        pd.dead = True
        with self.lock:
            if self.descs.get(pd.fd) is pd:
                del self.descs[pd.fd]

    @property
    def nwaiters(self) -> int:
        """Goroutines parked on descriptors, or readied by a poll and not yet queued (what proc,
        sysmon and checkdead read: either will run again without anything else happening)."""
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

        A positive delay waits to the nanosecond where the kernel has epoll_pwait2
        and the C accelerator is in use; otherwise whole milliseconds (epoll_wait's
        resolution), rounded up: below 1 ms waits 1 ms, as on Linux Go.
        """
        global _nswait
        if self.closed:
            return []
        try:
            events = None
            if delay_ns >= 0 and _nswait is not None:
                events = _nswait(self.ep.fileno(), delay_ns, _MAXEVENTS)
                if events is None:  # no epoll_pwait2 in this kernel
                    _nswait = None
            if events is None:
                events = self.ep.poll(_timeout(delay_ns))
        except (OSError, ValueError):
            return []  # closed under us at shutdown
        ready: list[G] = []
        descs = self.descs
        for fd, ev in events:
            pd = descs.get(fd)
            if pd is None:
                if fd == self.breakfd:
                    self._drainbreak()
                # Otherwise a descriptor closed since epoll_wait returned: its
                # waiters were readied by close().
                continue
            with pd.lock:
                if ev & _EPOLLERRS:
                    pd.hup = True
                if ev & _RMASK:
                    netpollready(pd, MODE_R, ready)
                if ev & _WMASK:
                    netpollready(pd, MODE_W, ready)
                if pd.oneshot:
                    # One-shot: epoll disabled the registration (it stays in the
                    # set); re-enable it for a remaining waiter, or drop it.
                    self.rearm(pd)
        if ready and trace.enabled:
            trace.netpollready(ready)
        # The readied goroutines are still counted in ``waiting``: the caller uncounts them
        # (``addwaiter(-len(ready))``) once they are on a run queue, as Go's findRunnable
        # calls netpollAdjustWaiters after injectglist. Uncounted here, they would be
        # nowhere checkdead looks while the caller, an M that polled as an inactive one (or
        # sysmon), queues them: another M going idle meanwhile saw no work, no I/O waiter
        # and declared a deadlock (CPython's test_events.test_read_pipe, ~1 run in 40).
        return ready

    def _drainbreak(self) -> None:
        try:
            os.eventfd_read(self.breakfd)
        except OSError:
            pass
        with self.lock:
            self.breaking = False

    def rearm(self, pd: PollDesc) -> None:
        """(pd.lock held) Register a foreign descriptor for what is waited on, or drop it."""
        mask = (_RMASK if pd.rg is not None else 0) | (_WMASK if pd.wg is not None else 0)
        if mask:
            if pd.armed:
                try:
                    self._epollctl(_CTL_MOD, pd.fd, mask | _ONESHOT)
                    return
                except FileNotFoundError:  # kept, but closed (and maybe reopened) since: not in the set
                    pass
            self._epollctl(_CTL_ADD, pd.fd, mask | _ONESHOT)
            pd.armed = True
            return
        if pd.keep:
            return  # stays in the set, disabled by EPOLLONESHOT, for the next wait (waitfd's keep)
        if pd.armed:
            pd.armed = False
            try:
                self.ep.unregister(pd.fd)
            except (OSError, ValueError):
                pass
        self.forget(pd)

    def _epollctl(self, op: int, fd: int, events: int) -> None:
        """epoll.register (``_CTL_ADD``) or modify (``_CTL_MOD``), in C where it can be."""
        if _ctl is not None:
            _ctl(self.ep.fileno(), op, fd, events)  # ValueError once closed, as epoll's own methods
        elif op == _CTL_MOD:
            self.ep.modify(fd, events)
        else:
            self.ep.register(fd, events)

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


def _timeout(delay_ns: int) -> float:
    """epoll_wait's timeout for netpoll's delay, in seconds (-1: forever)."""
    if delay_ns < 0:
        return -1
    if delay_ns == 0:
        return 0
    # Rounded up, as Python's own epoll.poll(seconds) rounds: Go truncates, which wakes
    # a poller up to 1 ms before its timer, idles it again and polls once more, so
    # each timer cost two wake-ups of the M (and of sysmon) instead of one.
    return min(-(-delay_ns // 1_000_000), 1_000_000_000) / 1e3
