"""Mutex, RWMutex, WaitGroup, Once and Semaphore (Go's sync over runtime/sema.go).

Each primitive is a small lock plus a FIFO of parked goroutines. Waking hands
ownership straight to the first waiter (Go's mutex starvation mode), so a
woken goroutine never has to compete again and no waiter can starve. Each
records who holds it, so deadlock dumps can name owners.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from . import proc
from .chan import Panic
from .lock import held, lockslow, newlock
from .lock import lock as runtime_lock
from .runtime2 import G
from .traps import PARK, checkpreempt, getm, outside_goroutine, preempted, trap


class Fatal(proc.Fatal):
    """Go's unrecoverable ``fatal error`` (e.g. ``sync: unlock of unlocked mutex``)."""


def _goid() -> int:
    m = getm()
    gp = m.curg if m is not None else None
    return gp.goid if gp is not None else 0


class Mutex:
    """A mutual-exclusion lock (sync.Mutex). ``async with mu:`` locks and unlocks."""

    __slots__ = ("__weakref__", "_lock", "_locked", "_waiters", "foreign", "owner")

    def __init__(self) -> None:
        self._lock = newlock()
        self._locked = False
        self._waiters: deque[G] = deque()
        self.owner = 0  # goid of the holder (0: none or a plain thread)
        self.foreign = False

    async def lock(self) -> None:
        lk = self._lock
        # Mutex.lock/unlock and WaitGroup.add/done inline the runtime lock (the
        # hottest sync paths: a call costs as much as the lock); the rest call it.
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        if not self._locked:
            self._locked = True
            self.owner = _goid()
            lk.append(1)
            if preempted:
                await checkpreempt()
            return
        gp = _curg_or_release(lk, "Mutex.lock")
        gp.blockedon = self
        self._waiters.append(gp)
        await trap(PARK, lk, "sync.Mutex.Lock")
        gp.blockedon = None
        self.owner = gp.goid  # unlock handed the lock to us

    def try_lock(self) -> bool:
        with held(self._lock):
            if self._locked:
                return False
            self._locked = True
            self.owner = _goid()
        return True

    def unlock(self) -> None:
        lk = self._lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        if not self._locked:
            lk.append(1)
            raise Fatal("sync: unlock of unlocked mutex")
        if self._waiters:
            gp = self._waiters.popleft()
            self.owner = gp.goid
            lk.append(1)
            proc.goready(gp)
            return
        self._locked = False
        self.owner = 0
        lk.append(1)

    def locked(self) -> bool:
        return self._locked

    async def __aenter__(self) -> None:
        await self.lock()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unlock()

    def waiters(self) -> list[G]:
        with held(self._lock):
            return list(self._waiters)

    def _dropwaiter(self, gp: G) -> None:
        """Forget waiter ``gp``, whose run ended (proc.unqueue); lock held."""
        _drop(self._waiters, gp)

    def lock_blocking(self, timeout: float | None = None) -> bool:
        """Lock from a plain thread, blocking it; False if ``timeout`` s pass first.

        Marks the mutex ``foreign`` (docs/checkdead.md); the holder shows as a
        thread outside the runtime in dumps.
        """
        from .blocking import mutex_lock

        return mutex_lock(self, timeout)


def _drop(q: deque[Any], gp: G) -> None:
    if gp in q:
        q.remove(gp)


def _curg_or_release(lk: list[int], what: str) -> G:
    m = getm()
    gp = m.curg if m is not None else None
    if gp is None:
        lk.append(1)
        raise outside_goroutine(what, "")
    return gp  # type: ignore[no-any-return]


