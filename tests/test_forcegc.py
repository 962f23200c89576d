"""forcegc (a parked helper goroutine injected by sysmon) and gctrace."""

from __future__ import annotations

import gc
import io
import re
import time

import pytest

import gosched
from _core_helpers import collect_counted, restore_trace_settings
from gosched import debug
from gosched._runtime import gc as rgc
from gosched._runtime import proc, schedtrace

_guard = pytest.fixture(autouse=True)(restore_trace_settings)


def test_forcegc_runs_when_no_collection_ran_for_the_period() -> None:
    old = debug.set_gc_period(0.1)
    assert old == 120.0
    gc.disable()  # no threshold-driven collection: only forcegc can run one

    async def main() -> tuple[int, float, str]:
        s = proc.current
        assert s is not None
        n0 = s.numgc
        t0 = time.monotonic()
        # Until two forced collections ran (a loaded machine may delay sysmon's ticks: the
        # count is waited for, not assumed of a fixed sleep), checked every 50 ms.
        while s.numgc - n0 < 2 and time.monotonic() - t0 < 20:
            await gosched.sleep(0.05)
        helper = rgc.forcegcstate.g
        assert helper is not None and helper.goid not in s.allgs  # a system goroutine
        return s.numgc - n0, time.monotonic() - t0, helper.waitreason

    try:
        ngc, elapsed, reason = gosched.run(main, maxprocs=1)
    finally:
        gc.enable()
        debug.set_gc_period(old)
    assert ngc >= 2, (ngc, elapsed)
    # Not more often than the period (it restarts at every collection): one each 100 ms at most.
    assert ngc <= elapsed / 0.1 + 1, (ngc, elapsed)
    assert reason == "force gc (idle)"  # parked again between collections, as in Go


def test_forcegc_helper_is_not_a_user_goroutine() -> None:
    old = debug.set_gc_period(0.05)

    async def main() -> int:
        await gosched.sleep(0.2)
        return gosched.num_goroutine()

    try:
        assert gosched.run(main, maxprocs=1) == 1
    finally:
        debug.set_gc_period(old)


def test_gctrace_prints_one_line_per_collection() -> None:
    out = io.StringIO()
    debug.set_debug("gctrace=1")
    schedtrace.settings.out = out

    async def main() -> None:
        collect_counted(2)

    gosched.run(main)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2, lines
    rx = re.compile(r"^gc \d+ @\d+\.\d{3}s: gen [012], \d+ collected, \d+ uncollectable, \d+\.\d{3} ms$")
    assert all(rx.match(line) for line in lines), lines


def test_set_gc_period_validates() -> None:
    with pytest.raises(ValueError):
        debug.set_gc_period(0)
