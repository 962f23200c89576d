"""forcegc and gctrace (Go's forcegchelper and GODEBUG=gctrace=1).

CPython collects only when allocations cross a threshold, so an idle server
can keep garbage cycles forever. As Go's sysmon does, gosched forces a
collection when none ran for ``forcegcperiod`` (2 minutes): a system goroutine
parked in "force gc (idle)" is injected and runs ``gc.collect()`` on an M with
a P like any other work, then parks again. ``gc.callbacks`` tells sysmon about
every collection, forced or not (CPython serialises collections and their
callbacks, so the counters need no lock of their own).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import deque
from typing import Any

from . import mgr, proc, runend, schedtrace, trace
from .runtime2 import G, Sched, waitReasonForceGCIdle
from .traps import PARK, trap

_sched: Sched | None = None
_t0 = 0
# (start, end) monotonic ns of the latest collections: no goroutine runs during one,
# so blame does not count them against the goroutine that was waiting (issue 14).
pauses: deque[tuple[int, int]] = deque(maxlen=64)


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _t0
    s = _sched
    if s is None:
        return
    if phase == "start":
        _t0 = time.monotonic_ns()
        return
    now = time.monotonic_ns()
    pauses.append((_t0, now))
    s.lastgc = now
    s.numgc += 1
    if trace.enabled:
        trace.gc(_t0, now, info)
    if schedtrace.settings.gctrace:
        out = schedtrace.settings.out or sys.stderr
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
    """The run ended: stop watching collections, and close the helper goroutine."""
    global _sched
    if _sched is sched:
        _sched = None
    if _callback in gc.callbacks:
        gc.callbacks.remove(_callback)
    state = forcegcstate
    with state.lock:
        gp = state.g
        state.g = None
        state.idle = False
        state.parklock = None
    if gp is not None:
        runend.gfinalize(sched, (gp,))


class _ForceGC:
    """Go's forcegcstate: the parked helper goroutine and whether it is idle."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.g: G | None = None
        self.idle = False
        self.parklock: threading.Lock | None = None


forcegcstate = _ForceGC()


async def _forcegchelper(state: _ForceGC) -> None:
    """Collect, then park until sysmon injects us again (Go's forcegchelper)."""
    while True:
        gc.collect()
        park = threading.Lock()
        park.acquire()
        with state.lock:
            state.idle = True
            state.parklock = park
        # gopark(..., "force gc (idle)"): the loop releases ``park`` once we are off
        # the CPU; sysmon waits for it before readying us, so we cannot be resumed
        # while still running.
        await trap(PARK, park, waitReasonForceGCIdle)


def start_helper(sched: Sched) -> None:
    """Forget a previous run's helper. Go creates it in init; gosched creates it
    the first time it is needed, so short programs pay nothing for it."""
    state = forcegcstate
    with state.lock:
        state.g = None
        state.idle = False
        state.parklock = None


def wake_helper(sched: Sched) -> bool:
    """Inject the forcegc goroutine if it is parked (sysmon's forcegc step)."""
    state = forcegcstate
    with state.lock:
        if sched.dead:
            return False
        if state.g is None:
            helper = _forcegchelper(state)
            state.g = proc.newproc(sched, helper, None, None, "runtime.forcegchelper", system=True)
            return True
        if not state.idle:
            return False
        state.idle = False
        park = state.parklock
        gp = state.g
    # Released by the scheduler loop once the helper is off the CPU (a few us);
    # bounded so that sysmon can never hang here.
    if park is not None and not park.acquire(timeout=1.0):
        return False
    mgr.injectglist(sched, [gp])
    return True
