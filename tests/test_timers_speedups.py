"""The timer heap in C (_speedups_timers.h) against timers.py; a sleep's trap and wake-up in C.

With the accelerator, ``timers.addtimer`` and ``timers.runtimers`` are C functions
doing the steps of timers.py's (``timers.pyaddtimer``, ``timers.pyruntimers``), and
the C rounds handle a goroutine's sleep (proc.timesleep's common case) themselves, and
its timer readies it with ``proc._readytimer`` in C (``proc.pyreadytimer`` in Python).
Each test here runs both where they exist (the suite runs again with
GOSCHED_PURE_PYTHON=1, where only timers.py's do): the same heap, step for step, the
same timers fired in the same order, and no sleeper lost under many Ms.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from gosched._runtime import proc, speedups
from gosched._runtime import timers as _timers
from gosched._runtime.runtime2 import P

needs_c = pytest.mark.skipif(speedups.c is None, reason="pure-Python path: timers.py's are the only ones")


def test_the_functions_are_the_c_ones_with_the_accelerator() -> None:
    assert (_timers.addtimer is _timers.pyaddtimer) == (speedups.c is None)
    assert (_timers.runtimers is _timers.pyruntimers) == (speedups.c is None)
    assert (proc._readytimer is proc.pyreadytimer) == (speedups.c is None)


# One program of timer operations, run on a P through each implementation.
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40), st.sampled_from([0, 0, 0, 3, 7])),
        st.tuples(st.just("del"), st.integers(0, 60), st.just(0)),
        st.tuples(st.just("run"), st.integers(0, 50), st.booleans()),
    ),
    max_size=120,
)


def _replay(program: list[tuple[str, int, Any]], add: Any, runt: Any) -> list[Any]:
    """Apply ``program`` to a fresh P; every observable step, in order.

    No two timers are ever due at the same ns (each when is its timer's index mod 1,000,
    periods are whole thousands), so the heap's order does not depend on id(), which
    breaks ties and differs between the two replays."""
    p = P(0)
    fired: list[tuple[int, int]] = []
    made: list[_timers.RTimer] = []
    seen: list[Any] = []
    for op, a, b in program:
        if op == "add":
            t = _timers.RTimer(lambda i: fired.append((i, made[i].when)), len(made), a * 1000 + len(made),
                               period=b * 1000)
            made.append(t)
            add(p, t)
        elif op == "del" and made:
            t = made[a % len(made)]
            seen.append(_timers.deltimer(t))
        elif op == "run":
            runt(p, a * 1000 + 999, b)
        if _timers.topwakes is not None:  # anywaker(first=True)'s answer for these (wakes None) timers
            assert _timers.topwakes([p]) == bool(p.timers and _timers._wakes(p, p.timers[0]))
        seen.append((
            [(e[0], e[2]) for e in p.timers], p.timer0when, p.timerzombies, list(fired),
            [(t.when, t.active, t.gen, t.firing, t.pp is p) for t in made],
        ))
    return seen


@needs_c
@settings(max_examples=300, deadline=None)
@given(ops)
def test_c_heap_matches_timers_py_step_for_step(program: list[tuple[str, int, Any]]) -> None:
    """Same heap layout (heapq's), same zombies, same timers fired in the same order."""
    assert _replay(program, _timers.addtimer, _timers.runtimers) == _replay(
        program, _timers.pyaddtimer, _timers.pyruntimers
    )


@needs_c
def test_c_heap_rebuilds_a_heap_of_mostly_dead_entries() -> None:
    """More than a quarter of 100 entries dead: both rebuild it (Go's adjusttimers)."""
    program: list[tuple[str, int, Any]] = [("add", 10 + i, 0) for i in range(100)]
    program += [("del", i, 0) for i in range(1, 80, 2)] + [("run", 10, True)]
    c = _replay(program, _timers.addtimer, _timers.runtimers)
    assert c == _replay(program, _timers.pyaddtimer, _timers.pyruntimers)
    heap, _, zombies, fired, _ = c[-1]
    assert zombies * 4 <= len(heap) < 100 - 40 + zombies  # 40 dead: rebuilt on the way
    assert [i for i, _ in fired] == [0]


@needs_c
def test_c_functions_reject_what_is_not_a_p_or_a_timer() -> None:
    p = P(0)
    with pytest.raises(TypeError):
        _timers.addtimer(object(), _timers.RTimer(print, None))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _timers.addtimer(p, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _timers.runtimers(p)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _timers.runtimers(p, 0, blocking=True, other=1)  # type: ignore[call-arg]
    t = _timers.RTimer(print, None)
    del t.when
    with pytest.raises(AttributeError):
        _timers.addtimer(p, t)
    assert p.timers == []
    p.timers = ()  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"P\.timers must be a list"):
        _timers.runtimers(p, 0)


@needs_c
def test_topwakes_leaves_a_timer_with_a_test_to_anywaker() -> None:
    """A sleeper's timer on top: True. A channel timer's (wakes: is someone receiving?): False,
    timers.anywaker calls its test; as an empty heap or a stopped timer's entry."""
    assert _timers.topwakes is not None
    p = P(0)
    assert not _timers.topwakes([p])
    t = _timers.RTimer(print, None, 5, wakes=lambda _: True)
    _timers.addtimer(p, t)
    assert not _timers.topwakes([p]) and _timers.anywaker(_Sched([p]), first=True) == 5
    q = P(1)
    s = _timers.RTimer(print, None, 9)
    _timers.addtimer(q, s)
    assert _timers.topwakes([p, q])
    _timers.addtimer(q, _timers.RTimer(print, None, 20))
    s.active = False  # stopped, its entry still on top (deltimer cleans it up next): anywaker decides
    assert not _timers.topwakes([q]) and _timers.anywaker(_Sched([q]), first=True) == 20
    with pytest.raises(TypeError):
        _timers.topwakes((p,))  # type: ignore[arg-type]


class _Sched:
    def __init__(self, allp: list[P]) -> None:
        self.allp = allp


@needs_c
def test_runtimers_gives_up_on_a_busy_lock_when_not_blocking() -> None:
    p = P(0)
    fired: list[int] = []
    _timers.addtimer(p, _timers.RTimer(fired.append, 1, 5))
    with p.timerslock:
        _timers.runtimers(p, 10, blocking=False)
    assert fired == []
    _timers.runtimers(p, 10, False)
    assert fired == [1]


def test_a_raising_timer_callback_leaves_the_heap_consistent() -> None:
    """The callback runs outside the lock; its error propagates, the lock is free."""
    p = P(0)

    def boom(_: Any) -> None:
        raise ValueError("boom")

    _timers.addtimer(p, _timers.RTimer(boom, None, 1))
    with pytest.raises(ValueError, match="boom"):
        _timers.runtimers(p, 5)
    assert p.timers == [] and p.timer0when == 0
    assert p.timerslock.acquire(False)


@pytest.fixture(params=["c", "python"])
def sleeppath(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The C rounds' SLEEP trap and C timer heap, or proc.timesleep and timers.py's."""
    if request.param == "python":
        monkeypatch.setattr(proc, "cround", None)
        monkeypatch.setattr(_timers, "addtimer", _timers.pyaddtimer)
        monkeypatch.setattr(_timers, "runtimers", _timers.pyruntimers)
        monkeypatch.setattr(proc, "_readytimer", proc.pyreadytimer)
    elif speedups.c is None:
        pytest.skip("pure-Python path")
    yield request.param


def test_sleepers_wake_in_deadline_order(sleeppath: str) -> None:
    """Sleepers wake in the order of their deadlines: each one's start plus its duration
    (on a loaded machine the goroutines start ms apart, so not in the order of durations)."""
    async def sleeper(d: float, order: list[float], wg: gosched.WaitGroup) -> None:
        deadline = time.monotonic() + d
        await gosched.sleep(d)
        order.append(deadline)
        wg.done()

    async def main() -> list[float]:
        order: list[float] = []
        wg = gosched.WaitGroup()
        ds = [0.002 * i for i in range(1, 21)]
        random.Random(7).shuffle(ds)
        wg.add(len(ds))
        for d in ds:
            gosched.go(sleeper, d, order, wg)
        await wg.wait()
        return order

    order = run(main)
    # The timer's own clock reading comes a few µs after the sleeper's: deadlines closer than
    # 0.2 ms may swap.
    late = [(a, b) for a, b in itertools.pairwise(order) if b < a - 0.0002]
    assert not late, (late, order)


@pytest.mark.parametrize("procs", [1, 4])
def test_no_sleeper_is_lost_under_many_ms(sleeppath: str, procs: int) -> None:
    """Hundreds of goroutines sleeping short random times while others hop Ms (tiny switch
    interval): every one wakes, once, and never before its deadline."""
    lock = threading.Lock()

    async def sleeper(i: int, woke: dict[int, int], wg: gosched.WaitGroup) -> None:
        rnd = random.Random(i)
        for _ in range(5):
            d = rnd.choice([0.0005, 0.001, 0.003])
            t0 = proc.nanotime()
            await gosched.sleep(d)
            assert proc.nanotime() - t0 >= d * 1e9
            with lock:
                woke[i] = woke.get(i, 0) + 1
        wg.done()

    async def main() -> dict[int, int]:
        woke: dict[int, int] = {}
        wg = gosched.WaitGroup()
        wg.add(300)
        for i in range(300):
            gosched.go(sleeper, i, woke, wg)
        await wg.wait()
        return woke

    with tiny_switch():
        woke = run(main, maxprocs=procs, timeout=120)
    assert woke == {i: 5 for i in range(300)}
