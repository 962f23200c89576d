"""The select storm: issue 14's crash and starvation program, as a script and a library.

``N`` goroutines loop over ``select`` on a shared work channel, their group's cancel channel
and a fresh ``after()`` timer (``--rounds`` times, or until cancelled with ``--rounds 0``);
producers feed the work channel; a canceller closes random groups' cancel channels (half of
them, or all with ``--rounds 0``) at random times within ``--duration`` s; a heartbeat
goroutine sleeps 1 ms at a time, records how late it wakes and samples the global run queue.
Every value sent is received exactly once (by a worker, or drained at the end). With more
goroutines runnable than the Ps can run, every wait below is about (runnable goroutines) /
(switches per second): the program measures how far the scheduler is from that round robin.

What it reports (one JSON line): wall time; the longest runnable waits it can see from user
code -- from ``go()`` to a goroutine's first line (``start_wait_max``), from a worker's timer
expiry to its select returning (``wake_late_max``), the heartbeat's worst lateness
(``heartbeat_late_max``); the longest global run queue seen (``globrunq_max``); rounds run;
and the value accounting. Exit status 0 when every invariant holds.

    python tests/select_storm.py --procs 4 --switch 1e-6       # the crash program
    python tests/select_storm.py --procs 4                     # the starvation program
    python tests/select_storm.py --matrix                      # CI: procs 1, 2, 4 x C / pure Python

``--matrix`` runs the program in subprocesses at GOMAXPROCS 1, 2 and 4, with the accelerator
and with ``GOSCHED_PURE_PYTHON=1`` (plus each at ``--switch 1e-6`` with ``--crash``), prints
each run's JSON line and a summary line, and fails (exit 1) on a crash, a lost or duplicated
value, GOMAXPROCS 4 slower than ``--max-ratio`` x GOMAXPROCS 1, or a runnable wait longer
than ``--max-wait`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import gosched
from gosched._runtime import proc as _proc  # the global run queue's length, for the report


@dataclass
class Storm:
    workers: int = 10_000
    rounds: int = 20
    groups: int = 100
    producers: int = 8
    values: int = 50_000
    duration: float = 0.5
    received: list[int] = field(default_factory=list)
    start_waits: list[float] = field(default_factory=list)
    wake_lates: list[float] = field(default_factory=list)
    heartbeat_lates: list[float] = field(default_factory=list)
    globrunq: list[int] = field(default_factory=list)
    nrounds: list[int] = field(default_factory=list)


async def _worker(s: Storm, spawned: float, work: gosched.Chan[int], cancel: gosched.Chan[None],
                  wg: gosched.WaitGroup) -> None:
    s.start_waits.append(time.monotonic() - spawned)  # list.append: atomic
    got = []
    n = 0
    late = 0.0
    try:
        while s.rounds == 0 or n < s.rounds:
            n += 1
            d = random.uniform(0.0002, 0.005)
            due = time.monotonic() + d
            timeout = gosched.after(d)
            i, v, ok = await gosched.select(gosched.recv(work), gosched.recv(cancel), gosched.recv(timeout))
            if i == 0 and ok:
                got.append(v)
            elif i == 2:
                late = max(late, time.monotonic() - due)
            else:
                break
    finally:
        s.received.extend(got)  # list.extend: atomic, and each worker's values once
        s.wake_lates.append(late)
        s.nrounds.append(n)
        wg.done()


async def _producer(work: gosched.Chan[int], lo: int, hi: int, wg: gosched.WaitGroup) -> None:
    for v in range(lo, hi):
        await work.send(v)
    wg.done()


async def _canceller(cancels: list[gosched.Chan[None]], stop: gosched.Chan[None], every: bool,
                     duration: float, wg: gosched.WaitGroup) -> None:
    try:
        await _cancel(cancels, stop, every, duration)
    finally:
        wg.done()


async def _cancel(cancels: list[gosched.Chan[None]], stop: gosched.Chan[None], every: bool,
                  duration: float) -> None:
    # Each chosen group gets a random deadline within ``duration``; every wake closes all
    # that are due, so a late wake delays cancellation by that wait only, not by one wait
    # per group (a fair scheduler makes every wait about one round over the runnable).
    order = list(range(len(cancels)))
    random.shuffle(order)
    chosen = order if every else order[: len(order) // 2]
    t0 = time.monotonic()
    due = sorted((t0 + random.uniform(0, duration), g) for g in chosen)
    while due:
        pause = gosched.after(random.uniform(0, 0.01))
        i, _, _ = await gosched.select(gosched.recv(stop), gosched.recv(pause))
        if i == 0:
            return
        now = time.monotonic()
        while due and due[0][0] <= now:
            cancels[due.pop(0)[1]].close()


async def _heartbeat(s: Storm, stop: gosched.Chan[None], wg: gosched.WaitGroup) -> None:
    sched = _proc.current
    while True:
        want = time.monotonic() + 0.001
        i, _, _ = await gosched.select(gosched.recv(stop), gosched.recv(gosched.after(0.001)))
        if i == 0:
            wg.done()
            return
        s.heartbeat_lates.append(time.monotonic() - want)
        if sched is not None:
            s.globrunq.append(len(sched.runq))


async def storm(s: Storm) -> dict[str, object]:
    work = gosched.Chan[int](64)
    stop = gosched.Chan[None]()
    cancels = [gosched.Chan[None]() for _ in range(s.groups)]
    workers, producers, helpers = gosched.WaitGroup(), gosched.WaitGroup(), gosched.WaitGroup()
    helpers.add(2)
    gosched.go(_heartbeat, s, stop, helpers)
    gosched.go(_canceller, cancels, stop, s.rounds == 0, s.duration, helpers)
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
    await helpers.wait()  # nothing of the storm runs after main returns
    seen = s.received + drained
    return {
        "sent": per * s.producers,
        "received": len(seen),
        "unique": len(set(seen)),
    }


# --- the CI matrix ---------------------------------------------------------------------------

WAITS = ("start_wait_max", "wake_late_max", "heartbeat_late_max")


def run_one(argv: list[str], pure: bool, timeout: float) -> dict[str, Any]:
    """Run the program in a subprocess; its JSON line plus rc, pure and stderr's tail."""
    env = dict(os.environ)
    env.pop("GOSCHED_PURE_PYTHON", None)
    if pure:
        env["GOSCHED_PURE_PYTHON"] = "1"
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"argv": argv, "pure": pure, "rc": "timeout", "stderr": f"no result in {timeout} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    out: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    out.update(argv=argv, pure=pure, rc=r.returncode)
    if r.returncode != 0:
        out["stderr"] = r.stderr[-3000:]
    return out


