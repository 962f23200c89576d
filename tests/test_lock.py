"""Runtime locks (lock.py) and the M binding (traps.getm): mutual exclusion under
stress, the slow paths, and which threads count as Ms."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from gosched._runtime import lock as rlock
from gosched._runtime.lock import held, lock, lock2, lockslow, newlock
from gosched._runtime.traps import getm


def test_runtime_lock_lock_unlock_held() -> None:
    lk = newlock()
    assert lk == [1]  # free: one token
    lock(lk)
    assert lk == []
    lk.append(1)
    with held(lk):
        assert lk == []
    assert lk == [1]  # exactly one token again


def _hammer(nthreads: int, rounds: int, take: object, give: object) -> int:
    """Read-modify-write a shared counter under the lock from many threads."""
    box = [0]
    start = threading.Barrier(nthreads)

    def body() -> None:
        start.wait()
        for _ in range(rounds):
            take()  # type: ignore[operator]
            v = box[0]
            if v % 7 == 0:
                time.sleep(0)  # drop the GIL inside the critical section now and then
            box[0] = v + 1
            give()  # type: ignore[operator]

    ths = [threading.Thread(target=body) for _ in range(nthreads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
        assert not t.is_alive(), "a thread never got the lock"
    return box[0]


@settings(max_examples=8, deadline=None)
@given(nthreads=st.integers(2, 6), rounds=st.integers(50, 400))
def test_lock_excludes_under_stress(nthreads: int, rounds: int) -> None:
    lk = newlock()

    def take() -> None:
        try:
            lk.pop()
        except IndexError:
            lockslow(lk)

    with tiny_switch():
        assert _hammer(nthreads, rounds, take, lambda: lk.append(1)) == nthreads * rounds
    assert lk == [1]


@settings(max_examples=8, deadline=None)
@given(nthreads=st.integers(2, 6), rounds=st.integers(50, 400))
def test_lock2_excludes_under_stress(nthreads: int, rounds: int) -> None:
    lk = threading.Lock()

    def take() -> None:
        if not lk.acquire(False):
            lock2(lk)

    with tiny_switch():
        assert _hammer(nthreads, rounds, take, lk.release) == nthreads * rounds
    assert not lk.locked()


@pytest.mark.parametrize("kind", ["runtime lock", "threading.Lock"])
def test_slow_path_waits_for_a_holder_in_another_thread(kind: str) -> None:
    rt = kind == "runtime lock"
    tok = newlock()
    tl = threading.Lock()
    if rt:
        lock(tok)
    else:
        tl.acquire()
    held_ = threading.Event()
    got = threading.Event()

    def waiter() -> None:
        held_.set()
        if rt:
            lockslow(tok)
        else:
            lock2(tl)
        got.set()
        if rt:
            tok.append(1)
        else:
            tl.release()

    t = threading.Thread(target=waiter)
    t.start()
    held_.wait(5)
    assert not got.wait(0.05)  # still held: the waiter must not get in
    if rt:
        tok.append(1)
    else:
        tl.release()
    assert got.wait(5)
    t.join(5)
    assert tok == [1]
    assert not tl.locked()


def test_lock2_falls_back_to_a_blocking_acquire(monkeypatch: pytest.MonkeyPatch) -> None:
    # A holder that keeps the lock past passiveSpin tries: the waiter then sleeps
    # on the lock instead of polling forever.
    monkeypatch.setattr(rlock, "passiveSpin", 3)
    lk = threading.Lock()
    lk.acquire()
    got = threading.Event()

    def waiter() -> None:
        lock2(lk)
        got.set()
        lk.release()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.05)  # the holder's time in its critical section, not a settle-wait
    assert not got.is_set()
    lk.release()
    assert got.wait(5)
    t.join(5)


def test_getm_is_none_outside_ms_and_in_threads_started_by_goroutines() -> None:
    assert getm() is None
    seen: dict[str, object] = {}

    async def main() -> None:
        m = getm()
        seen["goroutine"] = m is not None and m.curg is not None

        def plain() -> None:
            seen["thread"] = getm()

        t = threading.Thread(target=plain)
        t.start()
        await gosched.syscall(t.join)
        m = getm()  # main's first syscall runs off m0 (proc.syscallaway): main is on another M now
        # The M is the thread's, not the context's: any context run on the M names it,
        # and a thread that runs a context copied on the M does not.
        seen["copied"] = contextvars.copy_context().run(getm) is m
        seen["fresh"] = contextvars.Context().run(getm) is m
        ctx = contextvars.copy_context()
        t = threading.Thread(target=lambda: seen.__setitem__("copied to a thread", ctx.run(getm)))
        t.start()
        await gosched.syscall(t.join)

    run(main)
    assert seen == {
        "goroutine": True, "thread": None, "copied": True, "fresh": True, "copied to a thread": None
    }
    assert getm() is None


def test_a_thread_started_from_a_goroutine_is_not_an_m() -> None:
    # A plain thread started by a goroutine uses the foreign-thread paths: go()
    # queues globally, send_blocking blocks the thread, not an M.
    errors: list[BaseException] = []

    async def main() -> set[int]:
        c: gosched.Chan[int] = gosched.Chan(2)

        def plain() -> None:
            try:
                gosched.go(_put, c, 1)
                c.send_blocking(2)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        t = threading.Thread(target=plain)
        t.start()
        await gosched.syscall(t.join)
        return {await c.recv(), await c.recv()}

    assert run(main) == {1, 2}
    assert errors == []


async def _put(c: gosched.Chan[int], v: int) -> None:
    await c.send(v)
