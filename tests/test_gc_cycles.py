"""Goroutines leave no reference cycles for CPython's cyclic GC (issue 17).

A cycle outlives its last use until a collection finds it, and every collection
traverses every live goroutine: in a spawn-heavy program, garbage cycles per
goroutine cost twice. Each pattern below runs N goroutines with the collector
off; a collection afterwards may find only what one run leaves (its Ms, a few
dozen objects), not something per goroutine.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import gosched
from _core_helpers import run
from gosched import context

N = 2000
PER_RUN = 200  # what a run itself leaves in cycles (Ms, their locks and queues): ~70-90


async def _spawn_join() -> None:
    pass


async def _after() -> None:
    await gosched.after(0.0001).recv()


async def _timer_stopped() -> None:
    gosched.Timer(60).stop()


async def _ticker() -> None:
    t = gosched.Ticker(0.0001)
    await t.c.recv()
    t.stop()


async def _after_func() -> None:
    gosched.after_func(60, lambda: None).stop()


async def _sleep_done_ctx() -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        await gosched.sleep(1, ctx)


PATTERNS: dict[str, Callable[[], Awaitable[None]]] = {
    "spawn+join": _spawn_join,
    "after": _after,
    "Timer.stop": _timer_stopped,
    "Ticker": _ticker,
    "after_func.stop": _after_func,
    "sleep(ctx done)": _sleep_done_ctx,
}


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("name", list(PATTERNS))
def test_goroutines_leave_no_garbage_cycles(name: str, no_gc: None) -> None:
    body = PATTERNS[name]

    async def main() -> None:
        wg = gosched.WaitGroup()

        async def one() -> None:
            await body()
            wg.done()

        for i in range(N):
            wg.add(1)
            gosched.go(one)
            if i % 128 == 0:
                await gosched.gosched()  # not all of them alive at once
        await wg.wait()

    run(main, maxprocs=1)
    found = gc.collect()
    assert found < PER_RUN, f"{name}: {found} objects in garbage cycles after {N} goroutines"


# A spawner whose module globals are a dict of the test's own: the handles it keeps there
# make a cycle through each G (G -> its creation site's globals -> the handle -> G).
_SPAWNER = """
async def spawn(body):
    handles.append(go(body))
"""


class _Sentinel:
    pass


def _cyclic_spawner() -> tuple[Callable[..., Awaitable[None]], weakref.ref[_Sentinel]]:
    ns: dict[str, Any] = {"go": gosched.go, "handles": [], "sentinel": _Sentinel()}
    exec(_SPAWNER, ns)
    return ns["spawn"], weakref.ref(ns["sentinel"])


def _run_cyclic(body: Callable[[], Awaitable[None]]) -> weakref.ref[_Sentinel]:
    """Run 100 goroutines of ``body`` started by the cyclic spawner; what it kept, weakly."""
    spawn, alive = _cyclic_spawner()

    async def main() -> None:
        for _ in range(100):
            await spawn(body)
        await gosched.gosched()

    run(main, maxprocs=1)
    return alive


@pytest.mark.parametrize("ending", ["returned", "parked at the run's end"])
def test_a_cycle_through_a_goroutine_is_collected_once_it_ends(ending: str) -> None:
    # The accelerator's go() takes a live G off the collector's lists (allgs keeps it
    # reachable); a G leaving allgs, by returning or closed at the run's end, must go back
    # on them, or a cycle through it would never be collected.
    async def body() -> None:
        if ending != "returned":
            await gosched.Chan[None]().recv()  # parked until the run's end closes it

    alive = _run_cyclic(body)
    gc.collect()
    assert alive() is None, f"a cycle through goroutines that {ending} was not collected"


class _Value(list[Any]):
    """A received item that can be weakly referenced (the test's sentinel of a cycle)."""


def test_channel_operations_in_cycles_are_collected_while_channels_run() -> None:
    # The accelerator keeps freed channel operations on the collector's lists, alive with
    # the free list's reference, and reuses them. Each item here ends in a cycle with the
    # operation that sent it (item -> operation -> item), and collections run every few
    # allocations, so operations are freed inside collections (their cycle cleared) and
    # reused right after; every item must still arrive once, and every cycle be collected.
    producers, per = 8, 400
    refs: list[weakref.ref[_Value]] = []

    async def producer(ch: gosched.Chan[_Value], k: int, wg: gosched.WaitGroup) -> None:
        for i in range(per):
            item = _Value([k, i])
            refs.append(weakref.ref(item))
            op = ch.send(item)
            await op
            item.append(op)  # the cycle: the operation holds the item it sent
        wg.done()

    async def main() -> list[tuple[int, int]]:
        ch = gosched.Chan[_Value](16)
        wg = gosched.WaitGroup()
        for k in range(producers):
            wg.add(1)
            gosched.go(producer, ch, k, wg)

        async def closer() -> None:
            await wg.wait()
            ch.close()

        gosched.go(closer)
        got = []
        async for item in ch:
            got.append((item[0], item[1]))
        return got

    old = gc.get_threshold()
    gc.set_threshold(7, 3, 3)
    try:
        got = run(main, maxprocs=1)
    finally:
        gc.set_threshold(*old)
    assert sorted(got) == [(k, i) for k in range(producers) for i in range(per)]
    gc.collect()
    assert sum(r() is not None for r in refs) == 0, "cycles through channel operations were not collected"
