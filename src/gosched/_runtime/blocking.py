"""Blocking APIs for plain threads: Chan.send_blocking/recv_blocking,
WaitGroup.wait_blocking and Mutex.lock_blocking.

A plain thread cannot park like a goroutine, so it waits as a *proxy*: a
system G (goid 0, never in ``allgs``, never dumped) that it puts on the
object's wait queue exactly where a goroutine's G would go. The channel and
mutex code then treat it like any waiter (hand it a value, hand it the lock,
wake it on close) and ready it with ``goready``; when an M runs the proxy's
tiny coroutine, it releases the thread. Nothing in chan.py or sync.py needs to
know about threads, and select's claim protocol works unchanged.

Deadlock rule (docs/checkdead.md): every object used here records the calling
thread as a *foreign user* (``fusers``) for as long as that thread lives,
because it may use the object again at any time: checkdead never calls a
goroutine blocked on an object with a live foreign user deadlocked, and under
the fake clock such a goroutine stops time. When the thread ends, the object is
no longer foreign (unless the program set ``obj.foreign = True``) and checkdead
runs again. A goroutine calling these inside ``gosched.syscall`` is not a
foreign user: it is a goroutine, counted as one. While a thread is blocked
here, ``sched.nforeign`` counts it and checkdead reports nothing.

Every wait polls ``sched.dead`` every 100 ms so that a thread is not left
blocked forever when the runtime ends; a wake-up itself is immediate.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import mgr, proc
from .lock import held, lock
from .runtime2 import (
    G,
    Gsyscall,
    Gwaiting,
    Sched,
    WaitReason,
    waitReasonChanReceive,
    waitReasonChanSend,
    waitReasonSyncMutexLock,
)
from .timers import duration_ns
from .traps import getm

if TYPE_CHECKING:
    from .chan import Chan
    from .sync import Mutex, WaitGroup

_POLL = 0.1  # seconds between checks that the runtime is still alive


class _User:
    """A plain thread's token, kept in its thread-local storage, so it dies when the thread ends.

    Not ``Thread.is_alive()``: a thread is still "alive" while its thread state
    is being torn down, which is also the last moment it could tell anyone it
    ended. The token's death is that moment, and its weakref reads dead from then on.
    """

    __slots__ = ("__weakref__",)


_tls = threading.local()
_tokens_lock = threading.Lock()
_tokens: set[weakref.ref[_User]] = set()  # keeps each weakref (and so its callback) alive


def _ended(ref: weakref.ref[_User]) -> None:
    """A foreign user's thread ended: let checkdead look again (an idle M would not)."""
    with _tokens_lock:
        _tokens.discard(ref)
    s = proc.current
    if s is None:
        return
    # Go's wakep, but only onto an idle M: this runs in the ending thread's
    # teardown, no place to start a thread. Without an idle M some M is active
    # (or polling) and runs checkdead when it idles.
    with s.lock:
        if s.dead or not s.npidle or s.nmspinning or not s.midle:
            return
        s.nmspinning += 1
        mgr.startm(s, None, True, lockheld=True)  # it finds nothing, idles, and runs checkdead


def adduser(obj: Any) -> None:
    """(obj's lock held) Record the calling plain thread as a foreign user of ``obj``.

    Not for an M's thread (a goroutine inside ``gosched.syscall``): checkdead
    counts that goroutine already.
    """
    if getm() is not None:
        return
    ref: weakref.ref[_User] | None = getattr(_tls, "ref", None)
    if ref is None:
        _tls.user = u = _User()
        ref = weakref.ref(u, _ended)
        _tls.ref = ref
        with _tokens_lock:
            _tokens.add(ref)
    users: tuple[weakref.ref[_User], ...] = obj.fusers
    if ref not in users:
        # A new tuple, published by one store: checkdead reads it without the lock.
        obj.fusers = (*(r for r in users if r() is not None), ref)


def _check_thread(what: str) -> None:
    m = getm()
    gp = m.curg if m is not None else None
    if gp is not None and gp.status != Gsyscall:
        raise RuntimeError(
            f"gosched: {what} would block an M; in a goroutine await the async method "
            f"(or call it inside gosched.syscall)"
        )


def _sched(lk: list[int], what: str) -> Sched:
    m = getm()
    s = m.sched if m is not None else proc.current
    if s is None or s.dead:
        lk.append(1)
        raise RuntimeError(f"gosched: {what} would block with no gosched.run() to wake it")
    return s


async def _wakeproxy(ev: threading.Lock) -> None:
    ev.release()


def _discard(gp: G) -> None:
    """Close a proxy coroutine that will not run (timed out, or the runtime ended)."""
    c = gp.coro  # None once it ran to the end (goexit0)
    if c is None:
        return
    try:
        c.close()
    except (RuntimeError, ValueError):  # pragma: no cover - an M is running it right now
        pass


def _proxy(what: WaitReason) -> tuple[G, threading.Lock]:
    ev = threading.Lock()
    ev.acquire()
    gp = G(0, _wakeproxy(ev))
    gp.status = Gwaiting
    gp.waitreason = what
    gp.pc = str(what)  # no creation site: the name dumps show (G.startfn)
    return gp, ev


def _deadline(timeout: float | None, what: str) -> float | None:
    """The monotonic deadline of ``timeout`` seconds, checked before anything is queued."""
    if timeout is None:
        return None
    ns = duration_ns(timeout, f"{what} timeout")  # inf: wait forever
    if ns < 0:
        raise ValueError(f"{what}: timeout must be >= 0")
    return time.monotonic() + ns / 1e9


