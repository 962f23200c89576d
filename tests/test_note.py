"""sysmon's deep-sleep note (note.py): Go's notetsleep/notewakeup, plus a deadline that
another thread moves without waking the sleeper, so a timer's wake-up wakes one thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import gosched
from gosched._runtime import note, proc
from gosched._runtime.note import LockNote, Note, TimerNote

MS = 1_000_000
MOVABLE = note._TIMERFD is not None
KINDS = [LockNote, *([TimerNote] if MOVABLE else [])]


@pytest.fixture(params=KINDS, ids=lambda k: k.__name__)
def n(request: pytest.FixtureRequest) -> Iterator[Note]:
    made: Note = request.param()
    yield made
    made.close()


def slept(n: Note, deadline: int) -> tuple[bool, float]:
    t0 = time.monotonic()
    n.arm(deadline)
    got = n.sleep()
    return got, time.monotonic() - t0


def test_sleep_times_out_at_the_deadline(n: Note) -> None:
    got, took = slept(n, time.monotonic_ns() + 30 * MS)
    assert not got and took >= 0.029


def test_wakeup_ends_the_sleep_and_is_consumed(n: Note) -> None:
    threading.Timer(0.02, n.wakeup).start()
    got, took = slept(n, time.monotonic_ns() + 10_000 * MS)
    assert got and took < 5
    got, took = slept(n, time.monotonic_ns() + 20 * MS)  # consumed: the next sleep runs its course
    assert not got and took >= 0.019


def test_a_late_wakeup_is_consumed_before_the_next_sleep(n: Note) -> None:
    n.arm(time.monotonic_ns() + MS)
    assert not n.sleep()
    n.wakeup()  # sent after the timeout, as a waker that saw sysmonwait does
    n.consume()
    got, took = slept(n, time.monotonic_ns() + 20 * MS)
    assert not got and took >= 0.019


def test_a_past_deadline_returns_at_once(n: Note) -> None:
    got, took = slept(n, time.monotonic_ns() - 5 * MS)
    assert not got and took < 1


@pytest.mark.skipif(not MOVABLE, reason="no timerfd in this CPython without the C accelerator")
@pytest.mark.parametrize("later", [True, False], ids=["out", "in"])
def test_another_thread_moves_the_deadline_without_a_wakeup(later: bool) -> None:
    tn = TimerNote()
    try:
        start = time.monotonic_ns()
        new = start + (300 if later else 40) * MS

        def move() -> None:
            tn.move(new)

        threading.Timer(0.02, move).start()
        tn.arm(start + 120 * MS)
        got = tn.sleep()
        took = (time.monotonic_ns() - start) / 1e9
        assert not got  # a deadline, not a wakeup
        if later:
            assert took >= 0.299
        else:
            assert 0.039 <= took < 0.119
    finally:
        tn.close()


@pytest.mark.skipif(not MOVABLE, reason="no timerfd in this CPython without the C accelerator")
def test_a_move_between_the_arm_and_the_sleep_is_kept() -> None:
    """sysmon arms its deep sleep under sched.lock and sleeps after releasing it; an M that
    takes a P in between moves the deadline in. When the sleep itself set the deadline it
    overwrote that move: sysmon slept through the watch of the busy P (a first step stuck in
    an unwrapped time.sleep(1) was not retaken for the whole second, 1 run in 100)."""
    tn = TimerNote()
    try:
        start = time.monotonic_ns()
        tn.arm(start + 10_000 * MS)  # sysmon, under the lock: until the next timer
        tn.move(start + 30 * MS)  # an M's pidleget (sysmonwatch), before sysmon sleeps
        got = tn.sleep()
        took = (time.monotonic_ns() - start) / 1e9
        assert not got and 0.029 <= took < 5
    finally:
        tn.close()


def test_lock_note_cannot_move() -> None:
    with pytest.raises(NotImplementedError):
        LockNote().move(0)


def _slices_by_thread() -> dict[int, int]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            out[int(tid)] = int(f.read().split()[2])
    return out


@pytest.mark.skipif(not MOVABLE, reason="no timerfd in this CPython without the C accelerator")
def test_a_sleeping_program_wakes_only_the_thread_that_runs_main() -> None:
    """Before the movable note sysmon woke forcePreemptNS after each timer to look at
    the P the timer made busy, though that P was idle again by then."""

    async def main() -> tuple[dict[int, int], dict[int, int], set[int]]:
        ran = {threading.get_native_id()}
        await gosched.sleep(0.05)  # a timer wake-up: sysmon's watch for it is then moot
        ran.add(threading.get_native_id())
        before = _slices_by_thread()
        await gosched.sleep(0.3)
        after = _slices_by_thread()
        ran.add(threading.get_native_id())
        return before, after, ran

    seen: list[dict[int, int]] = []
    for _ in range(3):  # a stray wake-up on a loaded machine (another process's signal...) is not ours
        before, after, ran = gosched.run(main, maxprocs=1)
        woke = {t: after[t] - before[t] for t in before
                if t in after and t not in ran and after[t] != before[t]}
        if not woke:
            return
        seen.append(woke)
    pytest.fail(f"threads other than main's woke during the sleep (tid: times): {seen}")


def test_movable_note_is_what_sysmon_gets() -> None:
    async def main() -> type:
        s = proc.current
        assert s is not None
        return type(s.sysmonnote)

    kind: Callable[[], Note] = TimerNote if MOVABLE else LockNote
    assert gosched.run(main) is kind
