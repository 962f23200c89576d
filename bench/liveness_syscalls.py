"""The cost of many short ``gosched.syscall`` calls: ns per call, alone and beside a ticker.

entersyscall checks whether its P has work waiting (goroutines, a timer) and,
if sysmon naps past when the P needs it, wakes sysmon (issue 17). This measures
what that costs a syscall-heavy loop of short calls (``os.getpid``): alone (the
check finds nothing) and beside a 1 ms ticker (the P always has a timer).

Run: ``python -m bench.liveness_syscalls [--calls N] [--rounds R]``; compare two
trees by running it with each on ``PYTHONPATH``, interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gosched


def ns_per_call(calls: int, ticker: bool) -> float:
    async def main() -> float:
        stop = gosched.Chan[None](1)

        async def tick() -> None:
            t = gosched.Ticker(0.001)
            while (await gosched.select(gosched.recv(t.c), gosched.recv(stop)))[0] == 0:
                pass
            t.stop()

        if ticker:
            gosched.go(tick)
            await gosched.sleep(0.01)
        getpid = os.getpid
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            await gosched.syscall(getpid)
        dt = time.perf_counter_ns() - t0
        await stop.send(None)
        return dt / calls

    return gosched.run(main, maxprocs=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    for ticker in (False, True):
        xs = [ns_per_call(args.calls, ticker) for _ in range(args.rounds)]
        label = "beside a 1 ms ticker" if ticker else "alone"
        med = statistics.median(xs)
        print(f"{label:<22} median {med:7.0f} ns/call, min {min(xs):7.0f}", gosched.__file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
