"""What gosched is for, in a few seconds: the README's demo.

1. A 1 ms ticker runs beside a task that makes an unwrapped blocking call
   (``time.sleep(0.3)``), then one that spins a 0.3 s CPU loop. Under asyncio the ticker
   stops for the whole call; under gosched, sysmon hands the stuck P to another M and the
   ticker keeps ticking. Both are measured live, side by side.
2. gosched says where the stall came from: a ``BlockingWarning`` names the line.
3. A program that can never make progress stops with Go's
   ``all goroutines are asleep - deadlock!`` and a dump of every goroutine.
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import gosched

PAUSE = 0.3  # seconds each stuck call takes


def blocking_call() -> None:
    time.sleep(PAUSE)  # should have been: await gosched.syscall(time.sleep, PAUSE)


def load_config() -> None:
    time.sleep(PAUSE)  # another forgotten wrap, for part 2


def cpu_loop() -> None:
    end = time.perf_counter() + PAUSE
    while time.perf_counter() < end:  # no await in here
        pass


STUCK: tuple[tuple[str, Callable[[], None]], ...] = (
    ("an unwrapped time.sleep(0.3)", blocking_call),
    ("a 0.3 s CPU loop", cpu_loop),
)


async def asyncio_gap(stuck: Callable[[], None]) -> float:
    """The largest gap between a 1 ms ticker's ticks while a task runs ``stuck``."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    await asyncio.get_running_loop().run_in_executor(None, lambda: None)  # warm the loop
    gaps.clear()

    async def task() -> None:
        stuck()

    await asyncio.create_task(task())
    await asyncio.sleep(0.02)
    done.set()
    await ticker
    return max(gaps)


async def gosched_gap(stuck: Callable[[], None]) -> float:
    """The same measurement with goroutines and a gosched Ticker."""
    gaps: list[float] = []
    stop, finished = gosched.Chan[None](), gosched.Chan[None]()

    async def tick() -> None:
        ticker = gosched.Ticker(0.001)
        last = time.perf_counter()
        while (await gosched.select(gosched.recv(ticker.c), gosched.recv(stop)))[0] == 0:
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        ticker.stop()
        finished.close()

    gosched.go(tick)
    await gosched.sleep(0.02)
    gaps.clear()
    done = gosched.Chan[None]()

    async def task() -> None:
        stuck()
        done.close()

    gosched.go(task)
    await done.recv_ok()
    await gosched.sleep(0.02)
    stop.close()
    await finished.recv_ok()
    return max(gaps)


async def deadlocked() -> None:
    a, b = gosched.Chan[int](), gosched.Chan[int]()

    async def relay(inbox: gosched.Chan[int], outbox: gosched.Chan[int]) -> None:
        await outbox.send(await inbox.recv() + 1)  # each waits for the other to send first

    gosched.go(relay, a, b)
    await relay(b, a)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    first = str(message).split("; ")[0]
    print(f"   {os.path.basename(filename)}:{lineno}: {category.__name__}: {first}")


def main() -> None:
    print("1. A 1 ms ticker beside a task stuck for 0.3 s (GOMAXPROCS=1): the ticker's largest gap")
    warnings.showwarning = show_warning
    for what, stuck in STUCK:
        slow = asyncio.run(asyncio_gap(stuck))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gosched.BlockingWarning)
            fast = gosched.run(gosched_gap, stuck, maxprocs=1)
        print(f"   during {what:<30} asyncio {slow * 1e3:6.1f} ms   gosched {fast * 1e3:5.1f} ms")
    print("\n2. gosched names the line that held the P (a BlockingWarning, once per call site):")
    with warnings.catch_warnings():
        warnings.simplefilter("always", gosched.BlockingWarning)
        gosched.run(gosched_gap, load_config, maxprocs=1)
    print("\n3. A program that can never make progress stops, with a dump instead of a hang:")
    try:
        gosched.run(deadlocked)
    except gosched.Deadlock as e:
        print("   " + str(e).replace("\n", "\n   ").rstrip())


if __name__ == "__main__":
    main()
