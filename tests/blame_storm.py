"""Issue 14 item 1: sysmon samples goroutines whose stacks churn while the collector switches threads.

Goroutines on several Ms run CPU loops of recursive calls of varying depth and frame size,
so sysmon takes their Ps and samples their stacks (blocking report on, threshold 0). A
finalizer that sleeps keeps cyclic garbage pending, and a collection threshold of 1 makes
nearly every allocation collect, so a collection (and a thread switch inside it) lands
inside sysmon's stack capture whenever the capture allocates. A capture that walks
``f_back`` from Python dies within seconds on CPython 3.11 ("'int' object has no attribute
'f_code'", or a segfault); exit status 0 and an ``ok`` line mean every sample was safe.

    python tests/blame_storm.py --seconds 3
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import warnings

import gosched
from gosched import debug


class _Finalized:
    """Cyclic garbage whose finalizer releases the GIL and leaves the next one behind."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(20e-6)
        _Finalized()


def _small(n: int) -> int:
    return _big(n - 1) + 1 if n else 0


def _big(n: int) -> int:
    a = b = c = d = e = f = g = h = i = j = k = m = n  # a larger frame than _small's
    if not n:
        return 0
    return (_small(n - 1) if n % 3 else _big(n - 1)) + a + b + c + d + e + f + g + h + i + j + k + m


async def _hog(seed: int, until: float, wg: gosched.WaitGroup) -> None:
    r = random.Random(seed)
    while time.monotonic() < until:
        end = time.monotonic() + 0.02
        while time.monotonic() < end:  # a CPU loop: sysmon takes the P and samples this stack
            _small(r.randrange(5, 40))
        await gosched.sleep(0)
    wg.done()


async def _main(seconds: float, hogs: int) -> None:
    until = time.monotonic() + seconds
    wg = gosched.WaitGroup()
    for i in range(hogs):
        wg.add(1)
        gosched.go(_hog, i, until, wg)
    await wg.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--hogs", type=int, default=4)
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore", gosched.BlockingWarning)
    debug.set_blocking_report(True, threshold=0)
    sys.setswitchinterval(1e-6)
    _Finalized()
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        gosched.run(_main, a.seconds, a.hogs, maxprocs=a.procs)
    finally:
        gc.set_threshold(*old)
    print("ok", sum(s.count for s in debug.blocking_profile()), "reports", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
