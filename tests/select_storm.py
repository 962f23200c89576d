"""The select storm: issue 14's crash and starvation program, as a script and a library.

``N`` goroutines loop over ``select`` on a shared work channel, their group's cancel channel
and a fresh ``after()`` timer; producers feed the work channel; a canceller closes random
groups' cancel channels; a heartbeat goroutine sleeps 1 ms at a time and records how late it
wakes. Every value sent is received exactly once (by a worker, or drained at the end).

What it reports (one JSON line): wall time, the longest wait from ``go()`` to a goroutine's
first line (``start_wait_max``), the heartbeat's worst lateness (``heartbeat_late_max``), and
the value accounting. Exit status 0 when every invariant holds.

    python tests/select_storm.py --procs 4 --switch 1e-6       # the crash program
    python tests/select_storm.py --procs 4                     # the starvation program
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, field

import gosched


@dataclass
class Storm:
    workers: int = 10_000
    rounds: int = 20
    groups: int = 100
    producers: int = 8
    values: int = 50_000
    received: list[int] = field(default_factory=list)
    start_waits: list[float] = field(default_factory=list)
    heartbeat_lates: list[float] = field(default_factory=list)


async def _worker(s: Storm, spawned: float, work: gosched.Chan[int], cancel: gosched.Chan[None],
                  wg: gosched.WaitGroup) -> None:
    s.start_waits.append(time.monotonic() - spawned)  # list.append: atomic
    got = []
    try:
        for _ in range(s.rounds):
            timeout = gosched.after(random.uniform(0.0002, 0.005))
            i, v, ok = await gosched.select(gosched.recv(work), gosched.recv(cancel), gosched.recv(timeout))
            if i == 0 and ok:
                got.append(v)
            elif i == 1 or (i == 0 and not ok):
                break
    finally:
        s.received.extend(got)  # list.extend: atomic, and each worker's values once
        wg.done()


async def _producer(work: gosched.Chan[int], lo: int, hi: int, wg: gosched.WaitGroup) -> None:
    for v in range(lo, hi):
        await work.send(v)
    wg.done()


async def _canceller(cancels: list[gosched.Chan[None]], stop: gosched.Chan[None]) -> None:
    order = list(range(len(cancels)))
    random.shuffle(order)
    for g in order[: len(order) // 2]:
        pause = gosched.after(random.uniform(0, 0.01))
        i, _, _ = await gosched.select(gosched.recv(stop), gosched.recv(pause))
        if i == 0:
            return
        cancels[g].close()


async def _heartbeat(s: Storm, stop: gosched.Chan[None]) -> None:
    while True:
        want = time.monotonic() + 0.001
        i, _, _ = await gosched.select(gosched.recv(stop), gosched.recv(gosched.after(0.001)))
        if i == 0:
            return
        s.heartbeat_lates.append(time.monotonic() - want)


async def storm(s: Storm) -> dict[str, object]:
    work = gosched.Chan[int](64)
    stop = gosched.Chan[None]()
    cancels = [gosched.Chan[None]() for _ in range(s.groups)]
    workers, producers = gosched.WaitGroup(), gosched.WaitGroup()
    gosched.go(_heartbeat, s, stop)
    gosched.go(_canceller, cancels, stop)
    per = s.values // s.producers
    for p in range(s.producers):
        producers.add(1)
        gosched.go(_producer, work, p * per, (p + 1) * per, producers)
    for w in range(s.workers):
        workers.add(1)
        gosched.go(_worker, s, time.monotonic(), work, cancels[w % s.groups], workers)
    await workers.wait()
    # Drain what the workers left, then let the producers finish.
    drained: list[int] = []
    producers_done = gosched.Chan[None]()

    async def waitproducers() -> None:
        await producers.wait()
        work.close()
        producers_done.close()

    gosched.go(waitproducers)
    async for v in work:
        drained.append(v)
    await producers_done.recv_ok()
    stop.close()
    seen = s.received + drained
    return {
        "sent": per * s.producers,
        "received": len(seen),
        "unique": len(set(seen)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--switch", type=float, default=None, help="sys.setswitchinterval (e.g. 1e-6)")
    ap.add_argument("--workers", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--values", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    if a.seed is not None:
        random.seed(a.seed)
    if a.switch is not None:
        sys.setswitchinterval(a.switch)
    s = Storm(workers=a.workers, rounds=a.rounds, values=a.values)
    t0 = time.monotonic()
    acct = gosched.run(storm, s, maxprocs=a.procs)
    out = {
        "procs": a.procs,
        "switch": a.switch,
        "workers": a.workers,
        "elapsed": round(time.monotonic() - t0, 3),
        "start_wait_max": round(max(s.start_waits, default=0.0), 3),
        "heartbeat_late_max": round(max(s.heartbeat_lates, default=0.0), 3),
        **acct,
    }
    print(json.dumps(out), flush=True)
    ok = acct["sent"] == acct["received"] == acct["unique"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
