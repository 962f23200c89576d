"""gosched hot paths in ns/op, with asyncio's nearest equivalent, and cProfile tables.

``python -m bench.hotpaths [--quick] [--profile]``. Ops (each timed in a loop,
median of 5 batches, in one ``gosched.run(maxprocs=1)``):

* ``chan send+recv (buffered)``: one non-blocking send and one receive, same goroutine;
* ``unbuffered handoff``: half an unbuffered ping-pong round trip (park + ready + switch);
* ``switch (gosched)``: one ``gosched()`` yield between two goroutines;
* ``spawn (go only)`` and ``spawn + run to exit``;
* ``timer add+stop``: ``Timer(1.0)`` then ``stop()``; ``sleep 0``: the no-timer path;
* ``timer fire (sleep 50 µs)``: a short ``sleep`` wake-up, end to end;
* ``netpoll wakeup``: half a round trip between two goroutines over a socketpair
  (``wait_readable`` + ``recv`` + ``send``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import socket
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import gosched

BATCHES = 5


async def _timeit_async(n: int, body: Callable[[int], Awaitable[None]], per: float = 1.0) -> float:
    """Median ns/op over ``BATCHES`` batches of ``body(n)``; ``per`` ops per iteration."""
    await body(min(n, 1000))
    out = []
    for _ in range(BATCHES):
        t0 = time.perf_counter_ns()
        await body(n)
        out.append((time.perf_counter_ns() - t0) / (n * per))
    return statistics.median(out)


# ---------------------------------------------------------------- gosched -------
async def _g_chan(n: int) -> None:
    ch = gosched.Chan[int](1024)
    send, recv = ch.send, ch.recv
    for i in range(n):
        await send(i)
        await recv()


async def _g_handoff(n: int) -> None:
    ping, pong = gosched.Chan[int](), gosched.Chan[int]()

    async def ponger() -> None:
        async for v in ping:
            await pong.send(v)

    gosched.go(ponger)
    for i in range(n):
        await ping.send(i)
        await pong.recv()
    ping.close()


async def _g_switch(n: int) -> None:
    wg = gosched.WaitGroup()

    async def yielder() -> None:
        for _ in range(n):
            await gosched.gosched()
        wg.done()

    wg.add(2)
    gosched.go(yielder)
    gosched.go(yielder)
    await wg.wait()


async def _nothing() -> None:
    pass


async def _g_spawn_run(n: int) -> None:
    wg = gosched.WaitGroup()

    async def task() -> None:
        wg.done()

    go = gosched.go
    wg.add(n)
    for _ in range(n):
        go(task)
    await wg.wait()


async def _g_timer(n: int) -> None:
    timer = gosched.Timer
    for _ in range(n):
        timer(1.0).stop()


async def _g_sleep0(n: int) -> None:
    sleep = gosched.sleep
    for _ in range(n):
        await sleep(0)


async def _g_sleep_short(n: int) -> None:
    sleep = gosched.sleep
    for _ in range(n):
        await sleep(50e-6)


async def _g_netpoll(n: int) -> None:
    from gosched import net

    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def echo() -> None:
        for _ in range(n):
            await net.wait_readable(b)
            b.send(b.recv(1))

    gosched.go(echo)
    for _ in range(n):
        a.send(b"x")
        await net.wait_readable(a)
        a.recv(1)
    a.close()
    b.close()


def _gosched_all(quick: bool) -> dict[str, float]:
    k = 10 if quick else 1
    warnings.simplefilter("ignore", gosched.BlockingWarning)

    async def main() -> dict[str, float]:
        r: dict[str, float] = {}
        r["chan send+recv (buffered)"] = await _timeit_async(50_000 // k, _g_chan)
        r["unbuffered handoff"] = await _timeit_async(20_000 // k, _g_handoff, per=2)
        r["switch (gosched)"] = await _timeit_async(20_000 // k, _g_switch, per=2)
        r["spawn + run to exit"] = await _timeit_async(20_000 // k, _g_spawn_run)
        r["timer add+stop"] = await _timeit_async(20_000 // k, _g_timer)
        r["sleep 0"] = await _timeit_async(50_000 // k, _g_sleep0)
        r["timer fire (sleep 50 µs)"] = await _timeit_async(2_000 // k, _g_sleep_short)
        r["netpoll wakeup"] = await _timeit_async(5_000 // k, _g_netpoll, per=2)
        return r

    return gosched.run(main, maxprocs=1)


# ---------------------------------------------------------------- asyncio -------
def _asyncio_all(quick: bool) -> dict[str, float]:
    k = 10 if quick else 1

    async def chan(n: int) -> None:
        q: asyncio.Queue[int] = asyncio.Queue(1024)
        for i in range(n):
            await q.put(i)
            await q.get()

    async def handoff(n: int) -> None:
        ping: asyncio.Queue[int] = asyncio.Queue(1)
        pong: asyncio.Queue[int] = asyncio.Queue(1)

        async def ponger() -> None:
            for _ in range(n):
                await pong.put(await ping.get())

        t = asyncio.create_task(ponger())
        for i in range(n):
            await ping.put(i)
            await pong.get()
        await t

    async def switch(n: int) -> None:
        async def yielder() -> None:
            for _ in range(n):
                await asyncio.sleep(0)

        await asyncio.gather(yielder(), yielder())

    async def spawn_run(n: int) -> None:
        await asyncio.gather(*[asyncio.create_task(_nothing()) for _ in range(n)])

    async def timer(n: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(n):
            loop.call_later(1.0, _noop).cancel()

    async def sleep0(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    async def sleep_short(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(50e-6)

    async def netpoll(n: int) -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)

        async def echo() -> None:
            for _ in range(n):
                await loop.sock_sendall(b, await loop.sock_recv(b, 1))

        t = asyncio.create_task(echo())
        for _ in range(n):
            await loop.sock_sendall(a, b"x")
            await loop.sock_recv(a, 1)
        await t
        a.close()
        b.close()

    async def main() -> dict[str, float]:
        r: dict[str, float] = {}
        r["chan send+recv (buffered)"] = await _timeit_async(50_000 // k, chan)
        r["unbuffered handoff"] = await _timeit_async(20_000 // k, handoff, per=2)
        r["switch (gosched)"] = await _timeit_async(20_000 // k, switch, per=2)
        r["spawn + run to exit"] = await _timeit_async(20_000 // k, spawn_run)
        r["timer add+stop"] = await _timeit_async(20_000 // k, timer)
        r["sleep 0"] = await _timeit_async(50_000 // k, sleep0)
        r["timer fire (sleep 50 µs)"] = await _timeit_async(2_000 // k, sleep_short)
        r["netpoll wakeup"] = await _timeit_async(5_000 // k, netpoll, per=2)
        return r

    return asyncio.run(main())


def _noop() -> None:
    pass


ASYNCIO_EQUIV = {
    "chan send+recv (buffered)": "Queue(1024) put+get",
    "unbuffered handoff": "Queue(1) ping-pong / 2",
    "switch (gosched)": "sleep(0) between 2 tasks",
    "spawn + run to exit": "create_task + gather",
    "timer add+stop": "call_later + cancel",
    "sleep 0": "sleep(0)",
    "timer fire (sleep 50 µs)": "sleep(50e-6)",
    "netpoll wakeup": "sock_recv/sock_sendall / 2",
}


# ---------------------------------------------------------------- profiles ------
def profile_gosched(what: str, n: int, top: int = 14) -> list[dict[str, Any]]:
    """cProfile of every M thread while gosched runs ``what`` ("pingpong" or "spawn").

    ``threading.setprofile`` hands each new ``gosched-M*`` thread its own profiler
    from its first event on, so the scheduler loop (``schedule``) is measured too.
    Per-op figures divide by ``n``; cProfile's own overhead inflates them (about 2x
    here), so read them as shares, and the unprofiled ns/op above as the cost.
    """
    profs: list[cProfile.Profile] = []

    def hook(*_: Any) -> None:
        sys.setprofile(None)
        if threading.current_thread().name.startswith("gosched-M"):
            prof = cProfile.Profile()
            profs.append(prof)
            prof.enable()

    body = _g_handoff if what == "pingpong" else _g_spawn_run

    async def main() -> None:
        await body(n)

    threading.setprofile(hook)
    try:
        gosched.run(main, maxprocs=1)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    if not profs:
        return []
    st = pstats.Stats(profs[0], stream=io.StringIO())
    for extra in profs[1:]:
        st.add(extra)
    rows = []
    stats: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.items():
        short = file.split("/src/")[-1] if "/src/" in file else file.rsplit("/", 1)[-1]
        rows.append({
            "function": f"{short}:{line}({func})",
            "calls_per_op": nc / n,
            "tottime_ns_per_op": tt * 1e9 / n,
            "cumtime_ns_per_op": ct * 1e9 / n,
            "share_pct": 100 * tt / total if total else 0.0,
        })
    rows.sort(key=lambda r: -r["tottime_ns_per_op"])
    return rows[:top]


def measure(quick: bool, profile: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"gosched": _gosched_all(quick), "asyncio": _asyncio_all(quick),
                           "asyncio_equiv": ASYNCIO_EQUIV}
    if profile:
        n = 2_000 if quick else 20_000
        out["profile"] = {"pingpong": profile_gosched("pingpong", n), "spawn": profile_gosched("spawn", n),
                          "n": n}
    return out


def measure_in_subprocess(python: str, env: dict[str, str], quick: bool) -> dict[str, Any] | None:
    cmd = [python, "-m", "bench.hotpaths", "--json"] + (["--quick"] if quick else [])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        print("   hot paths: timeout", flush=True)
        return None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            res: dict[str, Any] = json.loads(line[7:])
            return res
    print(f"   hot paths failed: {r.stderr.strip()[-400:]}", flush=True)
    return None


def print_table(res: dict[str, Any] | None) -> None:
    if not res:
        return
    g, a = res["gosched"], res["asyncio"]
    print(f"   {'op':<28}{'gosched ns/op':>14}{'asyncio ns/op':>15}  asyncio op", flush=True)
    for k, v in g.items():
        print(f"   {k:<28}{v:>14,.0f}{a.get(k, float('nan')):>15,.0f}  {res['asyncio_equiv'].get(k, '')}")
    for what, rows in res.get("profile", {}).items():
        if what == "n":
            continue
        print(f"   cProfile, gosched {what} (own time ns/op under the profiler, share, calls/op):")
        for r in rows[:10]:
            print(f"     {r['tottime_ns_per_op']:>8,.0f} {r['share_pct']:>5.1f}%  {r['calls_per_op']:>5.2f}  "
                  f"{r['function']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one RESULT {json} line")
    args = ap.parse_args(argv)
    res = measure(args.quick, not args.no_profile)
    if args.json:
        print("RESULT " + json.dumps(res), flush=True)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
