"""Buffered fan-in 8 -> 1: eight producers send into one channel of capacity 128.

gosched and Go close the channel once a WaitGroup sees all producers done and the
consumer ranges over it; trio closes per-producer clones of the send channel;
asyncio and gevent consumers count the items (their queues have no close).
"""

from __future__ import annotations

import time
from typing import Any

import gosched

from ._spec import Metric, Workload

PRODUCERS = 8
CAP = 128

WORKLOADS = (
    Workload(
        name="fanin",
        title="buffered fan-in 8→1",
        metrics=(Metric("items_per_s", "fan-in 8→1", "items/s", "higher"),),
        full={"per_producer": 10_000},
        quick={"per_producer": 500},
        runs=5,
    ),
)


async def _producer(ch: gosched.Chan[int], m: int, wg: gosched.WaitGroup) -> None:
    for i in range(m):
        await ch.send(i)
    wg.done()


async def _closer(ch: gosched.Chan[int], wg: gosched.WaitGroup) -> None:
    await wg.wait()
    ch.close()


async def _main(per_producer: int) -> dict[str, Any]:
    ch = gosched.Chan[int](CAP)
    wg = gosched.WaitGroup()
    t0 = time.perf_counter_ns()
    for _ in range(PRODUCERS):
        wg.add(1)
        gosched.go(_producer, ch, per_producer, wg)
    gosched.go(_closer, ch, wg)
    count = 0
    async for _ in ch:
        count += 1
    dt = time.perf_counter_ns() - t0
    assert count == PRODUCERS * per_producer
    return {"items_per_s": count / (dt / 1e9)}


def run_gosched(per_producer: int) -> dict[str, Any]:
    return gosched.run(_main, per_producer)
