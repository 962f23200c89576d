"""Instructions per operation under valgrind's callgrind: a noise-free yardstick.

Wall-clock figures on a shared VM move by 20-30 % between identical runs; the
number of instructions executed does not. Each workload runs at two sizes and
the difference is divided by the difference in operations, so start-up,
imports and thread creation cancel out. For gosched every thread is counted
(the Ms, sysmon); so is asyncio's one thread. Usage::

    python -m bench.instructions [--workloads pingpong,spawn] [--n 2000,8000]

``aio-gather`` and ``aio-queue`` are issue 12's create_task + gather and
``asyncio.Queue(1)`` ping-pong from the main task on gosched's asyncio loop (the
gosched column) against asyncio's own loop. ``aio-streams`` and ``aio-protocol``
are its echo servers (``bench/echo/servers.py``) under callgrind while the C load
generator drives 50 connections for 15 s: the instructions the server ran in that
window (counters zeroed and dumped with ``callgrind_control``, after a few
connections that come and go) divided by the round trips.

valgrind runs Python ~50 times slower, but sysmon's slices and ticks are wall-clock: a slice
of 10 ms under callgrind is 0.2 ms of native work, so goroutines that natively run a whole
slice would be asked to yield ~50 times as often, and sysmon would tick ~50 times as often
per operation. A busy echo server was retaken under callgrind where it never is natively
(~5 % of its count). So gosched's programs run with sysmon's time constants multiplied by
the slowdown, measured first (``slowdown``: a pure-Python loop timed natively and under
callgrind), as if the clock ran that much slower.

Needs ``valgrind`` (``apt-get install valgrind``); prints a notice without it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# create_task + gather: asyncio's spawn, and the aio-gather workload on either loop.
_GATHER = """
import sys, asyncio{imp}
N = int(sys.argv[1])
async def nothing():
    pass
async def main():
    await asyncio.gather(*[asyncio.create_task(nothing()) for _ in range(N)])
{run}(main())
"""

# asyncio.Queue(1) ping-pong from the main task: the aio-queue workload on either loop.
_QUEUE = """
import sys, asyncio{imp}
N = int(sys.argv[1])
async def ponger(a, b):
    while True:
        await b.put(await a.get())
async def main():
    a, b = asyncio.Queue(1), asyncio.Queue(1)
    t = asyncio.create_task(ponger(a, b))
    for i in range(N):
        await a.put(i)
        await b.get()
    t.cancel()
{run}(main())
"""

# One program per (workload, runtime): N from argv[1]; gosched at maxprocs=1.
PROGRAMS = {
    ("pingpong", "gosched"): """
import sys, gosched
N = int(sys.argv[1])
async def main():
    a, b = gosched.Chan[int](), gosched.Chan[int]()
    async def echo():
        async for v in a:
            await b.send(v)
    gosched.go(echo)
    for i in range(N):
        await a.send(i)
        await b.recv()
    a.close()
gosched.run(main, maxprocs=1)
""",
    ("pingpong", "asyncio"): """
import sys, asyncio
N = int(sys.argv[1])
async def main():
    a, b = asyncio.Queue(1), asyncio.Queue(1)
    async def echo():
        while True:
            await b.put(await a.get())
    t = asyncio.create_task(echo())
    for i in range(N):
        await a.put(i)
        await b.get()
    t.cancel()
asyncio.run(main())
""",
    ("fanin", "gosched"): """
import sys, gosched
N = int(sys.argv[1])
async def producer(ch, n, wg):
    for i in range(n):
        await ch.send(i)
    wg.done()
