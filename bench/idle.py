"""Idle CPU: 1,000 tasks parked on a channel and a main task asleep.

Reports the process's CPU time (user + system, all threads) as a percentage of
the wall time of the idle window. A runtime that polls or spins shows up here.
"""

from __future__ import annotations

import time
from typing import Any

import gosched

from ._common import cpu_seconds
from ._spec import Metric, Workload

PARKED = 1_000

WORKLOADS = (
    Workload(
        name="idle",
        title="idle CPU (1,000 parked tasks, main asleep)",
        metrics=(Metric("cpu_pct", "idle CPU", "% of a core", "lower", "{:.2f}"),),
        full={"seconds": 2.0},
        quick={"seconds": 0.3},
        runs=3,
    ),
)


def measure(seconds: float, sleep: Any) -> Any:
    """A coroutine body shared by the async peers: settle, then sleep and time it."""

    async def body() -> dict[str, Any]:
        await sleep(0.1)  # let everything park
        c0, w0 = cpu_seconds(), time.perf_counter()
        await sleep(seconds)
        c1, w1 = cpu_seconds(), time.perf_counter()
        return {"cpu_pct": 100 * (c1 - c0) / (w1 - w0)}

    return body


async def _parked(ch: gosched.Chan[None]) -> None:
    await ch.recv()


async def _main(seconds: float) -> dict[str, Any]:
    ch = gosched.Chan[None]()
    for _ in range(PARKED):
        gosched.go(_parked, ch)
    res: dict[str, Any] = await measure(seconds, gosched.sleep)()
    ch.close()
    return res


def run_gosched(seconds: float) -> dict[str, Any]:
    return gosched.run(_main, seconds)
