"""Runtime debugging knobs (Go's runtime/debug, plus sysmon's blocking profile).

* ``blocking_profile()``: the call sites that held a P until sysmon took it
  (unwrapped blocking calls and CPU loops), worst first.
* ``set_blocking_report(on, warn=True)``: turn that recording, and the one-time
  ``BlockingWarning`` per call site, on or off.
* ``set_max_threads(n)``: Go's ``debug.SetMaxThreads``; returns the old limit.
* ``set_gc_period(seconds)``: sysmon's ``forcegcperiod``; returns the old value.
* ``set_debug("schedtrace=1000,scheddetail=1,gctrace=1")``: the ``GOSCHEDDEBUG``
  settings (GODEBUG's syntax), effective at once and overriding the environment
  variable for later runs; returns the old string.
"""

from __future__ import annotations

from ._public import fixup_module_metadata as _fixup
from ._runtime import blame, proc, schedtrace, sysmon
from ._runtime.blame import Site

__all__ = [
    "Site",
    "blocking_profile",
    "reset_blocking_profile",
    "set_blocking_report",
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
