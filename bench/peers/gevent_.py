"""gevent versions of the workloads: greenlets, ``spawn``/``joinall``, ``gevent.queue``.

No monkey-patching: these workloads use only gevent's own primitives, and the
liveness workload's blocking call is exactly the unpatched call a user forgot.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from gevent.queue import Channel, Queue

from .._common import cpu_seconds, rss_bytes, settle
from ..fanin import CAP, PRODUCERS
from ..idle import PARKED, asleep, idle_result
from ..timers import durations, summarize


def _nothing() -> None:
    pass


def spawn(n: int) -> dict[str, Any]:
    gevent.joinall([gevent.spawn(_nothing) for _ in range(min(n, 1000))])
    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(_nothing) for _ in range(n)])
    return {"ns_per_task": (time.perf_counter_ns() - t0) / n}


def pingpong(n: int) -> dict[str, Any]:
    ping: Channel = Channel()
    pong: Channel = Channel()

    def ponger() -> None:
        for v in ping:
            pong.put(v)

    g = gevent.spawn(ponger)
    for i in range(min(n, 1000)):
        ping.put(i)
        pong.get()
    t0 = time.perf_counter_ns()
    for i in range(n):
        ping.put(i)
        pong.get()
    dt = time.perf_counter_ns() - t0
    g.kill()
    return {"ns_per_rt": dt / n}


def fanin(per_producer: int) -> dict[str, Any]:
    q: Queue = Queue(CAP)

    def producer() -> None:
        for i in range(per_producer):
            q.put(i)

    total = PRODUCERS * per_producer
    t0 = time.perf_counter_ns()
    gs = [gevent.spawn(producer) for _ in range(PRODUCERS)]
    for _ in range(total):
        q.get()
    dt = time.perf_counter_ns() - t0
    gevent.joinall(gs)
    return {"items_per_s": total / (dt / 1e9)}


def timers(n: int) -> dict[str, Any]:
    late: list[float] = []

    def sleeper(d: float) -> None:
        deadline = time.perf_counter() + d
        gevent.sleep(d)
        late.append(time.perf_counter() - deadline)

    ds = durations(n)
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(sleeper, d) for d in ds])
    return summarize(late, time.perf_counter() - t0)


def idle(seconds: float) -> dict[str, Any]:
    ch: Channel = Channel()
    gs = [gevent.spawn(ch.get) for _ in range(PARKED)]
    gevent.sleep(0.1)
    asleep()
    c0, w0 = cpu_seconds(), time.perf_counter()
    gevent.sleep(seconds)
    c1, w1 = cpu_seconds(), time.perf_counter()
    gevent.killall(gs)
    return idle_result(c1 - c0, w1 - w0)


def memory(n: int) -> dict[str, Any]:
    ch: Channel = Channel()
    started = [0]

    def parked() -> None:
        started[0] += 1
        ch.get()

    settle()
    before = rss_bytes()
    gs = [gevent.spawn(parked) for _ in range(n)]
    while started[0] < n:
        gevent.sleep(0.001)
    gevent.sleep(0.01)
    settle()
    after = rss_bytes()
    del gs
    return {"bytes_per_task": (after - before) / n}


def liveness(kind: str) -> dict[str, Any]:
    from ..liveness import _hog_sync

    gaps: list[float] = []
    done = [False]

    def ticker() -> None:
        last = time.perf_counter()
        while not done[0]:
            gevent.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    g = gevent.spawn(ticker)
    gevent.sleep(0.02)
    _hog_sync(kind)()
    gevent.sleep(0.02)
    done[0] = True
    g.join()
    return {"gap_ms": max(gaps[1:]) * 1e3}
