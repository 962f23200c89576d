"""trio versions of the workloads: nurseries and memory channels."""

from __future__ import annotations

import time
from typing import Any

import trio

from .._common import rss_bytes, settle
from ..fanin import CAP, PRODUCERS
from ..idle import PARKED, measure
from ..timers import durations, summarize


async def _nothing() -> None:
    pass


def spawn(n: int) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            for _ in range(min(n, 1000)):
                nursery.start_soon(_nothing)
        t0 = time.perf_counter_ns()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(_nothing)
        return {"ns_per_task": (time.perf_counter_ns() - t0) / n}

    return trio.run(main)


def pingpong(n: int) -> dict[str, Any]:
    async def ponger(ping: trio.MemoryReceiveChannel[int], pong: trio.MemorySendChannel[int]) -> None:
        async for v in ping:
            await pong.send(v)

    async def main() -> dict[str, Any]:
        ping_s, ping_r = trio.open_memory_channel[int](0)
        pong_s, pong_r = trio.open_memory_channel[int](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ponger, ping_r, pong_s)
            for i in range(min(n, 1000)):
                await ping_s.send(i)
                await pong_r.receive()
            t0 = time.perf_counter_ns()
            for i in range(n):
                await ping_s.send(i)
                await pong_r.receive()
            dt = time.perf_counter_ns() - t0
            await ping_s.aclose()
        return {"ns_per_rt": dt / n}

    return trio.run(main)


def fanin(per_producer: int) -> dict[str, Any]:
    async def producer(send: trio.MemorySendChannel[int]) -> None:
        async with send:
            for i in range(per_producer):
                await send.send(i)

    async def main() -> dict[str, Any]:
        send, recv = trio.open_memory_channel[int](CAP)
        count = 0
        t0 = time.perf_counter_ns()
        async with trio.open_nursery() as nursery:
            async with send:
                for _ in range(PRODUCERS):
                    nursery.start_soon(producer, send.clone())
            async for _ in recv:
                count += 1
        dt = time.perf_counter_ns() - t0
        assert count == PRODUCERS * per_producer
        return {"items_per_s": count / (dt / 1e9)}

    return trio.run(main)


def timers(n: int) -> dict[str, Any]:
    async def sleeper(d: float, late: list[float]) -> None:
        deadline = time.perf_counter() + d
        await trio.sleep(d)
        late.append(time.perf_counter() - deadline)

    ds = durations(n)

    async def main() -> dict[str, Any]:
        late: list[float] = []
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for d in ds:
                nursery.start_soon(sleeper, d, late)
        return summarize(late, time.perf_counter() - t0)

    return trio.run(main)


def idle(seconds: float) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        _send, recv = trio.open_memory_channel[None](0)
        async with trio.open_nursery() as nursery:
            for _ in range(PARKED):
                nursery.start_soon(recv.receive)
            res: dict[str, Any] = await measure(seconds, trio.sleep)()
            nursery.cancel_scope.cancel()
        return res

    return trio.run(main)


def memory(n: int) -> dict[str, Any]:
    async def parked(recv: trio.MemoryReceiveChannel[None], started: list[int]) -> None:
        started[0] += 1
        await recv.receive()

    async def main() -> dict[str, Any]:
        _send, recv = trio.open_memory_channel[None](0)
        started = [0]
        settle()
        before = rss_bytes()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(parked, recv, started)
            while started[0] < n:
                await trio.sleep(0.001)
            await trio.sleep(0.01)
            settle()
            after = rss_bytes()
            from .._common import emit

            emit({"bytes_per_task": (after - before) / n})  # leaves the process
        raise AssertionError("unreachable")

    return trio.run(main)


def liveness(kind: str) -> dict[str, Any]:
    from ..liveness import HOG_S, TICK_S, _hog_sync

    async def main() -> dict[str, Any]:
        gaps: list[float] = []
        done = trio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await trio.sleep(TICK_S)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.sleep(0.02)
            _hog_sync(kind)()
            await trio.sleep(0.02)
            done.set()
        return {"gap_ms": max(gaps[1:]) * 1e3, "hog_s": HOG_S}

    return trio.run(main)
