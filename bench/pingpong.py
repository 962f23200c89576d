"""Unbuffered ping-pong: two tasks bounce a value over two unbuffered channels.

One round trip is a send on ``ping`` and a send back on ``pong``. asyncio has
no unbuffered queue, so its idiomatic equivalent is ``asyncio.Queue(1)``.
"""

from __future__ import annotations

import time
from typing import Any

import gosched

from ._spec import Metric, Workload

WORKLOADS = (
    Workload(
        name="pingpong",
        title="unbuffered ping-pong",
        metrics=(Metric("ns_per_rt", "ping-pong", "ns/round trip", "lower"),),
        full={"n": 50_000},
        quick={"n": 2_000},
        runs=9,
    ),
)


async def _ponger(ping: gosched.Chan[int], pong: gosched.Chan[int]) -> None:
    async for v in ping:
        await pong.send(v)


async def _main(n: int) -> dict[str, Any]:
    ping, pong = gosched.Chan[int](), gosched.Chan[int]()
    gosched.go(_ponger, ping, pong)
    for i in range(min(n, 1000)):  # warm-up
        await ping.send(i)
        await pong.recv()
    t0 = time.perf_counter_ns()
    for i in range(n):
        await ping.send(i)
        await pong.recv()
    dt = time.perf_counter_ns() - t0
    ping.close()
    return {"ns_per_rt": dt / n}


def run_gosched(n: int) -> dict[str, Any]:
    return gosched.run(_main, n)
