"""Runtime metrics under Go's ``runtime/metrics`` names and units, and their Prometheus text.

Nothing here is on a hot path: the scheduler and sysmon keep plain counters
that one thread owns (an M's ``syscalls`` and ``latencies``, sysmon's
``sched.nretake``...), and a read sums them, as Go sums its per-P stats. Reads
take no lock: each value is a snapshot taken while the program runs, and two
values of one read may be a few events apart, as in Go (``metrics.Read`` is not
atomic across metrics either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .runtime2 import LATENCY_BUCKETS, LATENCY_PERIOD, Grunnable, Grunning, Gsyscall, Gwaiting, Sched

KIND_UINT64 = "uint64"
KIND_HISTOGRAM = "float64-histogram"


@dataclass(frozen=True)
class Description:
    """One metric, as Go's ``metrics.Description``: name (``/path:unit``), kind, help."""

    name: str
    kind: str  # "uint64" or "float64-histogram"
    cumulative: bool  # a counter that only grows (Prometheus: _total), else a gauge
    description: str

    @property
    def unit(self) -> str:
        """The part of the name after the colon: ``goroutines``, ``seconds``..."""
        return self.name.split(":", 1)[1]


@dataclass(frozen=True)
class Histogram:
    """Go's ``metrics.Float64Histogram``: ``counts[i]`` samples in ``[buckets[i], buckets[i+1])``.

    ``len(buckets) == len(counts) + 1``; the last boundary is ``math.inf``. The
    boundaries never change for a metric.
    """

    counts: tuple[int, ...]
    buckets: tuple[float, ...]


# Bucket i of an M's latency histogram holds waits of [2**(i-1), 2**i) ns (0: a zero
# wait), so recording is one bit_length (proc.py); in seconds for the reader.
LATENCY_BOUNDS = (0.0, *(2.0 ** (i - 1) / 1e9 for i in range(1, LATENCY_BUCKETS)), math.inf)

ALL: tuple[Description, ...] = (  # sorted by name, as metrics.All
    Description("/gc/cycles:gc-cycles", KIND_UINT64, True,
                "Garbage collections the runtime saw (Python's, forced by sysmon or not)."),
    Description("/netpoll/fds:fds", KIND_UINT64, False,
                "File descriptors registered with the network poller."),
    Description("/sched/gomaxprocs:threads", KIND_UINT64, False,
                "GOMAXPROCS: the number of Ps, how many goroutines may run Python at once."),
    Description("/sched/goroutines/not-in-go:goroutines", KIND_UINT64, False,
                "Goroutines inside gosched.syscall (Go: in a syscall or cgo call)."),
    Description("/sched/goroutines/runnable:goroutines", KIND_UINT64, False,
                "Goroutines ready to run, waiting for a P."),
    Description("/sched/goroutines/running:goroutines", KIND_UINT64, False,
                "Goroutines running on an M."),
    Description("/sched/goroutines/waiting:goroutines", KIND_UINT64, False,
                "Goroutines parked: on a channel, lock, timer or the network poller."),
    Description("/sched/goroutines:goroutines", KIND_UINT64, False, "Live goroutines."),
    Description("/sched/latencies:seconds", KIND_HISTOGRAM, True,
                f"Time goroutines spent runnable before running, sampled one yield in {LATENCY_PERIOD} "
                "as Go samples (counts are of samples)."),
    Description("/sched/syscalls:calls", KIND_UINT64, True, "Calls entered through gosched.syscall."),
    Description("/sched/threads:threads", KIND_UINT64, False,
                "Ms (OS threads) the runtime has, sysmon's included."),
    Description("/sysmon/handoffs:events", KIND_UINT64, True,
                "Ps sysmon took from a goroutine that ignored a preemption request (a CPU "
                "loop or an unwrapped blocking call) and handed to another M."),
    Description("/sysmon/preemptions:events", KIND_UINT64, True,
                "Preemption requests sysmon made to goroutines past their 10 ms time slice."),
    Description("/sysmon/retakes:events", KIND_UINT64, True,
                "Ps sysmon retook from goroutines blocked in gosched.syscall and handed to another M."),
    Description("/timers/active:timers", KIND_UINT64, False,
                "Timers pending in the Ps' heaps: sleeps, Timers, Tickers, deadlines."),
)


