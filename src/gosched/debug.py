"""Runtime debugging knobs (Go's runtime/debug, plus sysmon's blocking profile).

* ``blocking_profile()``: the call sites that held a P until sysmon took it
  (unwrapped blocking calls and CPU loops), worst first.
* ``set_blocking_report(on, warn=True)``: turn that recording, and the one-time
  ``BlockingWarning`` per call site, on or off.
* ``set_max_threads(n)``: Go's ``debug.SetMaxThreads``; returns the old limit.
* ``set_gc_period(seconds)``: sysmon's ``forcegcperiod``; returns the old value.
* ``leaked_goroutines()``: the goroutines blocked forever on an object nothing
  live can reach (Go 1.26's goroutine-leak profile), each with its dump entry.
* ``deadlocked_goroutines()``: cycles of goroutines each waiting for a lock
  another one holds, while the rest of the program may still run.
* ``set_deadlock_check(seconds)``: have sysmon look for partial deadlocks
  that often and warn (``LeakWarning``) about each new one; 0 (the default) never.
* ``DeadlockWarning``: a run asleep for 10 s but for threads outside the runtime,
  which checkdead cannot rule out (an asyncio loop's ``call_soon_threadsafe``).
* ``set_debug("schedtrace=1000,scheddetail=1,gctrace=1")``: the ``GOSCHEDDEBUG``
  settings (GODEBUG's syntax), effective at once and overriding the environment
  variable for later runs; returns the old string.
"""

from __future__ import annotations

from ._public import fixup_module_metadata as _fixup
from ._runtime import blame, leaks, proc, schedtrace, sysmon
from ._runtime.blame import Site
from ._runtime.checkdead import DeadlockWarning
from ._runtime.leaks import Leak, LeakWarning, WaitCycle

__all__ = [
    "DeadlockWarning",
    "Leak",
    "LeakWarning",
    "Site",
    "WaitCycle",
    "blocking_profile",
    "deadlocked_goroutines",
    "leaked_goroutines",
    "reset_blocking_profile",
    "set_blocking_report",
    "set_deadlock_check",
    "set_debug",
    "set_gc_period",
    "set_max_threads",
]


def blocking_profile() -> list[Site]:
    """Call sites that held a P until sysmon retook it, by total time held, then count."""
    return blame.profile()


def reset_blocking_profile() -> None:
    """Forget every recorded call site (the next report of each warns again)."""
    blame.reset()


def set_blocking_report(on: bool, warn: bool = True, threshold: float | None = None) -> bool:
    """Record stuck calls (and warn once per call site if ``warn``); return the old ``on``.

    ``threshold`` (seconds, default 0.05) is how long a goroutine must hold its P
    past a preemption request before its call site is reported: shorter holds on a
    GIL build are usually a wait for the GIL, not a blocking call.
    """
    threshold_ns = None
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
            raise ValueError(f"threshold must be a number of seconds >= 0, not {threshold!r}")
        threshold_ns = int(threshold * 1e9)
    return blame.setreport(bool(on), bool(warn), threshold_ns)


def leaked_goroutines() -> list[Leak]:
    """The goroutines blocked forever, by id: Go 1.26's goroutine-leak profile.

    A goroutine parked on a channel, select, Mutex, RWMutex, WaitGroup, Cond or
    Semaphore is leaked when nothing live can reach that object any more: not a
    running, runnable, syscall, sleeping or netpoll-waiting goroutine, not a
    module global, another thread's frame or a pending timer (found by walking
    Python's object graph, as Go's GC marks). Objects used by plain threads
    (checkdead's foreign rule) never count. Callable from a goroutine or a
    plain thread while ``gosched.run`` runs; it walks the whole heap, so it is
    for tests and diagnosis, not hot paths.
    """
    return leaks.leaked(proc.getsched("gosched.debug.leaked_goroutines()"))


def deadlocked_goroutines() -> list[WaitCycle]:
    """Partial deadlocks: cycles of goroutines each waiting for a Mutex or RWMutex
    another goroutine of the cycle holds, whether or not the rest of the program runs."""
    return leaks.deadlocks(proc.getsched("gosched.debug.deadlocked_goroutines()"))


def set_deadlock_check(seconds: float) -> float:
    """Have sysmon look for partial deadlocks every ``seconds`` (0, the default: never).

    Each new cycle of goroutines waiting for each other's locks (as
    ``deadlocked_goroutines`` finds them) is reported once with a ``LeakWarning``
    naming the cycle, followed by the goroutines' dump entries. Returns the old
    period. A check reads every goroutine once (docs/observability.md gives its
    cost), so keep the period well above that.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"deadlock check period must be a number of seconds >= 0, not {seconds!r}")
    return leaks.set_period(seconds)


def set_max_threads(n: int) -> int:
    """Limit the number of Ms (Go's debug.SetMaxThreads); return the previous limit.

    Creating an M beyond the limit is Go's fatal ``thread exhaustion`` error. As in
    Go, lowering the limit below the current thread count is fatal at once.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_max_threads needs a positive int, not {n!r}")
    return sysmon.set_max_threads(n)


def set_gc_period(seconds: float) -> float:
    """Set how long sysmon lets pass without a collection before forcing one."""
    if not seconds > 0:
        raise ValueError(f"gc period must be > 0, not {seconds!r}")
    old = sysmon.set_gc_period(int(seconds * 1e9))
    _wakesysmon()  # a deep sleep was sized for the old period
    return old / 1e9


def set_debug(value: str) -> str:
    """Replace the GOSCHEDDEBUG settings (``"schedtrace=1000,scheddetail=1"``); return the old."""
    old = schedtrace.setdebug(value)
    _wakesysmon()  # schedtrace forbids deep sleep
    return old


def _wakesysmon() -> None:
    s = proc.current
    if s is not None:
        sysmon.wake(s)


_fixup(__name__, globals(), __all__)