def matrix(size: list[str], procs: tuple[int, ...] = (1, 2, 4), crash: bool = True,
           timeout: float = 600) -> list[dict[str, Any]]:
    """The starvation program at each GOMAXPROCS, and the crash program (``--switch 1e-6``)."""
    runs = []
    for pure in (False, True):
        for p in procs:
            runs.append(run_one([*size, "--procs", str(p)], pure, timeout))
            if crash and p > 1:
                runs.append(run_one([*size, "--procs", str(p), "--switch", "1e-6"], pure, timeout))
    return runs


def verdict(runs: list[dict[str, Any]], max_ratio: float, max_wait: float) -> list[str]:
    """What is wrong with a matrix's runs (empty: nothing)."""
    bad = []
    for r in runs:
        if r["rc"] != 0:
            bad.append(f"{r['argv']} pure={r['pure']}: exit {r['rc']}: {r.get('stderr', '')}")
            continue
        for k in WAITS:
            if r[k] > max_wait:
                bad.append(f"{r['argv']} pure={r['pure']}: {k} {r[k]} s > {max_wait} s")
    # "GOMAXPROCS 4 no slower than max_ratio x GOMAXPROCS 1", as time per select round: with
    # --rounds 0 every run lasts about --duration, so the rounds done are what differs.
    for pure in (False, True):
        per = {r["procs"]: r["elapsed"] / max(r["rounds"], 1) for r in runs
               if r["pure"] == pure and r["rc"] == 0 and r.get("switch") is None}
        if 1 in per and 4 in per and per[4] > max_ratio * per[1]:
            bad.append(f"pure={pure}: GOMAXPROCS 4 took {per[4] * 1e6:.1f} us per round, more than "
                       f"{max_ratio} x {per[1] * 1e6:.1f} us")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--switch", type=float, default=None, help="sys.setswitchinterval (e.g. 1e-6)")
    ap.add_argument("--workers", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=20, help="select rounds per worker; 0: until cancelled")
    ap.add_argument("--values", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--duration", type=float, default=0.5, help="cancel the groups within this many seconds")
    ap.add_argument("--matrix", action="store_true", help="run the CI matrix in subprocesses")
    ap.add_argument("--max-ratio", type=float, default=3.0, help="--matrix: GOMAXPROCS 4 / 1 elapsed bound")
    ap.add_argument("--max-wait", type=float, default=10.0, help="--matrix: runnable wait bound (s)")
    ap.add_argument("--no-crash", action="store_true", help="--matrix: skip the --switch 1e-6 runs")
    a = ap.parse_args(argv)
    if a.matrix:
        size = ["--workers", str(a.workers), "--rounds", str(a.rounds), "--values", str(a.values),
                "--duration", str(a.duration)]
        if a.seed is not None:
            size += ["--seed", str(a.seed)]
        runs = matrix(size, crash=not a.no_crash)
        for r in runs:
            print(json.dumps(r), flush=True)
        bad = verdict(runs, a.max_ratio, a.max_wait)
        worst = {k: max((r.get(k, 0.0) for r in runs), default=0.0) for k in (*WAITS, "globrunq_max")}
        print(json.dumps({"matrix": len(runs), "failures": bad, **worst}), flush=True)
        return 1 if bad else 0
    if a.seed is not None:
        random.seed(a.seed)
    if a.switch is not None:
        sys.setswitchinterval(a.switch)
    s = Storm(workers=a.workers, rounds=a.rounds, values=a.values, duration=a.duration)
    t0 = time.monotonic()
    acct = gosched.run(storm, s, maxprocs=a.procs)
    out = {
        "procs": a.procs,
        "switch": a.switch,
        "workers": a.workers,
        "elapsed": round(time.monotonic() - t0, 3),
        "start_wait_max": round(max(s.start_waits, default=0.0), 3),
        "wake_late_max": round(max(s.wake_lates, default=0.0), 3),
        "heartbeat_late_max": round(max(s.heartbeat_lates, default=0.0), 3),
        "globrunq_max": max(s.globrunq, default=0),
        "rounds": sum(s.nrounds),
        **acct,
    }
    print(json.dumps(out), flush=True)
    ok = acct["sent"] == acct["received"] == acct["unique"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