class RWMutex:
    """A reader/writer lock (sync.RWMutex): a waiting writer holds off new readers."""

    __slots__ = ("__weakref__", "_lock", "_readers", "_rwait", "_writer", "_wwait", "owner", "rowners")

    def __init__(self) -> None:
        self._lock = newlock()
        self._readers = 0
        self._writer = False
        self._rwait: deque[G] = deque()
        self._wwait: deque[G] = deque()
        self.owner = 0
        self.rowners: dict[int, int] = {}

    async def rlock(self) -> None:
        lk = self._lock
        runtime_lock(lk)
        if not self._writer and not self._wwait:
            self._readers += 1
            gid = _goid()
            self.rowners[gid] = self.rowners.get(gid, 0) + 1
            lk.append(1)
            return
        gp = _curg_or_release(lk, "RWMutex.rlock")
        gp.blockedon = self
        self._rwait.append(gp)
        await trap(PARK, lk, "sync.RWMutex.RLock")
        gp.blockedon = None

    def runlock(self) -> None:
        with held(self._lock):
            if self._readers <= 0:
                raise Fatal("sync: RUnlock of unlocked RWMutex")
            self._readers -= 1
            gid = _goid()
            n = self.rowners.get(gid, 0)
            if n > 1:
                self.rowners[gid] = n - 1
            else:
                self.rowners.pop(gid, None)
            gp = None
            if self._readers == 0 and self._wwait:
                gp = self._wwait.popleft()
                self._writer = True
                self.owner = gp.goid
        if gp is not None:
            proc.goready(gp)

    async def lock(self) -> None:
        lk = self._lock
        runtime_lock(lk)
        if not self._writer and self._readers == 0:
            self._writer = True
            self.owner = _goid()
            lk.append(1)
            return
        gp = _curg_or_release(lk, "RWMutex.lock")
        gp.blockedon = self
        self._wwait.append(gp)
        await trap(PARK, lk, "sync.RWMutex.Lock")
        gp.blockedon = None

    def unlock(self) -> None:
        with held(self._lock):
            if not self._writer:
                raise Fatal("sync: Unlock of unlocked RWMutex")
            self._writer = False
            self.owner = 0
            woken: list[G] = []
            if self._rwait:
                woken = list(self._rwait)
                self._rwait.clear()
                self._readers += len(woken)
                for gp in woken:
                    self.rowners[gp.goid] = self.rowners.get(gp.goid, 0) + 1
            elif self._wwait:
                gp = self._wwait.popleft()
                self._writer = True
                self.owner = gp.goid
                woken = [gp]
        for gp in woken:
            proc.goready(gp)

    def try_lock(self) -> bool:
        with held(self._lock):
            if self._writer or self._readers:
                return False
            self._writer = True
            self.owner = _goid()
        return True

    def try_rlock(self) -> bool:
        with held(self._lock):
            if self._writer or self._wwait:
                return False
            self._readers += 1
        return True

    def _dropwaiter(self, gp: G) -> None:
        """Forget waiter ``gp``, whose run ended (proc.unqueue); lock held."""
        _drop(self._rwait, gp)
        _drop(self._wwait, gp)

    async def __aenter__(self) -> None:
        await self.lock()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unlock()