def _wait(
    sched: Sched | None, ev: threading.Lock, deadline: float | None, unqueue: Callable[[], bool]
) -> bool:
    """Block until ``ev`` is released (True) or the deadline passes (False).

    ``unqueue`` takes the waiter off its queue and reports whether it was still
    there; if it was not, a waker already took it and the wake-up is on its
    way, so we wait for it regardless of the deadline.
    """
    if sched is not None:
        with sched.lock:
            sched.nforeign += 1
    try:
        while True:
            if deadline is None:
                step = _POLL
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    if unqueue():
                        return False
                    deadline = None
                    continue
                step = min(left, _POLL)
            if ev.acquire(timeout=step):
                return True
            if sched is not None and sched.dead:
                if not unqueue():
                    # A waker took us (value or lock handed over under the object's
                    # lock) but no M is left to run the proxy: the wait succeeded.
                    return True
                raise RuntimeError("gosched: the runtime ended while a thread was blocked on it")
    finally:
        if sched is not None:
            with sched.lock:
                sched.nforeign -= 1


def _remover(lk: list[int], q: deque[Any], w: Any) -> Callable[[], bool]:
    def unqueue() -> bool:
        with held(lk):
            try:
                q.remove(w)
            except ValueError:
                return False
            return True

    return unqueue


# --- Chan -------------------------------------------------------------------------------


def chan_send(ch: Chan[Any], v: Any, timeout: float | None) -> bool:
    """False if the channel is closed (Chan.send_blocking raises; this module is below chan's)."""
    _check_thread("Chan.send_blocking")
    deadline = _deadline(timeout, "Chan.send_blocking")
    lk = ch.lock
    lock(lk)
    adduser(ch)
    if ch.closed:
        lk.append(1)
        return False
    # A receiver to wake needs a running runtime: check before handing it the value.
    s0 = _sched(lk, "Chan.send_blocking") if ch.recvq else None
    sent, w = ch.sendlocked(v)
    if sent:
        lk.append(1)
        if w is not None:
            proc.goready(w, s0)
        return True
    return _chanpark(ch, ch.sendq, deadline, timeout, "Chan.send_blocking", waitReasonChanSend, v).success


def chan_recv(ch: Chan[Any], timeout: float | None) -> tuple[Any, bool]:

    _check_thread("Chan.recv_blocking")
    deadline = _deadline(timeout, "Chan.recv_blocking")
    lk = ch.lock
    lock(lk)
    adduser(ch)
    s0 = _sched(lk, "Chan.recv_blocking") if ch.sendq else None  # as in chan_send
    v, ok, got, w = ch.recvlocked()
    if got:
        lk.append(1)
        if w is not None:
            proc.goready(w, s0)
        return v, ok
    gp = _chanpark(ch, ch.recvq, deadline, timeout, "Chan.recv_blocking", waitReasonChanReceive, None)
    return gp.elem, gp.success


def _chanpark(
    ch: Chan[Any], q: deque[G], deadline: float | None, timeout: float | None,
    what: str, reason: WaitReason, elem: Any,
) -> G:
    """Queue this thread's proxy G on ``q`` (with ``elem`` to send) and block until a
    goroutine serves it (chansend/chanrecv's park, for a plain thread); ``ch.lock``
    held, released here. TimeoutError when ``deadline`` passes first."""
    lk = ch.lock
    if deadline is not None and timeout == 0:
        lk.append(1)
        raise TimeoutError(f"{what} timed out")
    s = _sched(lk, what)
    gp, ev = _proxy(reason)
    gp.elem = elem
    gp.blockedon = ch
    q.append(gp)
    lk.append(1)
    try:
        ok = _wait(s, ev, deadline, _remover(lk, q, gp))
    finally:
        _discard(gp)
    if not ok:
        raise TimeoutError(f"{what} timed out")
    return gp


# --- sync ---------------------------------------------------------------------------------


def wg_wait(wg: WaitGroup, timeout: float | None) -> bool:
    _check_thread("WaitGroup.wait_blocking")
    deadline = _deadline(timeout, "WaitGroup.wait_blocking")
    lk = wg._lock
    with held(lk):
        adduser(wg)
        if wg._n == 0:
            return True
        if deadline is not None and timeout == 0:
            return False
        ev = threading.Lock()
        ev.acquire()
        wg._waiters.append(ev)  # WaitGroup.add releases plain locks directly
    m = getm()
    s = m.sched if m is not None else proc.current
    return _wait(s, ev, deadline, _remover(lk, wg._waiters, ev))


def mutex_lock(mu: Mutex, timeout: float | None) -> bool:
    _check_thread("Mutex.lock_blocking")
    deadline = _deadline(timeout, "Mutex.lock_blocking")
    lk = mu._lock
    lock(lk)
    adduser(mu)
    if not mu._locked:
        mu._locked = True
        mu.owner = 0  # a thread outside the runtime
        lk.append(1)
        return True
    if deadline is not None and timeout == 0:
        lk.append(1)
        return False
    s = _sched(lk, "Mutex.lock_blocking")
    gp, ev = _proxy(waitReasonSyncMutexLock)
    gp.blockedon = mu
    mu._waiters.append(gp)
    lk.append(1)
    try:
        return _wait(s, ev, deadline, _remover(lk, mu._waiters, gp))
    finally:
        _discard(gp)
