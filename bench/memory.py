"""Memory per blocked goroutine: n tasks parked on one channel receive.

RSS after all n tasks have parked, minus RSS before they were spawned (both after
a full ``gc.collect()``; Go: ``runtime.GC()``), divided by n.
"""

from __future__ import annotations

from typing import Any

import gosched

from ._common import rss_bytes, settle
from ._spec import Metric, Workload

WORKLOADS = (
    Workload(
        name="memory",
        title="memory per blocked task",
        metrics=(Metric("bytes_per_task", "memory per blocked task", "bytes", "lower"),),
        full={"n": 50_000},
        quick={"n": 2_000},
        runs=3,
    ),
)


async def _parked(ch: gosched.Chan[None], started: gosched.WaitGroup) -> None:
    started.done()
    await ch.recv()


async def _main(n: int) -> dict[str, Any]:
    ch = gosched.Chan[None]()
    started = gosched.WaitGroup()
    started.add(n)
    settle()
    before = rss_bytes()
    for _ in range(n):
        gosched.go(_parked, ch, started)
    await started.wait()
    await gosched.sleep(0.01)  # the last ones get from done() to their recv
    settle()
    after = rss_bytes()
    return {"bytes_per_task": (after - before) / n}


def run_gosched(n: int) -> dict[str, Any]:
    return gosched.run(_main, n)
