"""Crowd: a 1 ms ticker beside 32 goroutines making short blocking calls nobody wrapped.

Each of ``callers`` tasks makes ``rounds`` plain ``time.sleep(call_ms)`` calls
(the new user's unwrapped blocking call, e.g. a small HTTP request), with
``maxprocs=1``. Reported: the ticker's largest gap, and how long the crowd took
(``wall_ms``: the cost of retaking the P once per call, against
``rounds * call_ms`` if every call overlapped). asyncio, uvloop and gevent
(unpatched) run every call on the loop; Go makes the same calls as raw
``nanosleep(2)`` system calls (``bench/go``), with ``GOMAXPROCS=1``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import liveness
from ._spec import Metric, Workload

WORKLOADS = (
    Workload(
        name="crowd",
        title="ticker gap, 32 tasks in 20 ms unwrapped blocking calls",
        metrics=(
            Metric("gap_ms", "ticker gap, crowd of blocking calls", "ms", "lower", "{:.1f}"),
            Metric("wall_ms", "crowd wall time", "ms", "lower", "{:.0f}"),
        ),
        full={"callers": 32, "rounds": 5, "call_ms": 20.0},
        quick={"callers": 32, "rounds": 1, "call_ms": 20.0},
        runs=3,
        runtimes=("gosched", "asyncio", "uvloop", "gevent", "go"),
    ),
)


def _calls(rounds: int, call_ms: float) -> None:
    for _ in range(rounds):
        time.sleep(call_ms / 1e3)


def run_gosched(callers: int, rounds: int, call_ms: float) -> dict[str, Any]:
    import gosched

    async def crowd() -> None:
        wg = gosched.WaitGroup()

        async def caller() -> None:
            _calls(rounds, call_ms)
            wg.done()

        for _ in range(callers):
            wg.add(1)
            gosched.go(caller)
        await wg.wait()

    gosched.debug.set_blocking_report(False)
    gap, took = liveness.gosched_ticker(crowd)
    return {"gap_ms": gap * 1e3, "wall_ms": took * 1e3}


def run_asyncio(callers: int, rounds: int, call_ms: float, use_uvloop: bool = False) -> dict[str, Any]:
    async def caller() -> None:
        _calls(rounds, call_ms)

    async def crowd() -> None:
        await asyncio.gather(*[caller() for _ in range(callers)])

    if use_uvloop:
        import uvloop

        gap, took = uvloop.run(liveness.asyncio_ticker(crowd))
    else:
        gap, took = asyncio.run(liveness.asyncio_ticker(crowd))
    return {"gap_ms": gap * 1e3, "wall_ms": took * 1e3}


def run_gevent(callers: int, rounds: int, call_ms: float) -> dict[str, Any]:
    import gevent  # not monkey-patched: time.sleep is the call nobody wrapped

    gaps: list[float] = []
    done = [False]

    def ticker() -> None:
        last = time.perf_counter()
        while not done[0]:
            gevent.sleep(liveness.TICK_S)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    g = gevent.spawn(ticker)
    gevent.sleep(0.02)
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(_calls, rounds, call_ms) for _ in range(callers)])
    took = time.perf_counter() - t0
    gevent.sleep(0.02)
    done[0] = True
    g.join()
    return {"gap_ms": max(gaps[1:]) * 1e3, "wall_ms": took * 1e3}
