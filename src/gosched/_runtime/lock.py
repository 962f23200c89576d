"""Runtime locks: Lock, and lock2, the slow path of lock() (Go's lock_futex.go).

Every structure shared between Ms is guarded by a lock held for a few
bytecodes. Channels and the sync primitives use the list tokens below
(``newlock``: locking and unlocking are argument-free C calls); ``sched`` and
the poller use ``threading.Lock``, whose hot sites lock with ``if not
lk.acquire(False): lock2(lk)``. Either way only a failed first attempt reaches
a slow path (``lockslow`` or ``lock2``).

Why not a plain blocking ``acquire()``? On a GIL build it makes a *lock
convoy*. The holder can only have been switched out by the GIL inside its few
bytecodes, so it is waiting for the GIL. A blocking waiter releases the GIL,
sleeps on the lock, and -- when the holder releases it -- is handed the lock
while it still waits for the GIL. The holder runs on, needs the lock again at
once, finds it owned by a thread that is not running, and sleeps in turn. Two
Ms sharing one lock then trade the GIL through the kernel at every operation:
measured on ``spawn + join`` with the spawner's P handed off by sysmon,
25,000-60,000 context switches for 50,000 goroutines and 2-4x the time (with
this module: a few hundred, and the same time as with no hand-off). Go's
lock2 spins and yields before it sleeps for a related reason (a futex sleep
costs more than the critical section).

So on a GIL build the waiter gives the GIL to the holder without sleeping on
the lock: it sleeps briefly with the GIL released (the holder takes the GIL,
finishes its critical section and releases the lock) and tries again while
holding the GIL, so it never owns the lock while it cannot run. After
``passiveSpin`` rounds lock2 falls back to a blocking acquire (lockslow to a
1 ms poll), for a holder that is blocked for real (none in the runtime; a bug
must hang visibly, not spin). Without a GIL the holder runs in parallel:
lockslow spins briefly first, and threading.Lock's OS wait is the right tool.
"""

from __future__ import annotations

import sys
import threading
import time

from . import traps

GIL: bool = getattr(sys, "_is_gil_enabled", lambda: True)()

passiveSpin = 200  # tries that give the GIL away before sleeping on the lock
activeSpin = 64  # lockslow, without a GIL: tries before the first sleep
_yieldS = 1e-6  # how long to give it away for (the kernel rounds up: ~50 us)
_pollS = 1e-3  # lockslow: the poll interval once passiveSpin tries have failed


def lock2(lk: threading.Lock) -> None:
    """Acquire ``lk`` after ``lk.acquire(False)`` failed (Go's lock2 slow path)."""
    if traps.forked:
        raise _heldatfork()
    if GIL:
        sleep = time.sleep
        for _ in range(passiveSpin):
            sleep(_yieldS)  # osyield: the GIL goes to the holder
            if lk.acquire(False):
                return
    lk.acquire()


# A runtime lock for channels and the sync primitives: a plain list holding one
# token while the lock is free. Locking is ``list.pop`` and unlocking
# ``list.append``: argument-free C calls, atomic on every CPython build
# (free-threaded included). A plain list, not a subclass: CPython 3.11
# specializes method calls on exact builtin types only (a subclass took twice
# as long per lock/unlock), and not a deque: a deque is 760 bytes, a list 64.
# Hot paths inline it::
#
#     try:
#         lk.pop()           # lock: take the token
#     except IndexError:
#         lockslow(lk)       # taken: the slow path below
#     ...
#     lk.append(1)           # unlock: put it back
#
# Unlocking an unlocked lock is a runtime bug this cannot catch (the list would
# hold two tokens): every unlock in the runtime pairs with a lock.


def newlock() -> list[int]:
    """A free runtime lock."""
    return [1]


def lock(lk: list[int]) -> None:
    """Take runtime lock ``lk`` (the hot paths inline this)."""
    try:
        lk.pop()
    except IndexError:
        lockslow(lk)


def lockslow(lk: list[int]) -> None:
    """Take the token after ``pop`` found it taken (Go's lock2, for runtime locks).

    With a GIL the holder is waiting for the GIL: give it away (sleep) and
    retry. Without one the holder runs on another CPU: spin first (Go's
    active_spin), then sleep. A holder that is blocked for real (a runtime
    bug) costs a poll every millisecond, never a busy CPU.
    """
    if traps.forked:
        raise _heldatfork()
    sleep = time.sleep
    n = 0
    while True:
        try:
            lk.pop()
            return
        except IndexError:
            pass
        n += 1
        if not GIL and n <= activeSpin:
            continue
        sleep(_yieldS if n <= passiveSpin else _pollS)


def _heldatfork() -> RuntimeError:
    # In a forked child only the forking thread exists: a lock another M held
    # at the fork is never released (fork.py), so fail instead of waiting.
    return RuntimeError(f"gosched: a runtime lock was held by another thread at the fork; {traps.FORKED}")


class held:
    """``with held(lk):`` holds runtime lock ``lk`` for a block (paths that are not hot)."""

    __slots__ = ("lk",)

    def __init__(self, lk: list[int]) -> None:
        self.lk = lk

    def __enter__(self) -> None:
        lock(self.lk)

    def __exit__(self, *exc: object) -> None:
        self.lk.append(1)
