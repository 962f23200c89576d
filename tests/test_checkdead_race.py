"""checkdead racing with timers: a correct program must never be called deadlocked.

checkdead used to read the program without ``sched.lock`` and re-check only part
of it under the lock. While the last M scanned the goroutines, another M (the
poller, or one started for a due timer) could pop a sleeping goroutine's timer
after the scan had passed that goroutine: the timer scan then found no timer, and
by the time of the re-check the goroutine had run and slept again on a new timer,
which the re-check did not look at. The run ended with a false ``all goroutines are
asleep - deadlock!`` and a dump showing goroutines ``[running]`` or ``[dead]``.

The program below widens that window without touching the runtime: many goroutines
blocked on a WaitGroup make the scan long; the sleeper (created first, so scanned
first) sleeps for lengths swept across the scan, and after each wake-up runs Python
code for a while before it sleeps again. Before the fix most runs of it under the
real clock were reported as deadlocked. Under the fake clock the same program runs
through the clock's jumps, whose timers the jumping M now fires only once it counts
as active again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import gosched
from _core_helpers import run, tiny_switch
from gosched._runtime import timers as _timers

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]

FILLERS = 10_000  # goroutines checkdead scans: the wider the window
WAKEUPS = 40  # sleeps per run, 0.5 ms .. 20 ms: some land inside the scan on any machine
BUSY = 0.02  # seconds of Python code after each wake-up, with no timer armed


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    with tiny_switch():
        yield


async def sleeper_among_blocked(wait: bool) -> int:
    gate = gosched.WaitGroup()
    gate.add(1)
    start: gosched.Chan[None] = gosched.Chan()
    slept = gosched.WaitGroup()
    exited = gosched.WaitGroup()
    wakeups = 0

    async def sleeper() -> None:
        nonlocal wakeups
        await start.recv()
        for k in range(1, WAKEUPS + 1):
            await gosched.sleep(0.0005 * k)
            wakeups += 1
            end = time.monotonic() + BUSY
            while time.monotonic() < end:  # runnable, then running: no timer armed
                pass
        slept.done()

    async def filler() -> None:
        await gate.wait()
        exited.done()

    slept.add(1)
    gosched.go(sleeper)  # first in allgs: checkdead's scan passes it first
    exited.add(FILLERS)
    for i in range(FILLERS):
        gosched.go(filler)
        if i % 256 == 0:
            await gosched.gosched()  # keep our P: no handoff while we create
    await start.send(None)
    if wait:
        # synctest.Wait: returns only when the sleeper is durably blocked, with
        # its timer still armed; under the fake clock, time has not moved.
        await gosched.testing.wait()
    await slept.wait()
    gate.done()
    await exited.wait()
    return wakeups


@pytest.mark.parametrize("clock", ["real", "real-walk", "fake"])
@pytest.mark.parametrize("procs", [1, 2, 4])
def test_sleeper_among_blocked_goroutines_is_not_a_deadlock(
    tiny_switch_interval: None, monkeypatch: pytest.MonkeyPatch, procs: int, clock: str
) -> None:
    if clock == "real-walk":  # the walk at every idle (the race above was in it), which the
        monkeypatch.setattr(_timers, "STAMP_PERIOD", 0)  # real clock skips while a timer wakes one
        clock = "real"
    for _ in range(2):
        assert run(sleeper_among_blocked, False, maxprocs=procs, clock=clock, timeout=120) == WAKEUPS


@pytest.mark.parametrize("clock", ["real", "fake"])
def test_sleeper_among_blocked_goroutines_with_testing_wait(tiny_switch_interval: None, clock: str) -> None:
    assert run(sleeper_among_blocked, True, maxprocs=1, clock=clock, timeout=120) == WAKEUPS