async def main():
    ch, wg = gosched.Chan[int](128), gosched.WaitGroup()
    for _ in range(8):
        wg.add(1)
        gosched.go(producer, ch, N // 8, wg)
    async def closer():
        await wg.wait()
        ch.close()
    gosched.go(closer)
    async for _ in ch:
        pass
gosched.run(main, maxprocs=1)
""",
    ("fanin", "asyncio"): """
import sys, asyncio
N = int(sys.argv[1])
async def producer(q, n):
    for i in range(n):
        await q.put(i)
async def main():
    q = asyncio.Queue(128)
    ps = [asyncio.create_task(producer(q, N // 8)) for _ in range(8)]
    for _ in range(N // 8 * 8):
        await q.get()
    await asyncio.gather(*ps)
asyncio.run(main())
""",
    ("spawn", "gosched"): """
import sys, gosched
N = int(sys.argv[1])
async def task(wg):
    wg.done()
async def main():
    wg = gosched.WaitGroup()
    for _ in range(N):
        wg.add(1)
        gosched.go(task, wg)
    await wg.wait()
gosched.run(main, maxprocs=1)
""",
    ("aio-gather", "gosched"): _GATHER.format(imp=", gosched.aio", run="gosched.aio.run"),
    ("aio-gather", "asyncio"): _GATHER.format(imp="", run="asyncio.run"),
    ("aio-queue", "gosched"): _QUEUE.format(imp=", gosched.aio", run="gosched.aio.run"),
    ("aio-queue", "asyncio"): _QUEUE.format(imp="", run="asyncio.run"),
    ("spawn", "asyncio"): _GATHER.format(imp="", run="asyncio.run"),
}


# sysmon's wall-clock constants (gosched._runtime.sysmon), scaled by the slowdown under callgrind.
_SYSMON_TIMES = ("forcePreemptNS", "preemptGraceNS", "preemptProbeNS", "syscallRetakeNS", "netpollStaleNS",
                 "mindelayUS", "maxdelayUS")
_SLOWCLOCK = """import gosched._runtime.sysmon as _sysmon
for _name in {names!r}:
    setattr(_sysmon, _name, int(getattr(_sysmon, _name) * {k!r}))
"""

# A pure-Python loop that prints its own duration: natively and under callgrind.
_CALIBRATE = """
import time
t = time.perf_counter()
x = 0
for i in range(3_000_000):
    x += i
print(time.perf_counter() - t)
"""


def slowdown(python: str, tmp: Path) -> float:
    """How many times slower Python runs under callgrind than natively, on this machine."""
    src = tmp / "calibrate.py"
    src.write_text(_CALIBRATE)
    native = min(float(subprocess.run([python, str(src)], check=True, capture_output=True, text=True,
                                      timeout=120).stdout) for _ in range(3))
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp / 'calibrate.out'}", python, str(src)]
    slow = float(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout)
    return max(slow / native, 1.0)


def slowclock(k: float) -> str:
    """Python that scales sysmon's time constants by ``k``, to run before a gosched program."""
    return _SLOWCLOCK.format(names=_SYSMON_TIMES, k=k)


def instructions(python: str, program: str, n: int, tmp: Path, env: dict[str, str] | None = None) -> int:
    src = tmp / "prog.py"
    src.write_text(program)
    out = tmp / "cg.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    cmd += [python, "-W", "ignore", str(src), str(n)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=1800, env=env)
    m = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
    if m is None:
        raise RuntimeError("callgrind wrote no summary")
    return int(m.group(1))


_ECHO = {"aio-streams": "streams", "aio-protocol": "protocol"}
_LOOPS = {"gosched": "gosched.aio:new_event_loop", "asyncio": "asyncio:new_event_loop"}


def server_instructions(
    python: str, kind: str, loop: str, tmp: Path, seconds: float = 15.0, prelude: str = ""
) -> float:
    """Instructions per round trip of an echo server (``bench/echo/servers.py KIND:LOOP``), run
    after ``prelude``."""
    from .echo import run as echo

    loadgen = echo.build()
    out = tmp / "srv.out"
    script = str(Path(echo.HERE) / "servers.py")
    boot = f"{prelude}import runpy, sys\nsys.argv = [{script!r}, {kind + ':' + loop!r}]\n" \
        f"runpy.run_path({script!r}, run_name='__main__')\n"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, "-W", "ignore", "-c", boot]
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"{kind}:{loop} server did not start: {line}")
        port = line[1]
        subprocess.run([loadgen, "127.0.0.1", port, "4", "0.3", "64", "0"], check=True, capture_output=True,
                       timeout=120)
        subprocess.run(["callgrind_control", "-z", str(srv.pid)], check=True, capture_output=True, timeout=60)
        r = subprocess.run([loadgen, "127.0.0.1", port, "50", str(seconds), "64", "0"], check=True,
                           capture_output=True, text=True, timeout=seconds + 120)
        subprocess.run(["callgrind_control", "-d", str(srv.pid)], check=True, capture_output=True, timeout=60)
        dumps = sorted(tmp.glob("srv.out.*"), key=lambda f: f.stat().st_mtime)
        if not dumps:
            raise RuntimeError("callgrind_control wrote no dump")
        m = re.search(r"^summary:\s+(\d+)", dumps[-1].read_text(), re.M)
        rt = re.search(r"roundtrips=(\d+)", r.stdout)
        if m is None or rt is None or not int(rt.group(1)):
            raise RuntimeError("no instruction summary or round trips")
        return int(m.group(1)) / int(rt.group(1))
    finally:
        srv.kill()
        srv.wait()
        for f in tmp.glob("srv.out*"):
            f.unlink()


def measure(
    python: str, workloads: list[str], lo: int = 2000, hi: int = 8000, env: dict[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """{workload: {runtime: instructions per op}}; empty without valgrind."""
    if shutil.which("valgrind") is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prelude = slowclock(slowdown(python, tmp))
        for w in workloads:
            out[w] = {}
            for rt in ("gosched", "asyncio"):
                pre = prelude if rt == "gosched" else ""
                if w in _ECHO:
                    out[w][rt] = server_instructions(python, _ECHO[w], _LOOPS[rt], tmp, prelude=pre)
                    continue
                a = instructions(python, pre + PROGRAMS[(w, rt)], lo, tmp, env)
                b = instructions(python, pre + PROGRAMS[(w, rt)], hi, tmp, env)
                out[w][rt] = (b - a) / (hi - lo)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="pingpong,spawn")
    ap.add_argument("--n", default="2000,8000", help="the two sizes (operations)")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: skipped (apt-get install valgrind)")
        return 0
    lo, hi = (int(x) for x in args.n.split(","))
    res = measure(args.python, args.workloads.split(","), lo, hi)
    print("| workload | gosched instr/op | asyncio instr/op | asyncio ÷ gosched |")
    print("|---|---:|---:|---:|")
    for w, per in res.items():
        g, a = per["gosched"], per["asyncio"]
        print(f"| {w} | {g:,.0f} | {a:,.0f} | {a / g:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
