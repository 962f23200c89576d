"""The cyclic GC's cost per goroutine: the figures behind docs/benchmarks.md ("GC").

For each pattern, n goroutines at GOMAXPROCS 1, with the collector on and off:
ns per goroutine, collections per generation and the time they took
(``gc.callbacks``), and how many objects they found in garbage cycles (zero:
goroutines, timers and context errors leave none, tests/test_gc_cycles.py)::

    python -m bench.gccost [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import gosched


async def _nothing() -> None:
    pass


async def _after() -> None:
    await gosched.after(0.0001).recv()


async def _sleep() -> None:
    await gosched.sleep(0.0001)


PATTERNS: dict[str, Callable[[], Awaitable[None]]] = {
    "spawn+join": _nothing,
    "after()": _after,
    "sleep()": _sleep,
}


async def _main(body: Callable[[], Awaitable[None]], n: int) -> None:
    wg = gosched.WaitGroup()

    async def one() -> None:
        await body()
        wg.done()

    for _ in range(n):
        wg.add(1)
        gosched.go(one)
    await wg.wait()


class _GCLog:
    """Collections per generation, their total time and what they collected."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.ns = [0, 0, 0]
        self.collected = 0
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
            return
        self.ns[info["generation"]] += time.perf_counter_ns() - self._t0
        self.count[info["generation"]] += 1
        self.collected += info["collected"]


def measure(body: Callable[[], Awaitable[None]], n: int, enabled: bool) -> tuple[float, _GCLog]:
    log = _GCLog()
    gc.collect()
    if not enabled:
        gc.disable()
    gc.callbacks.append(log)
    try:
        t0 = time.perf_counter_ns()
        gosched.run(_main, body, n, maxprocs=1)
        ns = (time.perf_counter_ns() - t0) / n
    finally:
        gc.callbacks.remove(log)
        gc.enable()
    return ns, log


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n = args.n
    print(
        f"| pattern (n={n:,}) | ns/goroutine, GC on | GC off | GC ns/goroutine: gen0 + gen1 + gen2 "
        "| collections gen0/1/2 | found in cycles |"
    )
    print("|---|---|---|---|---|---|")
    for name, body in PATTERNS.items():
        on = [measure(body, n, True) for _ in range(args.repeat)]
        off = [measure(body, n, False)[0] for _ in range(args.repeat)]
        ns_on = statistics.median(r[0] for r in on)
        log = on[len(on) // 2][1]
        gens = "/".join(str(c) for c in log.count)
        cost = " + ".join(f"{t / n:,.0f}" for t in log.ns)
        off_ns = statistics.median(off)
        print(f"| {name} | {ns_on:,.0f} | {off_ns:,.0f} | {cost} | {gens} | {log.collected} |")


if __name__ == "__main__":
    main()
