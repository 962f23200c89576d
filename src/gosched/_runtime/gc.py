"""forcegc and gctrace (Go's forcegchelper and GODEBUG=gctrace=1).

CPython collects only when allocations cross a threshold, so an idle server
can keep garbage cycles forever. As Go's sysmon does, gosched forces a
collection when none ran for ``forcegcperiod`` (2 minutes). The collection runs
in a short-lived system goroutine, so it happens on an M with a P like any
other work. ``gc.callbacks`` tells sysmon about every collection, forced or not.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from . import proc
from .runtime2 import Sched

_sched: Sched | None = None
_t0 = 0


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _t0
    s = _sched
    if s is None:
        return
    if phase == "start":
        _t0 = time.monotonic_ns()
        return
    now = time.monotonic_ns()
    s.lastgc = now
    s.numgc += 1
    from . import trace

    if trace.settings.gctrace:
        out = trace.settings.out or sys.stderr
        out.write(
            f"gc {s.numgc} @{(now - s.starttime) / 1e9:.3f}s: gen {info.get('generation')}, "
            f"{info.get('collected', 0)} collected, {info.get('uncollectable', 0)} uncollectable, "
            f"{(now - _t0) / 1e6:.3f} ms\n"
        )


def install(sched: Sched) -> None:
    global _sched
    _sched = sched
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def uninstall(sched: Sched) -> None:
    global _sched
    if _sched is sched:
        _sched = None
    if _callback in gc.callbacks:
        gc.callbacks.remove(_callback)


async def _forcegchelper() -> None:
    gc.collect()


def force(sched: Sched) -> None:
    """Start a system goroutine that runs gc.collect() (sysmon's forcegc)."""
    if sched.dead:
        return
    gp = proc.newproc(sched, _forcegchelper(), None, "runtime.forcegchelper", system=True)
    del gp
