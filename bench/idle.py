"""Idle CPU: 1,000 tasks parked on a channel and a main task asleep.

Reports the process's CPU time (user + system, all threads) spent in the idle
window, in ms and as a percentage of its wall time. A runtime that polls or
spins shows up here; one that wakes only for the main task's timer spends
what the two transitions (falling asleep, waking) cost.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gosched

from ._common import cpu_seconds
from ._spec import Metric, Workload

PARKED = 1_000
ASLEEP = "ASLEEP"  # the line a worker prints as its idle window starts

WORKLOADS = (
    Workload(
        name="idle",
        title="idle CPU (1,000 parked tasks, main asleep)",
        metrics=(
            Metric("cpu_ms", "idle CPU while asleep", "ms", "lower", "{:.2f}"),
            Metric("cpu_pct", "idle CPU", "% of a core", "lower", "{:.3f}"),
            Metric("wakeups_per_s", "wake-ups while asleep (steady)", "per s", "lower", "{:.2f}"),
            Metric("steady_cpu_us_per_s", "CPU while asleep (steady)", "µs per s", "lower", "{:.2f}"),
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
        asleep()
        c0, w0 = cpu_seconds(), time.perf_counter()
        await sleep(seconds)
        c1, w1 = cpu_seconds(), time.perf_counter()
        return idle_result(c1 - c0, w1 - w0)

    return body


def asleep() -> None:
    """Tell the runner the idle window starts: it samples the process from outside
    (``sample_asleep``), which no thread of the process can do without waking it."""
    print(ASLEEP, flush=True)


def sample_asleep(pid: int, seconds: float) -> dict[str, float]:
    """The runner's side: the middle of the window, read from /proc/PID/task/*/schedstat
    (ns of CPU and the number of times a thread was scheduled in, i.e. woke up).

    The whole-window CPU (``cpu_ms``) also counts falling asleep and waking up; this
    is the steady state in between, where a runtime that polls or ticks shows up.
    """
    lead = min(0.5, seconds / 4)
    time.sleep(lead)
    (ns0, n0), t0 = _schedstat(pid), time.perf_counter()
    time.sleep(max(0.0, seconds - 2 * lead))
    (ns1, n1), t1 = _schedstat(pid), time.perf_counter()
    span = t1 - t0
    return {"wakeups_per_s": (n1 - n0) / span, "steady_cpu_us_per_s": (ns1 - ns0) / 1e3 / span}


def _schedstat(pid: int) -> tuple[int, int]:
    ns = slices = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, _, n = f.read().split()
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # a thread that ended meanwhile
        ns += int(run)
        slices += int(n)
    return ns, slices


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
