"""Shared helpers for the core test suite (test_run, test_chan, test_select, test_time,
test_sync, test_sched, test_stress).

``run`` is ``gosched.run`` in a daemon thread with a deadline: a hung runtime fails
the test (with every thread's stack) instead of hanging the suite, and is then
ended through the runtime's own fatal path so that the next test can start one.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import gosched
from gosched import debug
from gosched._runtime import dump, panic, proc, schedtrace
from gosched._runtime.runtime2 import G
from gosched._runtime.traps import getm

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


class HangError(AssertionError):
    """gosched.run did not return in time."""


def _stacks() -> str:
    frames = sys._current_frames()
    out: list[str] = []
    for th in threading.enumerate():
        f = frames.get(th.ident or -1)
        if f is None:
            continue
        out.append(f"--- thread {th.name}\n" + "".join(traceback.format_stack(f)[-12:]))
    return "".join(out)


def _schedline(s: Any) -> str:
    """The scheduler's counters a hang report needs (Go's schedtrace fields)."""
    keys = ("gomaxprocs", "npidle", "nmspinning", "nmidle", "nmsys", "nsyscall", "lastpoll", "dead")
    return " ".join(f"{k}={getattr(s, k, '?')}" for k in keys)


def run(
    main: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    maxprocs: int | None = 1,
    timeout: float = DEFAULT_TIMEOUT,
    clock: str = "real",
) -> T:
    """``gosched.run(main, *args, maxprocs=maxprocs)``, failing the test after ``timeout`` s."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = gosched.run(main, *args, maxprocs=maxprocs, clock=clock)
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=target, name="gosched-test-run", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        stacks = _stacks()
        s = proc.current
        if s is not None:  # every goroutine and its wait reason, then end the program
            with contextlib.suppress(Exception):
                stacks += "--- goroutines\n" + dump.dump(s) + f"--- sched {_schedline(s)}\n"
            panic.fatal(s, HangError("test timeout"))
        t.join(5.0)
        pytest.fail(f"gosched.run did not return within {timeout} s (hang)\n{stacks}", pytrace=False)
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def in_thread(fn: Callable[[], T], timeout: float = 10.0) -> T:
    """Call ``fn`` in a plain (non-M) thread and return its result or raise its exception."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "plain thread hung"
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Step a gosched awaitable once from a plain thread (as an event loop would)."""
    try:
        return coro.send(None)
    except StopIteration as e:
        return ("returned", e.value)
    finally:
        coro.close()


def current_g() -> G:
    """The running goroutine (internal: the M's curg)."""
    m = getm()
    assert m is not None and m.curg is not None, "not inside a goroutine"
    g: G = m.curg
    return g


async def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Yield (gosched, then short sleeps) until ``pred()``; fail after ``timeout`` s."""
    import time

    end = time.monotonic() + timeout
    i = 0
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        if i < 100:
            await gosched.gosched()
        else:
            await gosched.sleep(0.001)
        i += 1


def quiet_hang_guard() -> Iterator[None]:
    """Fixture body: a 60 s hang guard, with blocking reports off (the tests hold Ps on purpose)."""
    faulthandler.dump_traceback_later(60, exit=True)
    old = debug.set_blocking_report(False)
    try:
        yield
    finally:
        debug.set_blocking_report(old)
        faulthandler.cancel_dump_traceback_later()


def restore_trace_settings() -> Iterator[None]:
    """Fixture body: a 60 s hang guard, and GOSCHEDDEBUG settings restored afterwards."""


    faulthandler.dump_traceback_later(60, exit=True)
    old_settings = schedtrace.settings
    try:
        yield
    finally:
        schedtrace.settings = old_settings
        schedtrace.overridden = False
        faulthandler.cancel_dump_traceback_later()


@contextlib.contextmanager
def tiny_switch() -> Iterator[None]:
    """Switch threads every microsecond: interleavings a 5 ms interval rarely shows."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def collect_counted(n: int = 1) -> int:
    """Run ``gc.collect()`` until the running scheduler has counted ``n`` more
    collections; return how many calls it took.

    ``gc.collect()`` returns at once, collecting nothing and running no callback,
    when another thread is in a collection (CPython lets one run at a time): an M
    that allocates can be in one. That collection is counted when it ends, so
    calling again until the count moves says what a single call cannot.
    """
    s = proc.current
    assert s is not None, "collect_counted runs inside gosched.run"
    want = s.numgc + n
    calls = 0
    while s.numgc < want:
        assert calls < 10_000, f"{calls} gc.collect() calls counted {s.numgc - want + n} of {n}"
        gc.collect()
        calls += 1
    return calls


async def pollwaiters(poller: Any, bound: int = 2000) -> int:
    """The poller's waiter count once it settles (bounded, 1 ms steps): a goroutine a poll
    readied stays counted until the M that polled has queued it (Go's netpollAdjustWaiters
    after injectglist), and with several Ms it may already have run on another one."""
    n = poller.nwaiters
    for _ in range(bound):
        if n == 0:
            break
        await gosched.sleep(0.001)
        n = poller.nwaiters
    return int(n)
