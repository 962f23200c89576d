"""Idle CPU: 1,000 tasks parked on a channel and a main task asleep.

Reports the process's CPU time (user + system, all threads) spent in the idle
window, in ms and as a percentage of its wall time. A runtime that polls or
spins shows up here; one that wakes only for the main task's timer spends
what the two transitions (falling asleep, waking) cost.
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
        metrics=(
            Metric("cpu_ms", "idle CPU while asleep", "ms", "lower", "{:.2f}"),
            Metric("cpu_pct", "idle CPU", "% of a core", "lower", "{:.3f}"),
        ),
        full={"seconds": 5.0},
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
        return idle_result(c1 - c0, w1 - w0)

    return body


def idle_result(cpu_s: float, wall_s: float) -> dict[str, Any]:
    """The metrics from the CPU and wall seconds of the idle window."""
    return {"cpu_ms": 1e3 * cpu_s, "cpu_pct": 100 * cpu_s / wall_s}


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
