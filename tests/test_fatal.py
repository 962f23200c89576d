"""Go's ``fatal error``s cannot be recovered (issue 14, item 7).

Go's TestMutexMisuse runs each misuse under ``recover()`` and still expects the
process to die. Here the error is a BaseException that ``except Exception``
lets through, and a goroutine that catches it anyway cannot keep the program
going: the run ends and ``run()`` raises it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import gosched
from _core_helpers import run

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


def _unlock_unlocked_mutex() -> None:
    gosched.Mutex().unlock()


def _runlock_unlocked_rwmutex() -> None:
    gosched.RWMutex().runlock()


def _unlock_unlocked_rwmutex() -> None:
    gosched.RWMutex().unlock()


def _unlock_rlocked_rwmutex() -> None:
    rw = gosched.RWMutex()
    assert rw.try_rlock()
    rw.unlock()


# Go's words (src/internal/sync/mutex.go, src/sync/rwmutex.go).
MISUSES: dict[str, Callable[[], None]] = {
    "sync: unlock of unlocked mutex": _unlock_unlocked_mutex,
    "sync: RUnlock of unlocked RWMutex": _runlock_unlocked_rwmutex,
    "sync: Unlock of unlocked RWMutex": _unlock_unlocked_rwmutex,
}


def test_fatal_is_not_an_exception() -> None:
    assert issubclass(gosched.Fatal, BaseException)
    assert not issubclass(gosched.Fatal, Exception)


@pytest.mark.parametrize("msg", list(MISUSES))
def test_except_exception_does_not_catch_a_fatal_error(msg: str) -> None:
    seen: list[str] = []

    async def main() -> str:
        try:
            MISUSES[msg]()
        except Exception:
            seen.append("caught by except Exception")
        return "finished"

    with pytest.raises(gosched.Fatal) as ei:
        run(main)
    assert str(ei.value) == msg
    assert seen == []
    notes = getattr(ei.value, "__notes__", [])
    assert len(notes) == 1 and notes[0].startswith("gosched: raised in goroutine 1 (") and "main)" in notes[0]


@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("msg", list(MISUSES))
def test_fatal_error_ends_the_run_even_when_caught(msg: str, procs: int) -> None:
    """``except BaseException: pass`` cannot recover it: main never resumes, run() raises it."""
    seen: list[str] = []

    async def main() -> str:
        try:
            MISUSES[msg]()
        except BaseException:
            pass
        seen.append("went on to the next scheduling point")
        await gosched.gosched()
        seen.append("resumed")  # the run ended: never
        return "finished"

    with pytest.raises(gosched.Fatal, match=msg):
        run(main, maxprocs=procs)
    assert seen == ["went on to the next scheduling point"]


@pytest.mark.parametrize("procs", [1, 4])
def test_fatal_error_caught_in_another_goroutine_ends_the_run(procs: int) -> None:
    """A goroutine swallowing the error does not let main finish: run() raises the fatal error."""

    async def misuser(done: gosched.Chan[None]) -> None:
        try:
            _unlock_rlocked_rwmutex()
        except BaseException:
            pass
        await done.send(None)  # tell main all is well: too late, the run is over

    async def main() -> str:
        done: gosched.Chan[None] = gosched.Chan()
        for _ in range(8):
            gosched.go(gosched.sleep, 0.001)  # other work on the Ps
        ids.append(gosched.go(misuser, done).id)
        await done.recv()
        return "finished"

    ids: list[int] = []
    with pytest.raises(gosched.Fatal, match="sync: Unlock of unlocked RWMutex") as ei:
        run(main, maxprocs=procs)
    notes = getattr(ei.value, "__notes__", [])
    assert len(notes) == 1 and notes[0].startswith(f"gosched: raised in goroutine {ids[0]} (")
    assert "misuser), created by " in notes[0]


def test_fatal_error_from_a_plain_thread_ends_the_run() -> None:
    """A thread outside the runtime misusing a mutex during a run ends the run too (Go: the process)."""
    mu = gosched.Mutex()

    def thread() -> None:
        try:
            mu.unlock()
        except BaseException:
            pass

    async def main() -> str:
        t = threading.Thread(target=thread)
        t.start()
        await gosched.syscall(t.join)
        await gosched.sleep(10)  # the fatal error ends the run long before
        return "finished"

    with pytest.raises(gosched.Fatal, match="sync: unlock of unlocked mutex"):
        run(main, maxprocs=2)


def test_fatal_error_outside_a_run_is_raised() -> None:
    with pytest.raises(gosched.Fatal, match="sync: unlock of unlocked mutex"):
        gosched.Mutex().unlock()


def test_negative_waitgroup_counter_stays_a_recoverable_panic() -> None:
    """Go panics (not fatal) here: recover() works, and so does except Exception."""

    async def main() -> str:
        wg = gosched.WaitGroup()
        try:
            wg.done()
        except Exception as e:
            assert isinstance(e, gosched.Panic)
            return f"recovered: {e}"
        return "no panic"

    assert run(main) == "recovered: sync: negative WaitGroup counter"