def _gcounts(sched: Sched) -> dict[int, int]:
    counts = {Grunnable: 0, Grunning: 0, Gsyscall: 0, Gwaiting: 0}
    for gp in list(sched.allgs.values()):
        st = gp.status
        if st in counts:
            counts[st] += 1
    return counts


def _latencies(sched: Sched) -> Histogram:
    total = [0] * LATENCY_BUCKETS
    for m in list(sched.allm):
        for i, n in enumerate(list(m.latencies)):
            total[i] += n
    return Histogram(tuple(total), LATENCY_BOUNDS)


def _timers(sched: Sched) -> int:
    return sum(max(0, len(p.timers) - p.timerzombies) for p in list(sched.allp))


def read(sched: Sched) -> dict[str, int | Histogram]:
    """Every metric of ``ALL``, by name."""
    g = _gcounts(sched)
    ms = list(sched.allm)
    poller = sched.poller
    return {
        "/gc/cycles:gc-cycles": sched.numgc,
        "/netpoll/fds:fds": len(poller.descs) if poller is not None else 0,
        "/sched/gomaxprocs:threads": sched.gomaxprocs,
        "/sched/goroutines:goroutines": len(sched.allgs),
        "/sched/goroutines/not-in-go:goroutines": g[Gsyscall],
        "/sched/goroutines/runnable:goroutines": g[Grunnable],
        "/sched/goroutines/running:goroutines": g[Grunning],
        "/sched/goroutines/waiting:goroutines": g[Gwaiting],
        "/sched/latencies:seconds": _latencies(sched),
        "/sched/syscalls:calls": sum(m.syscalls for m in ms),
        "/sched/threads:threads": len(ms) - sched.nmfreed,
        "/sysmon/handoffs:events": sched.nhandoff,
        "/sysmon/preemptions:events": sched.npreempt,
        "/sysmon/retakes:events": sched.nretake,
        "/timers/active:timers": _timers(sched),
    }


# --- the Prometheus text exposition format (version 0.0.4) ------------------------------


def promname(d: Description) -> str:
    """The name Go's Prometheus client gives a runtime/metrics metric (RuntimeMetricsToProm):
    ``go_`` + path with ``/`` and ``-`` as ``_`` + ``_`` + unit, ``_total`` for counters."""
    key, unit = d.name.split(":", 1)
    name = "go_" + key[1:].replace("/", "_").replace("-", "_")
    name += "_" + unit.replace("-", "_").replace("*", "_").replace("/", "_per_")
    if d.cumulative and d.kind != KIND_HISTOGRAM:
        name += "_total"
    return name


def _le(b: float) -> str:
    return "+Inf" if b == math.inf else repr(b)


def _histogram_lines(name: str, h: Histogram) -> list[str]:
    """Cumulative ``_bucket`` lines, every bucket, ``_sum`` (each sample at its bucket's
    midpoint: the histogram has no exact sum) and ``_count``."""
    out, cum, total = [], 0, 0.0
    for i, n in enumerate(h.counts):
        cum += n
        lo, hi = h.buckets[i], h.buckets[i + 1]
        total += n * (lo if hi == math.inf else (lo + hi) / 2)
        out.append(f'{name}_bucket{{le="{_le(hi)}"}} {cum}')
    return [*out, f"{name}_sum {total!r}", f"{name}_count {cum}"]


def prometheus(values: dict[str, int | Histogram]) -> str:
    """The text exposition of ``values`` (a ``read`` result), with HELP and TYPE lines."""
    lines: list[str] = []
    for d in ALL:
        v = values[d.name]
        name = promname(d)
        lines.append(f"# HELP {name} {d.description.replace(chr(92), chr(92) * 2)}")
        if isinstance(v, Histogram):
            lines.append(f"# TYPE {name} histogram")
            lines.extend(_histogram_lines(name, v))
        else:
            lines.append(f"# TYPE {name} {'counter' if d.cumulative else 'gauge'}")
            lines.append(f"{name} {v}")
    return "\n".join(lines) + "\n"
