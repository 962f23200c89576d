"""Ticker-gap liveness benchmark: gosched vs asyncio.

A 1 ms ticker goroutine records the gaps between its ticks while another
goroutine blocks its processor for 0.5 s in one of three ways:

* ``sleep``:   an unwrapped ``time.sleep(0.5)`` (a blocking call the user forgot to wrap);
* ``cpu``:     a 0.5 s pure-Python CPU loop;
* ``syscall``: ``await gosched.syscall(time.sleep, 0.5)`` (the wrapped, Go-like way).

With ``maxprocs=1`` the ticker's largest gap is what sysmon's retake buys: Go's
guarantee that one goroutine cannot stop the others. asyncio runs the same
program on one event loop, where the blocked task stops the ticker for ~500 ms.

Run: ``python bench/liveness.py [--runs N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import gosched
from gosched import debug

HOG_S = 0.5
TICK_S = 0.001


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def _hog_sync(kind: str) -> Callable[[], None]:
    if kind == "sleep":
        return lambda: time.sleep(HOG_S)
    if kind == "cpu":
        return lambda: _spin(HOG_S)
    raise ValueError(kind)


def gosched_gap(kind: str) -> float:
    """Largest ticker gap (seconds) while a goroutine hogs the only P in ``kind`` way."""

    async def hog() -> None:
        if kind == "syscall":
            await gosched.syscall(time.sleep, HOG_S)
        else:
            _hog_sync(kind)()

    return gosched_ticker(hog)[0]


def gosched_ticker(hog: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Run ``hog`` in main beside a 1 ms ticker goroutine (``maxprocs=1``).

    Returns the ticker's largest gap and how long ``hog`` took, in seconds.
    """

    async def main() -> tuple[float, float]:
        gaps: list[float] = []
        started = gosched.Chan[None](1)
        done = gosched.Chan[None](1)

        async def ticker() -> None:
            t = gosched.Ticker(TICK_S)
            last = time.perf_counter()
            await started.send(None)
            while True:
                sel, _, _ = await gosched.select(gosched.recv(t.c), gosched.recv(done))
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
                if sel == 1:
                    t.stop()
                    return

        gosched.go(ticker)
        await started.recv()
        await gosched.sleep(0.02)  # the ticker is in its steady state
        t0 = time.perf_counter()
        await hog()
        took = time.perf_counter() - t0
        await gosched.sleep(0.02)
        await done.send(None)
        await gosched.sleep(0.005)
        return (max(gaps[1:]) if len(gaps) > 1 else float("inf")), took

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gosched.BlockingWarning)
        return gosched.run(main, maxprocs=1)


def asyncio_gap(kind: str) -> float:
    """The same program on asyncio (``syscall`` uses ``asyncio.to_thread``)."""

    async def hog() -> None:
        if kind == "syscall":
            await asyncio.to_thread(time.sleep, HOG_S)
        else:
            _hog_sync(kind)()

    return asyncio.run(asyncio_ticker(hog))[0]


async def asyncio_ticker(hog: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """``gosched_ticker`` on the running asyncio loop: (largest gap, hog's time) in seconds."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    t0 = time.perf_counter()
    await hog()
    took = time.perf_counter() - t0
    await asyncio.sleep(0.02)
    stop.set()
    await task
    return max(gaps[1:]), took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    debug.set_blocking_report(False)
    results: dict[str, Any] = {"python": sys.version.split()[0], "switchinterval": sys.getswitchinterval()}
    for kind in ("sleep", "cpu", "syscall"):
        for name, fn in (("gosched", gosched_gap), ("asyncio", asyncio_gap)):
            gaps = [fn(kind) * 1e3 for _ in range(args.runs)]
            results[f"{name}/{kind}"] = {
                "max_gap_ms": [round(g, 2) for g in gaps],
                "median_ms": round(statistics.median(gaps), 2),
                "worst_ms": round(max(gaps), 2),
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"Python {results['python']}, switch interval {results['switchinterval'] * 1e3:.1f} ms, "
          f"maxprocs=1, {args.runs} runs; largest gap of a 1 ms ticker while another "
          f"goroutine/task hogs for {HOG_S * 1e3:.0f} ms")
    print(f"{'hog':<9} {'gosched median/worst (ms)':>27} {'asyncio median/worst (ms)':>27}")
    for kind in ("sleep", "cpu", "syscall"):
        g = results[f"gosched/{kind}"]
        a = results[f"asyncio/{kind}"]
        print(f"{kind:<9} {g['median_ms']:>14.2f} / {g['worst_ms']:<10.2f} "
              f"{a['median_ms']:>14.2f} / {a['worst_ms']:<10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
