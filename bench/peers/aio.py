"""asyncio (and uvloop) versions of the workloads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .._common import emit, rss_bytes, settle
from ..fanin import CAP, PRODUCERS
from ..idle import PARKED, measure
from ..timers import durations, summarize


def _run(main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], use_uvloop: bool) -> dict[str, Any]:
    if use_uvloop:
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


async def _nothing() -> None:
    pass


def spawn(n: int, use_uvloop: bool = False) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        create_task = asyncio.create_task
        await asyncio.gather(*[create_task(_nothing()) for _ in range(min(n, 1000))])
        t0 = time.perf_counter_ns()
        await asyncio.gather(*[create_task(_nothing()) for _ in range(n)])
        return {"ns_per_task": (time.perf_counter_ns() - t0) / n}

    return _run(main, use_uvloop)


def pingpong(n: int, use_uvloop: bool = False) -> dict[str, Any]:
    async def ponger(ping: asyncio.Queue[int], pong: asyncio.Queue[int]) -> None:
        while True:
            v = await ping.get()
            await pong.put(v)

    async def main() -> dict[str, Any]:
        ping: asyncio.Queue[int] = asyncio.Queue(1)
        pong: asyncio.Queue[int] = asyncio.Queue(1)
        task = asyncio.create_task(ponger(ping, pong))
        for i in range(min(n, 1000)):
            await ping.put(i)
            await pong.get()
        t0 = time.perf_counter_ns()
        for i in range(n):
            await ping.put(i)
            await pong.get()
        dt = time.perf_counter_ns() - t0
        task.cancel()
        return {"ns_per_rt": dt / n}

    return _run(main, use_uvloop)


def fanin(per_producer: int, use_uvloop: bool = False) -> dict[str, Any]:
    async def producer(q: asyncio.Queue[int]) -> None:
        for i in range(per_producer):
            await q.put(i)

    async def main() -> dict[str, Any]:
        q: asyncio.Queue[int] = asyncio.Queue(CAP)
        total = PRODUCERS * per_producer
        t0 = time.perf_counter_ns()
        tasks = [asyncio.create_task(producer(q)) for _ in range(PRODUCERS)]
        for _ in range(total):
            await q.get()
        dt = time.perf_counter_ns() - t0
        await asyncio.gather(*tasks)
        return {"items_per_s": total / (dt / 1e9)}

    return _run(main, use_uvloop)


def timers(n: int, use_uvloop: bool = False) -> dict[str, Any]:
    async def sleeper(d: float, late: list[float]) -> None:
        deadline = time.perf_counter() + d
        await asyncio.sleep(d)
        late.append(time.perf_counter() - deadline)

    ds = durations(n)

    async def main() -> dict[str, Any]:
        late: list[float] = []
        t0 = time.perf_counter()
        await asyncio.gather(*[asyncio.create_task(sleeper(d, late)) for d in ds])
        return summarize(late, time.perf_counter() - t0)

    return _run(main, use_uvloop)


def idle(seconds: float, use_uvloop: bool = False) -> dict[str, Any]:
    async def parked(q: asyncio.Queue[None]) -> None:
        await q.get()

    async def main() -> dict[str, Any]:
        q: asyncio.Queue[None] = asyncio.Queue()
        tasks = [asyncio.create_task(parked(q)) for _ in range(PARKED)]
        res: dict[str, Any] = await measure(seconds, asyncio.sleep)()
        for t in tasks:
            t.cancel()
        return res

    return _run(main, use_uvloop)


def memory(n: int, use_uvloop: bool = False) -> dict[str, Any]:
    async def parked(q: asyncio.Queue[None], started: list[int]) -> None:
        started[0] += 1
        await q.get()

    async def main() -> dict[str, Any]:
        q: asyncio.Queue[None] = asyncio.Queue()
        started = [0]
        settle()
        before = rss_bytes()
        _tasks = [asyncio.create_task(parked(q, started)) for _ in range(n)]
        while started[0] < n:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        settle()
        after = rss_bytes()
        # Leave from here: asyncio.run would cancel n parked getters one by one,
        # each removing itself from the queue's deque (quadratic, minutes at 100k).
        emit({"bytes_per_task": (after - before) / n})
        raise AssertionError("unreachable")

    return _run(main, use_uvloop)
