"""Goroutine spawn + join: start n tasks that do nothing, wait for all of them.

gosched and Go: ``wg.add(1); go(task)`` n times, then ``wg.wait()``.
Peers: ``create_task`` + ``gather``, a trio nursery, gevent ``spawn`` + ``joinall``.
"""

from __future__ import annotations

import time
from typing import Any

import gosched

from ._spec import Metric, Workload

WORKLOADS = (
    Workload(
        name="spawn",
        title="spawn + join",
        metrics=(Metric("ns_per_task", "spawn+join", "ns/task", "lower"),),
        full={"n": 50_000},
        quick={"n": 2_000},
        runs=9,
    ),
)


async def _task(wg: gosched.WaitGroup) -> None:
    wg.done()


async def _main(n: int) -> dict[str, Any]:
    go, wg = gosched.go, gosched.WaitGroup()
    for _ in range(min(n, 1000)):  # warm-up
        wg.add(1)
        go(_task, wg)
    await wg.wait()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        wg.add(1)
        go(_task, wg)
    await wg.wait()
    dt = time.perf_counter_ns() - t0
    return {"ns_per_task": dt / n}


def run_gosched(n: int) -> dict[str, Any]:
    return gosched.run(_main, n)