class WaitGroup:
    """Waits for a collection of goroutines to finish (sync.WaitGroup)."""

    __slots__ = ("__weakref__", "_lock", "_n", "_waiters", "foreign")

    def __init__(self) -> None:
        self._lock = newlock()
        self._n = 0
        self._waiters: deque[Any] = deque()
        self.foreign = False

    def add(self, delta: int) -> None:
        if type(delta) is not int and (isinstance(delta, bool) or not isinstance(delta, int)):
            raise TypeError(f"WaitGroup.add takes an int, not {type(delta).__name__}")
        lk = self._lock
        try:  # not ``with``: on 3.11 the context-manager protocol costs more
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        n = self._n + delta
        if n > 0 or (n == 0 and not self._waiters):
            self._n = n
            lk.append(1)
            return
        self._settle(lk, n)

    def done(self) -> None:
        # add(-1), without the call and the type check: every goroutine runs it.
        lk = self._lock
        try:
            lk.pop()  # lock (lock.newlock)
        except IndexError:
            lockslow(lk)
        n = self._n - 1
        if n > 0 or (n == 0 and not self._waiters):
            self._n = n
            lk.append(1)
            return
        self._settle(lk, n)

    def _settle(self, lk: list[int], n: int) -> None:
        """The counter went negative (a panic) or reached zero with waiters (wake them)."""
        if n < 0:
            lk.append(1)
            raise Panic("sync: negative WaitGroup counter")
        self._n = 0
        woken = list(self._waiters)
        self._waiters.clear()
        lk.append(1)
        for w in woken:
            if isinstance(w, G):
                proc.goready(w)
            else:
                w.release()  # a plain thread in wait_blocking()

    async def wait(self) -> None:
        lk = self._lock
        runtime_lock(lk)
        if self._n == 0:
            lk.append(1)
            if preempted:
                await checkpreempt()
            return
        gp = _curg_or_release(lk, "WaitGroup.wait")
        gp.blockedon = self
        self._waiters.append(gp)
        await trap(PARK, lk, "sync.WaitGroup.Wait")
        gp.blockedon = None

    def _dropwaiter(self, gp: G) -> None:
        """Forget waiter ``gp``, whose run ended (proc.unqueue); lock held."""
        _drop(self._waiters, gp)

    @property
    def count(self) -> int:
        return self._n

    def wait_blocking(self, timeout: float | None = None) -> bool:
        """Wait in a plain thread, blocking it; False if ``timeout`` s pass first.

        Marks the wait group ``foreign`` (docs/checkdead.md).
        """
        from .blocking import wg_wait

        return wg_wait(self, timeout)


class Semaphore:
    """A counting semaphore of ``n`` permits; waiters are served in FIFO order."""

    __slots__ = ("__weakref__", "_avail", "_lock", "_size", "_waiters")

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Semaphore takes an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError("Semaphore size must be >= 0")
        self._lock = newlock()
        self._size = n
        self._avail = n
        self._waiters: deque[list[Any]] = deque()  # [g, need]

    async def acquire(self, n: int = 1) -> None:
        lk = self._lock
        runtime_lock(lk)
        if not self._waiters and self._avail >= n:
            self._avail -= n
            lk.append(1)
            if preempted:
                await checkpreempt()
            return
        gp = _curg_or_release(lk, "Semaphore.acquire")
        gp.blockedon = self
        self._waiters.append([gp, n])
        await trap(PARK, lk, "semacquire")
        gp.blockedon = None

    def try_acquire(self, n: int = 1) -> bool:
        with held(self._lock):
            if self._waiters or self._avail < n:
                return False
            self._avail -= n
            return True

    def release(self, n: int = 1) -> None:
        woken: list[G] = []
        with held(self._lock):
            if self._avail + n > self._size:
                raise Panic("semaphore: released more than held")
            self._avail += n
            while self._waiters and self._waiters[0][1] <= self._avail:
                gp, need = self._waiters.popleft()
                self._avail -= need
                woken.append(gp)
        for gp in woken:
            proc.goready(gp)

    def _dropwaiter(self, gp: G) -> None:
        """Forget waiter ``gp``, whose run ended (proc.unqueue); lock held."""
        for w in [w for w in self._waiters if w[0] is gp]:
            self._waiters.remove(w)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Once:
    """Runs a function exactly once (sync.Once); later callers wait for it to finish."""

    __slots__ = ("_done", "_mu")

    def __init__(self) -> None:
        self._done = False
        self._mu = Mutex()

    async def do(self, fn: Callable[[], Any] | Callable[[], Awaitable[Any]]) -> None:
        if self._done:
            return
        async with self._mu:
            if self._done:
                return
            try:
                r = fn()
                if inspect.isawaitable(r):
                    await r
            finally:
                self._done = True  # as in Go: a panicking fn still counts as done


__all__ = ["Fatal", "Mutex", "Once", "RWMutex", "Semaphore", "WaitGroup"]
