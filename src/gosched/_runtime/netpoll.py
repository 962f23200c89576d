"""The network poller (Go's netpoll.go + netpoll_epoll.go).

One epoll instance per runtime. A goroutine that must wait for a descriptor
parks on its ``PollDesc`` (``rg``/``wg``: the goroutine waiting to read or
write). ``netpoll(delay)`` returns the goroutines whose descriptors are ready;
the scheduler readies them. Only one M blocks in ``netpoll`` at a time (the one
that swapped ``sched.lastpoll`` to 0); it is also the thread that sleeps until
the next timer, and ``netpoll_break`` (an eventfd) wakes it early.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Any

from .runtime2 import G

_EPOLLIN = select.EPOLLIN
_EPOLLOUT = select.EPOLLOUT
_EPOLLERRS = select.EPOLLERR | select.EPOLLHUP | getattr(select, "EPOLLRDHUP", 0)
_EDGE = select.EPOLLET


class PollDesc:
    """Per-descriptor wait state (Go's pollDesc). Guarded by ``lock``."""

    __slots__ = ("fd", "lock", "rg", "wg", "rready", "wready", "closing", "poller")

    def __init__(self, fd: int, poller: Poller) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.rg: G | None = None  # goroutine parked waiting to read
        self.wg: G | None = None
        self.rready = False  # an edge arrived with nobody waiting (Go's pdReady)
        self.wready = False
        self.closing = False
        self.poller = poller


class Poller:
    def __init__(self) -> None:
        self.ep = select.epoll()
        self.breakfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.ep.register(self.breakfd, _EPOLLIN)
        self.lock = threading.Lock()
        self.descs: dict[int, PollDesc] = {}
        self.nwaiters = 0  # goroutines parked on descriptors (checkdead counts them)
        self.breaking = False
        self.closed = False

    # -- registration (poll_runtime_pollOpen / pollClose) ----------------------
    def open(self, fd: int) -> PollDesc:
        pd = PollDesc(fd, self)
        with self.lock:
            self.descs[fd] = pd
        self.ep.register(fd, _EPOLLIN | _EPOLLOUT | _EPOLLERRS | _EDGE)
        return pd

    def close(self, pd: PollDesc) -> list[G]:
        """Unregister; returns the goroutines to wake (they see ``closing``)."""
        with pd.lock:
            pd.closing = True
            woken = [g for g in (pd.rg, pd.wg) if g is not None]
            pd.rg = pd.wg = None
        with self.lock:
            if self.descs.get(pd.fd) is pd:
                del self.descs[pd.fd]
            self.nwaiters -= len(woken)
        try:
            self.ep.unregister(pd.fd)
        except (OSError, ValueError):
            pass
        return woken

    def addwaiter(self, n: int) -> None:
        with self.lock:
            self.nwaiters += n

    # -- polling ---------------------------------------------------------------
    def netpoll(self, delay_ns: int) -> list[G]:
        """Go's netpoll(delay): <0 blocks, 0 polls, >0 waits up to delay.

        As on Linux Go, a positive delay below 1 ms still waits 1 ms (epoll's
        resolution).
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
            timeout = min(delay_ns / 1e9, 1e6)
        try:
            events = self.ep.poll(timeout)
        except (OSError, ValueError):
            return []  # closed under us at shutdown
        ready: list[G] = []
        for fd, ev in events:
            if fd == self.breakfd:
                try:
                    os.eventfd_read(self.breakfd)
                except BlockingIOError:
                    pass
                with self.lock:
                    self.breaking = False
                continue
            pd = self.descs.get(fd)
            if pd is None:
                continue
            r = ev & (_EPOLLIN | _EPOLLERRS)
            w = ev & (_EPOLLOUT | _EPOLLERRS)
            with pd.lock:
                if r:
                    if pd.rg is not None:
                        ready.append(pd.rg)
                        pd.rg = None
                    else:
                        pd.rready = True
                if w:
                    if pd.wg is not None:
                        ready.append(pd.wg)
                        pd.wg = None
                    else:
                        pd.wready = True
        if ready:
            with self.lock:
                self.nwaiters -= len(ready)
        return ready

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
        for fd in (self.breakfd,):
            try:
                os.close(fd)
            except OSError:
                pass
        self.ep.close()


def describe(pd: Any) -> str:
    return f"fd {pd.fd}"
