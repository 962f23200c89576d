"""The machine's floor for the ticker-gap rows: a plain thread's 1 ms ticks, no runtime at all.

The liveness rows report the largest gap of a 1 ms ticker over 0.5 s. Part of any such gap
is not the runtime's: the kernel (and, on a VM, the hypervisor) wakes a sleeping thread late
now and then. This measures that part alone: one thread sleeps to 1 ms deadlines (absolute,
as a ticker does) for 0.5 s beside a second thread blocked in ``time.sleep(0.5)`` (the
``gosched.syscall`` row's hog, minus the runtime), and reports the largest gap, over many
runs. A runtime's row cannot be expected below this distribution on the same machine.

Run: ``python -m bench.timerfloor [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

TICK_S = 0.001
SPAN_S = 0.5


def largest_gap() -> float:
    """One run: the largest gap (seconds) between a plain thread's 1 ms ticks over 0.5 s."""
    hog = threading.Thread(target=time.sleep, args=(SPAN_S,))
    hog.start()
    last = time.perf_counter()
    deadline, end, worst = last, last + SPAN_S, 0.0
    while last < end:
        deadline += TICK_S
        wait = deadline - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
    hog.join()
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args(argv)
    gaps = sorted(largest_gap() * 1e3 for _ in range(args.runs))
    q = statistics.quantiles(gaps, n=4) if len(gaps) > 1 else gaps * 3
    print(f"largest gap of a plain thread's 1 ms ticks over {SPAN_S * 1e3:.0f} ms, {args.runs} runs: "
          f"median {statistics.median(gaps):.2f} ms, quartiles {q[0]:.2f}/{q[2]:.2f}, "
          f"worst {gaps[-1]:.2f} ms")
    print("  " + " ".join(f"{g:.2f}" for g in gaps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
