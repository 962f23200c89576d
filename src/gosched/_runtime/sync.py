"""Mutex, RWMutex, WaitGroup, Once, Semaphore and Cond (Go's sync over runtime/sema.go).

Each primitive is a small lock plus a FIFO of parked goroutines. Waking hands
ownership straight to the first waiter (Go's mutex starvation mode), so a
woken goroutine never has to compete again and no waiter can starve. Each
records who holds it, so deadlock dumps can name owners.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import Any, Protocol

from . import proc, speedups
from . import timers as _timers
from .blocking import mutex_lock, wg_wait
from .errors import Panic
from .gotime import resettimer
from .lock import held, lockslow, newlock
from .lock import lock as runtime_lock
from .runtime2 import (
    G,
    WaitDesc,
    WaitReason,
    waitReasonSemacquire,
    waitReasonSyncCondWait,
    waitReasonSyncMutexLock,
    waitReasonSyncRWMutexLock,
    waitReasonSyncRWMutexRLock,
    waitReasonSyncWaitGroupWait,
)
from .timers import duration_ns
from .traps import PARK, checkpreempt, getm, outside_goroutine, preempted, trap


def _goid() -> int:
    m = getm()
    gp = m.curg if m is not None else None
    return gp.goid if gp is not None else 0


class _Held:
    """``async with`` for a lock: lock on entry, unlock on exit (Mutex, RWMutex)."""

    __slots__ = ()

    async def lock(self) -> None:
        raise NotImplementedError

    def unlock(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> None:
        await self.lock()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unlock()


class Mutex(_Held):
    """A mutual-exclusion lock (sync.Mutex). ``async with mu:`` locks and unlocks."""

    __slots__ = ("__weakref__", "_lock", "_locked", "_waiters", "foreign", "fusers", "owner")

    def __init__(self) -> None:
        self._lock = newlock()
        self._locked = False
        self._waiters: deque[G] = deque()
        self.owner = 0  # goid of the holder (0: none or a plain thread)
        self.foreign = False  # set by the program: a plain thread may use it (synctest.foreign)
        self.fusers: tuple[Any, ...] = ()  # live plain threads that used lock_blocking (blocking.py)

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
        gp = await _semacquire(lk, self, self._waiters, "Mutex.lock", waitReasonSyncMutexLock)
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
            proc.throw("sync: unlock of unlocked mutex")
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

    def waiters(self) -> list[G]:
        with held(self._lock):
            return list(self._waiters)

    def waitdesc(self) -> WaitDesc:
        """What a goroutine blocked here waits for (runtime2.Waitable): the holder."""
        return WaitDesc("waits for", holders=[self.owner] if self._locked else [])

    def _dropwaiters(self, gs: AbstractSet[G]) -> None:
        """Forget the waiters ``gs``, whose run ended (runend.unqueue); lock held."""
        _drop(self._waiters, gs)

    def lock_blocking(self, timeout: float | None = None) -> bool:
        """Lock from a plain thread, blocking it; False if ``timeout`` s pass first.

        Makes this thread a foreign user of the mutex while it lives
        (docs/checkdead.md); the holder shows as a thread outside the runtime in dumps.
        """
        return mutex_lock(self, timeout)


def _drop(q: deque[Any], gs: AbstractSet[G], g: Callable[[Any], G] | None = None) -> None:
    """Remove the waiters of ``gs`` from ``q`` in one pass (``g``: a waiter's goroutine)."""
    keep = [w for w in q if (w if g is None else g(w)) not in gs]
    if len(keep) != len(q):
        q.clear()
        q.extend(keep)


async def _semacquire(lk: list[int], obj: Any, q: deque[Any], what: str, reason: WaitReason) -> G:
    """Queue the running goroutine on ``q`` and park it until woken, releasing the
    runtime lock ``lk`` once it is off the CPU (Go's semacquire1: enqueue, then
    goparkunlock); dumps show it blocked on ``obj``."""
    gp = _curg_or_release(lk, what)
    gp.blockedon = obj
    q.append(gp)
    await trap(PARK, lk, reason)
    gp.blockedon = None
    return gp


def _curg_or_release(lk: list[int], what: str) -> G:
    m = getm()
    gp = m.curg if m is not None else None
    if gp is None:
        lk.append(1)
        raise outside_goroutine(what, "")
    return gp  # type: ignore[no-any-return]


class RWMutex(_Held):
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

    def waitdesc(self) -> WaitDesc:
        """What a goroutine blocked here waits for (runtime2.Waitable): the writer, or the readers."""
        if self.owner:
            return WaitDesc("waits for", holders=[self.owner])
        return WaitDesc("waits for", holders=[g for g in list(self.rowners.keys()) if g])

    async def rlock(self) -> None:
        lk = self._lock
        runtime_lock(lk)
        if not self._writer and not self._wwait:
            self._readers += 1
            gid = _goid()
            self.rowners[gid] = self.rowners.get(gid, 0) + 1
            lk.append(1)
            return
        await _semacquire(lk, self, self._rwait, "RWMutex.rlock", waitReasonSyncRWMutexRLock)

    def runlock(self) -> None:
        with held(self._lock):
            if self._readers <= 0:
                proc.throw("sync: RUnlock of unlocked RWMutex")
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
        await _semacquire(lk, self, self._wwait, "RWMutex.lock", waitReasonSyncRWMutexLock)

    def unlock(self) -> None:
        with held(self._lock):
            if not self._writer:
                proc.throw("sync: Unlock of unlocked RWMutex")
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

    def _dropwaiters(self, gs: AbstractSet[G]) -> None:
        """Forget the waiters ``gs``, whose run ended (runend.unqueue); lock held."""
        _drop(self._rwait, gs)
        _drop(self._wwait, gs)


class WaitGroup:
    """Waits for a collection of goroutines to finish (sync.WaitGroup)."""

    __slots__ = ("__weakref__", "_lock", "_n", "_waiters", "foreign", "fusers")

    def __init__(self) -> None:
        self._lock = newlock()
        self._n = 0
        self._waiters: deque[Any] = deque()
        self.foreign = False  # set by the program: a plain thread may use it (synctest.foreign)
        self.fusers: tuple[Any, ...] = ()  # live plain threads that used wait_blocking (blocking.py)

    def add(self, delta: int) -> None:
        """Add ``delta`` to the counter (WaitGroup.Add): at zero every waiter wakes; below zero, Panic."""
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
        """Decrement the counter by one (WaitGroup.Done)."""
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
        await _semacquire(lk, self, self._waiters, "WaitGroup.wait", waitReasonSyncWaitGroupWait)

    def _dropwaiters(self, gs: AbstractSet[G]) -> None:
        """Forget the waiters ``gs``, whose run ended (runend.unqueue); lock held."""
        _drop(self._waiters, gs)

    @property
    def count(self) -> int:
        return self._n

    def waitdesc(self) -> WaitDesc:
        """What a goroutine blocked here waits for (runtime2.Waitable): the counter."""
        return WaitDesc("waits for", f"counter {self.count}")

    def wait_blocking(self, timeout: float | None = None) -> bool:
        """Wait in a plain thread, blocking it; False if ``timeout`` s pass first.

        Makes this thread a foreign user of the wait group while it lives
        (docs/checkdead.md).
        """
        return wg_wait(self, timeout)


# The states of a Semaphore waiter: its permits were granted, or its timeout fired first.
_WAITING, _ACQUIRED, _TIMEDOUT = 0, 1, 2


class _SemaWaiter:
    """A goroutine in Semaphore.acquire (x/sync's waiter); ``state`` changes under the lock."""

    __slots__ = ("gp", "n", "state")

    def __init__(self, gp: G, n: int) -> None:
        self.gp = gp
        self.n = n
        self.state = _WAITING


def _semawaiting(w: _SemaWaiter) -> bool:
    return w.state == _WAITING  # checkdead: the timeout timer would wake someone


class Semaphore:
    """A weighted semaphore of ``n`` permits (golang.org/x/sync/semaphore.Weighted).

    Waiters are served in FIFO order: a large request at the head holds off
    smaller ones behind it, so it cannot starve.
    """

    __slots__ = ("__weakref__", "_avail", "_lock", "_size", "_waiters")

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Semaphore takes an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError("Semaphore size must be >= 0")
        self._lock = newlock()
        self._size = n
        self._avail = n
        self._waiters: deque[_SemaWaiter] = deque()

    def waitdesc(self) -> WaitDesc:
        """What a goroutine blocked here waits for (runtime2.Waitable): permits, not a holder."""
        return WaitDesc("waits for")

    async def acquire(self, n: int = 1, *, timeout: float | None = None) -> bool:
        """Take ``n`` permits, waiting until they are free; True once held.

        With ``timeout`` (seconds) give up after it: return False holding
        nothing (x/sync returns ctx.Err() and leaves the semaphore unchanged).
        Free permits are taken even when ``timeout <= 0``, as x/sync's Acquire
        with a context already done. A request larger than the size can never
        succeed, so, as in x/sync, it does not queue (it would block every later
        acquire): it waits for its timeout only, and without one forever (a
        deadlock, if nothing else can run).

        A ``ctx=`` parameter is meant to join ``timeout=`` once gosched has a
        context package: acquire then also gives up, returning False, when the
        context is done first, as x/sync does; ``ctx.err()`` tells why.
        """
        ns = -1 if timeout is None else duration_ns(timeout, "Semaphore.acquire timeout")
        lk = self._lock
        runtime_lock(lk)
        if not self._waiters and self._avail >= n:
            self._avail -= n
            lk.append(1)
            if preempted:
                await checkpreempt()
            return True
        if timeout is not None and ns <= 0:
            lk.append(1)
            return False
        gp = _curg_or_release(lk, "Semaphore.acquire")
        w = _SemaWaiter(gp, n)
        if n <= self._size:  # x/sync: "don't make other Acquire calls block on one that's doomed to fail"
            self._waiters.append(w)
        t = None
        if ns > 0:  # armed under the lock: _expire takes it, so it cannot wake us before we park
            t = _timers.RTimer(self._expire, w, wakes=_semawaiting)
            resettimer(getm().sched, t, ns)
        gp.blockedon = self
        await trap(PARK, lk, waitReasonSemacquire)
        gp.blockedon = None
        if t is not None and w.state == _ACQUIRED:
            _timers.deltimer(t)
        return w.state == _ACQUIRED

    def _expire(self, w: _SemaWaiter) -> None:
        """A waiter's timeout fired (x/sync's ``<-ctx.Done()`` case): unqueue and wake it."""
        woken: list[G] = []
        with held(self._lock):
            if w.state != _WAITING:
                return  # granted just before: it keeps the permits, as x/sync
            w.state = _TIMEDOUT
            q = self._waiters
            if q and q[0] is w:
                q.popleft()
                woken = self._grantlocked()  # it held off the waiters behind it: they may fit now
            elif w.n <= self._size:
                q.remove(w)
        proc.goready(w.gp)
        for gp in woken:
            proc.goready(gp)

    def _grantlocked(self) -> list[G]:
        """Hand permits to waiters from the head while they fit (x/sync's notifyWaiters)."""
        woken: list[G] = []
        q = self._waiters
        while q and q[0].n <= self._avail:
            w = q.popleft()
            self._avail -= w.n
            w.state = _ACQUIRED
            woken.append(w.gp)
        return woken

    def try_acquire(self, n: int = 1) -> bool:
        with held(self._lock):
            if self._waiters or self._avail < n:
                return False
            self._avail -= n
            return True

    def release(self, n: int = 1) -> None:
        with held(self._lock):
            if self._avail + n > self._size:
                raise Panic("semaphore: released more than held")
            self._avail += n
            if not self._waiters:
                return
            woken = self._grantlocked()
        for gp in woken:
            proc.goready(gp)

    def _dropwaiters(self, gs: AbstractSet[G]) -> None:
        """Forget the waiters of ``gs``, whose run ended (runend.unqueue); lock held."""
        _drop(self._waiters, gs, lambda w: w.gp)

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


class Locker(Protocol):
    """What ``Cond`` waits with (sync.Locker): ``Mutex`` and ``RWMutex`` are Lockers."""

    async def lock(self) -> None: ...

    def unlock(self) -> None: ...


class Cond:
    """A condition variable (sync.Cond): goroutines wait on it for a change of state
    guarded by the Locker ``L``, which they hold while they check and change it::

        async with cond.L:
            while not ready:
                await cond.wait()

    Waiters are woken in FIFO order (Go's notifyList).
    """

    __slots__ = ("L", "__weakref__", "_lock", "_waiters")

    def __init__(self, L: Locker) -> None:
        if not callable(getattr(L, "lock", None)) or not callable(getattr(L, "unlock", None)):
            raise TypeError(f"Cond needs a Locker (a Mutex or an RWMutex), not {type(L).__name__}")
        self.L = L
        self._lock = newlock()
        self._waiters: deque[G] = deque()

    async def wait(self) -> None:
        """Unlock ``L``, park until ``signal()`` or ``broadcast()`` wakes this goroutine,
        then lock ``L`` again before returning (Cond.Wait). The caller must hold ``L``.

        The goroutine joins the waiters before ``L`` is unlocked, with the Cond's own
        lock held across both, so a signal sent after the unlock cannot be missed.
        """
        lk = self._lock
        runtime_lock(lk)
        gp = _curg_or_release(lk, "Cond.wait")
        try:
            self.L.unlock()
        except BaseException:
            lk.append(1)
            raise
        gp.blockedon = self
        self._waiters.append(gp)
        await trap(PARK, lk, waitReasonSyncCondWait)
        gp.blockedon = None
        await self.L.lock()

    def signal(self) -> None:
        """Wake the goroutine that has waited longest, if any (Cond.Signal)."""
        with held(self._lock):
            gp = self._waiters.popleft() if self._waiters else None
        if gp is not None:
            proc.goready(gp)

    def broadcast(self) -> None:
        """Wake every waiting goroutine (Cond.Broadcast)."""
        with held(self._lock):
            woken = list(self._waiters)
            self._waiters.clear()
        for gp in woken:
            proc.goready(gp)


# sync.py's own WaitGroup.add and done: the definition, and what the C methods run
# for every case they do not finish (tests compare the two).
pyadd, pydone = WaitGroup.add, WaitGroup.done


def _accelerate() -> None:
    """Put the C versions of WaitGroup.add and done on WaitGroup (speedups; _speedups_sync.h).

    They move the counter in one C call when that wakes nobody (the lock free, an
    int delta, the counter positive after, or zero with no waiter) and run the
    methods above for every other case; those stay the definition (and the whole
    of the pure-Python path).
    """
    c = speedups.c
    if c is None:
        return
    names = ("add", "done")
    fns = (pyadd, pydone)
    sigs = ("($self, delta)", "($self, /)")  # text signatures, for docs
    docs = tuple(f"{n}{sig}\n--\n\n{fn.__doc__}" for n, sig, fn in zip(names, sigs, fns, strict=True))
    c.setup_wg(WaitGroup, fns, docs)  # sets the methods on WaitGroup


_accelerate()

__all__ = ["Cond", "Locker", "Mutex", "Once", "RWMutex", "Semaphore", "WaitGroup"]
