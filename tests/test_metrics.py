"""gosched.metrics: Go's runtime/metrics names, the counters behind them, the Prometheus text."""

from __future__ import annotations

import math
import re
import sys
import time
from typing import Any

import pytest

import gosched
from _core_helpers import collect_counted
from gosched import metrics

REQUIRED = {
    "/sched/goroutines:goroutines": "uint64",
    "/sched/gomaxprocs:threads": "uint64",
    "/sched/threads:threads": "uint64",
    "/sched/latencies:seconds": "float64-histogram",
    "/sched/syscalls:calls": "uint64",
    "/sysmon/retakes:events": "uint64",
    "/sysmon/preemptions:events": "uint64",
    "/sysmon/handoffs:events": "uint64",
    "/timers/active:timers": "uint64",
    "/netpoll/fds:fds": "uint64",
    "/gc/cycles:gc-cycles": "uint64",
}


def run(main: Any, maxprocs: int = 1) -> Any:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        return gosched.run(main, maxprocs=maxprocs)
    finally:
        sys.setswitchinterval(old)


def test_all_describes_every_metric_read_returns() -> None:
    descs = metrics.all()
    names = [d.name for d in descs]
    assert names == sorted(names)
    kinds = {d.name: d.kind for d in descs}
    for name, kind in REQUIRED.items():
        assert kinds[name] == kind
    units = {d.name: d.unit for d in descs}
    assert units["/sched/latencies:seconds"] == "seconds" and units["/gc/cycles:gc-cycles"] == "gc-cycles"
    assert all(d.description for d in descs)

    async def main() -> None:
        assert set(metrics.read()) == set(names)

    run(main)


def test_gauges() -> None:
    async def main() -> None:
        ln = await gosched.net.listen("tcp", "127.0.0.1:0")
        sleeper = gosched.go(gosched.sleep, 3600)
        while sleeper.state != "sleep":
            await gosched.sleep(0.001)
        v = metrics.read()
        assert v["/sched/goroutines:goroutines"] == gosched.num_goroutine()
        assert v["/sched/goroutines/waiting:goroutines"] >= 1
        assert v["/sched/goroutines/running:goroutines"] >= 1  # this one
        assert v["/sched/gomaxprocs:threads"] == 3
        assert v["/sched/threads:threads"] >= 2  # an M and sysmon's
        assert v["/timers/active:timers"] >= 1
        assert v["/netpoll/fds:fds"] >= 1
        ln.close()

    run(main, maxprocs=3)


def test_syscalls_are_counted_exactly_across_ms() -> None:
    """Each M counts its own calls; the sum is exact with four Ms racing."""
    per, workers = 200, 8

    async def caller(wg: gosched.WaitGroup) -> None:
        for _ in range(per):
            await gosched.syscall(time.sleep, 0)
        wg.done()

    async def main() -> None:
        before = metrics.read()["/sched/syscalls:calls"]
        wg = gosched.WaitGroup()
        wg.add(workers)
        for _ in range(workers):
            gosched.go(caller, wg)
        await wg.wait()
        assert metrics.read()["/sched/syscalls:calls"] - before == per * workers

    run(main, maxprocs=4)


@pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")
def test_retake_preemption_and_handoff_counters() -> None:
    async def ticker(stop: list[bool]) -> None:
        while not stop:
            await gosched.sleep(0.001)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    async def cpu() -> None:
        spin(0.2)  # never reaches the runtime: preempted, then its P handed off

    async def main() -> None:
        stop: list[bool] = []
        gosched.go(ticker, stop)
        before = metrics.read()
        await gosched.syscall(time.sleep, 0.2)  # runnable work waits: sysmon retakes the P
        g = gosched.go(cpu)
        while not g.done:
            await gosched.sleep(0.005)
        after = metrics.read()
        stop.append(True)
        for name in ("/sysmon/retakes:events", "/sysmon/preemptions:events", "/sysmon/handoffs:events"):
            assert after[name] > before[name], name  # type: ignore[operator]

    run(main)


def test_latency_histogram_is_go_shaped_and_sampled() -> None:
    rounds = 2000

    async def ponger(ping: gosched.Chan[int], pong: gosched.Chan[int]) -> None:
        async for v in ping:
            await pong.send(v)

    async def main() -> None:
        ping, pong = gosched.Chan[int](), gosched.Chan[int]()
        gosched.go(ponger, ping, pong)
        for i in range(rounds):
            await ping.send(i)
            await pong.recv()
        ping.close()
        h = metrics.read()["/sched/latencies:seconds"]
        assert isinstance(h, metrics.Histogram)
        assert len(h.buckets) == len(h.counts) + 1
        assert h.buckets[0] == 0 and h.buckets[-1] == math.inf
        assert list(h.buckets) == sorted(h.buckets)
        n = sum(h.counts)
        # 4 parks per round trip, one in 8 sampled: about rounds / 2 samples
        assert rounds // 8 <= n <= rounds * 4

    run(main)


def test_gc_cycles_counted() -> None:
    async def main() -> None:
        before = metrics.read()["/gc/cycles:gc-cycles"]
        # a full collection may take a while: off the P
        await gosched.syscall(collect_counted)
        assert metrics.read()["/gc/cycles:gc-cycles"] > before  # type: ignore[operator]

    run(main)


PROM_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{le=\"[^\"]+\"\})? [0-9.e+-]+$")


def test_prometheus_text_exposition() -> None:
    async def main() -> str:
        return metrics.prometheus()

    text = run(main)
    lines = text.splitlines()
    assert text.endswith("\n")
    helps = [ln.split()[2] for ln in lines if ln.startswith("# HELP ")]
    types = {ln.split()[2]: ln.split()[3] for ln in lines if ln.startswith("# TYPE ")}
    assert len(helps) == len(metrics.all()) == len(types)
    # Named as Go's Prometheus client names runtime/metrics (RuntimeMetricsToProm).
    assert types["go_sched_goroutines_goroutines"] == "gauge"
    assert types["go_sysmon_retakes_events_total"] == "counter"
    assert types["go_gc_cycles_gc_cycles_total"] == "counter"
    assert types["go_sched_goroutines_not_in_go_goroutines"] == "gauge"
    assert types["go_sched_latencies_seconds"] == "histogram"
    samples = [ln for ln in lines if not ln.startswith("#")]
    for ln in samples:
        assert PROM_LINE.match(ln), ln
    buckets = [ln for ln in samples if ln.startswith("go_sched_latencies_seconds_bucket")]
    counts = [int(ln.rsplit(" ", 1)[1]) for ln in buckets]
    assert counts == sorted(counts)  # cumulative
    assert buckets[-1].startswith('go_sched_latencies_seconds_bucket{le="+Inf"}')
    total = [ln for ln in samples if ln.startswith("go_sched_latencies_seconds_count ")]
    assert total == [f"go_sched_latencies_seconds_count {counts[-1]}"]


def test_read_needs_a_runtime() -> None:
    with pytest.raises(RuntimeError, match=r"gosched.metrics.read\(\) needs a running gosched.run\(\)"):
        metrics.read()
