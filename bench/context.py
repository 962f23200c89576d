"""What gosched.context costs: ns per operation (best of ``--repeat``). Usage::

    python bench/context.py [--n 50000] [--repeat 3]

* with_cancel + cancel: a child registered with its parent, then cancelled and removed.
* with_timeout + cancel: the same plus an after_func timer armed and stopped.
* cancel fan-out: one cancel reaching 1000 children, per child.
* err() on a live context; value() found 10 levels up.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gosched
from gosched import context


def measure(n: int) -> dict[str, float]:
    out: dict[str, float] = {}

    def timed(name: str, count: int, body: Callable[[], None]) -> None:
        t = time.perf_counter()
        body()
        out[name] = (time.perf_counter() - t) / count * 1e9

    async def main() -> None:
        root, stop = context.with_cancel(context.background())
        root.done()

        def cancels() -> None:
            for _ in range(n):
                _, cancel = context.with_cancel(root)
                cancel()

        def timeouts() -> None:
            for _ in range(n):
                _, cancel = context.with_timeout(root, 60)
                cancel()

        def fanout() -> None:
            for _ in range(n // 1000):
                parent, cancel = context.with_cancel(root)
                for _ in range(1000):
                    context.with_cancel(parent)
                cancel()

        def errs() -> None:
            for _ in range(n):
                root.err()

        deep = context.with_value(root, "k", 1)
        for i in range(9):
            deep = context.with_value(deep, i, i)

        def values() -> None:
            for _ in range(n):
                deep.value("k")

        timed("with_cancel + cancel", n, cancels)
        timed("with_timeout + cancel", n, timeouts)
        timed("cancel fan-out, per child (incl. creation)", n // 1000 * 1000, fanout)
        timed("err() on a live context", n, errs)
        timed("value() 10 levels up", n, values)
        stop()

    gosched.run(main)
    return out


def run() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    best: dict[str, float] = {}
    for _ in range(a.repeat):
        for k, v in measure(a.n).items():
            best[k] = min(best.get(k, v), v)
    for k, v in best.items():
        print(f"{k:45s} {v:8.0f} ns")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore", gosched.BlockingWarning)  # the loops never yield, on purpose
    run()
