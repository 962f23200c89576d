"""sysmon's deep-sleep note (Go's sched.sysmonnote: notetsleep / notewakeup).

Go's note is a one-shot wake-up with a timeout fixed when the sleep starts.
gosched adds ``move``: another thread changes the deadline of a sleep in
progress *without waking the sleeper*. sysmon sleeps until the next timer, or
until a P that went busy meanwhile has run ``forcePreemptNS``; when that P goes
idle again first, the M idling it moves the deadline out again
(proc.goinactive) and sysmon sleeps on. With a fixed timeout each such watch
woke sysmon for nothing: a thread wake-up per timer expiry on top of the M's
(on this VM ~0.1-0.2 ms of CPU each, most of an idle program's cost).

``TimerNote`` is a timerfd (the deadline, absolute CLOCK_MONOTONIC) and an
eventfd (``wakeup``) in an epoll set; ``move`` is one timerfd_settime. It needs
``os.timerfd_*`` (CPython 3.13) or the C accelerator's. ``LockNote``, the
fallback, is Go's plain note (a lock released to wake) and cannot move.

Callers hold ``sched.lock`` around ``arm``, ``wakeup``, ``move`` and
``consume``, and around reading and writing ``sched.sysmonwait``, as Go's
callers of the note do; ``sleep`` is sysmon's alone. sysmon arms the deadline
under the lock in which it sets ``sysmonwait``, and ``sleep`` then only waits:
had ``sleep`` set it, a ``move`` between the unlock and the sleep would be
lost, and sysmon would sleep through the watch of a P gone busy (a first step
stuck in a blocking call went unretaken for its whole second, 1 run in 100
under load).
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import speedups


class Note(Protocol):
    movable: bool

    def arm(self, deadline: int) -> None: ...
    def sleep(self) -> bool: ...
    def wakeup(self) -> None: ...
    def consume(self) -> None: ...
    def move(self, deadline: int) -> None: ...
    def close(self) -> None: ...


class LockNote:
    """Go's note: sleeping is acquiring a lock that ``wakeup`` releases."""

    movable = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._deadline = 0

    def arm(self, deadline: int) -> None:
        """Set the next sleep's deadline (monotonic ns)."""
        self._deadline = deadline

    def sleep(self) -> bool:
        """Sleep until the armed deadline or a wakeup; True if woken (it is consumed)."""
        return self._lock.acquire(timeout=max(self._deadline - time.monotonic_ns(), 1000) / 1e9)

    def wakeup(self) -> None:
        self._lock.release()

    def consume(self) -> None:
        """Take a wakeup sent after the sleep timed out (Go's noteclear)."""
        self._lock.acquire()

    def move(self, deadline: int) -> None:
        raise NotImplementedError("a LockNote's deadline cannot move")

    def close(self) -> None:
        pass


def _timerfd() -> tuple[Callable[[], int], Callable[[int, int], None]] | None:
    """timerfd_create and timerfd_settime(fd, absolute ns), from os or the C accelerator."""
    osx: Any = os  # typed Any: mypy's target (3.11) has no timerfd
    if hasattr(osx, "timerfd_create"):  # CPython 3.13

        def create() -> int:
            fd: int = osx.timerfd_create(time.CLOCK_MONOTONIC, flags=osx.TFD_NONBLOCK | osx.TFD_CLOEXEC)
            return fd

        def settime(fd: int, ns: int) -> None:
            osx.timerfd_settime_ns(fd, flags=osx.TFD_TIMER_ABSTIME, initial=ns)

        return create, settime
    c = speedups.c
    if c is not None:
        return c.timerfd_create, c.timerfd_settime
    return None


_TIMERFD = _timerfd()


class TimerNote:
    """A note whose deadline can move while sysmon sleeps on it (see the module docstring)."""

    movable = True

    def __init__(self) -> None:
        assert _TIMERFD is not None
        create, self._settime = _TIMERFD
        self._tfd = create()
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._ep = select.epoll()
        self._ep.register(self._tfd, select.EPOLLIN)
        self._ep.register(self._efd, select.EPOLLIN)

    def arm(self, deadline: int) -> None:
        """Set the next sleep's deadline (monotonic ns); ``move`` changes it during the sleep."""
        self._settime(self._tfd, max(deadline, 1))

    def sleep(self) -> bool:
        """Sleep until the armed (or moved) deadline or a wakeup; True if woken (it is consumed)."""
        while True:
            try:
                ready = self._ep.poll(-1)
            except OSError:  # closed at shutdown
                return True
            woken = any(fd == self._efd for fd, _ in ready)
            if woken:
                self.consume()
            try:
                os.read(self._tfd, 8)
                fired = True
            except BlockingIOError:  # moved later since epoll saw it fire
                fired = False
            if woken or fired:
                self._settime(self._tfd, 0)
                return woken

    def wakeup(self) -> None:
        os.eventfd_write(self._efd, 1)

    def consume(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass

    move = arm

    def close(self) -> None:
        self._ep.close()
        os.close(self._tfd)
        os.close(self._efd)


def newnote() -> Note:
    """The best note this CPython offers: a TimerNote, or a LockNote."""
    return TimerNote() if _TIMERFD is not None else LockNote()
