"""GOMAXPROCS on a GIL build: the figures behind the default (README, "GOMAXPROCS").

Runs unbuffered ping-pong, buffered fan-in 8->1 and spawn+join at GOMAXPROCS 1, 2
and 4 and prints ns per operation (best of ``--repeat``). Usage::

    python bench/gomaxprocs.py [--n 40000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Coroutine
from typing import Any

import gosched


def pingpong(n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    async def main() -> float:
        a, b = gosched.Chan[int](), gosched.Chan[int]()

        async def echo() -> None:
            async for v in a:
                await b.send(v)

        gosched.go(echo)
        t = time.perf_counter()
        for i in range(n):
            await a.send(i)
            await b.recv()
        return (time.perf_counter() - t) / n * 1e9

    return main


def fanin(n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    async def main() -> float:
        c = gosched.Chan[int](128)
        wg = gosched.WaitGroup()

        async def produce() -> None:
            for i in range(n // 8):
                await c.send(i)
            wg.done()

        async def closer() -> None:
            await wg.wait()
            c.close()

        t = time.perf_counter()
        for _ in range(8):
            wg.add(1)
            gosched.go(produce)
        gosched.go(closer)
        got = 0
        async for _ in c:
            got += 1
        return (time.perf_counter() - t) / got * 1e9

    return main


def spawn(n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    async def main() -> float:
        wg = gosched.WaitGroup()

        async def task() -> None:
            wg.done()

        t = time.perf_counter()
        for i in range(n):
            wg.add(1)
            gosched.go(task)
            if i % 64 == 0:
                await gosched.gosched()
        await wg.wait()
        return (time.perf_counter() - t) / n * 1e9

    return main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| GOMAXPROCS | ping-pong (ns/round trip) | fan-in 8→1 (ns/item) | spawn+join (ns/task) |")
    print("|---|---|---|---|")
    for procs in (1, 2, 4):
        row = []
        for work in (pingpong, fanin, spawn):
            row.append(min(gosched.run(work(args.n), maxprocs=procs) for _ in range(args.repeat)))
        print(f"| {procs} | {row[0]:,.0f} | {row[1]:,.0f} | {row[2]:,.0f} |")


if __name__ == "__main__":
    main()
