"""50,000 random timers: each task sleeps a random 0-100 ms once.

Reports the wall time until every task has woken and the lateness of each wake-up
(actual wake time minus its deadline, measured by the task itself), p50 and p99.
Every runtime gets the same durations (seeded ``random``, Go gets the same list
through a file in the same order).
"""

from __future__ import annotations

import random
import time
from typing import Any

import gosched

from ._common import percentile
from ._spec import Metric, Workload

SPAN_S = 0.1

WORKLOADS = (
    Workload(
        name="timers",
        title="50,000 random timers (0\u2013100 ms)",
        metrics=(
            Metric("wall_s", "timers wall", "s", "lower", "{:.3f}"),
            Metric("late_p50_ms", "timer lateness p50", "ms", "lower", "{:.2f}"),
            Metric("late_p99_ms", "timer lateness p99", "ms", "lower", "{:.2f}"),
        ),
        full={"n": 50_000},
        quick={"n": 2_000},
    ),
)


def durations(n: int, seed: int = 6) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.0, SPAN_S) for _ in range(n)]


def summarize(late_s: list[float], wall_s: float) -> dict[str, Any]:
    late_s.sort()
    return {
        "wall_s": wall_s,
        "late_p50_ms": percentile(late_s, 50) * 1e3,
        "late_p99_ms": percentile(late_s, 99) * 1e3,
    }


async def _sleeper(d: float, late: list[float], wg: gosched.WaitGroup) -> None:
    deadline = time.perf_counter() + d
    await gosched.sleep(d)
    late.append(time.perf_counter() - deadline)
    wg.done()


async def _main(ds: list[float]) -> dict[str, Any]:
    late: list[float] = []
    wg = gosched.WaitGroup()
    t0 = time.perf_counter()
    for d in ds:
        wg.add(1)
        gosched.go(_sleeper, d, late, wg)
    await wg.wait()
    return summarize(late, time.perf_counter() - t0)


def run_gosched(n: int) -> dict[str, Any]:
    return gosched.run(_main, durations(n))
