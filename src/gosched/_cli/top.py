"""``python -m gosched top``: a live view of a running gosched process's scheduler."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from .._runtime import ctl
from ._flags import fail, parse

HELP = "show a live view of a running gosched process"

DOC = """\
usage: python -m gosched top [-n count] [-once] [-interval seconds] pid

Top shows the scheduler of the gosched program running as process pid,
refreshed every -interval seconds (default 1): its Ps and what each M is
running, goroutine counts by state and by start function, switches and
syscalls per second, sysmon's retakes, preemptions and handoffs, the
scheduling latency's percentiles, and the busiest functions: those seen
running most often over the refreshes so far.

The -n flag stops after count refreshes; -once is -n 1. Without a terminal
(or with -n), each refresh is printed after the previous one instead of
redrawing the screen. It asks the program as 'dump' does (see
'python -m gosched help dump'). Interrupt it with Ctrl-C.
"""

PSTATUS = {0: "idle", 1: "running", 2: "syscall", 3: "gcstop", 4: "dead"}


def main(argv: list[str]) -> int:
    parsed = parse(argv, {"n": int, "once": None, "interval": float}, DOC)
    if isinstance(parsed, int):
        return parsed
    flags, rest = parsed
    if len(rest) != 1 or not rest[0].isdigit():
        return fail("top", "need one process id\n" + DOC, 2)
    count = 1 if flags.get("once") else flags.get("n", 0)
    interval = max(0.05, flags.get("interval", 1.0))
    redraw = sys.stdout.isatty() and not count
    try:
        _loop(int(rest[0]), count, interval, redraw)
    except (LookupError, TimeoutError, PermissionError) as e:
        return fail("top", str(e))
    except KeyboardInterrupt:
        pass
    return 0


def _loop(pid: int, count: int, interval: float, redraw: bool) -> None:
    prev: dict[str, Any] | None = None
    busy: Counter[str] = Counter()
    n = 0
    while True:
        snap = json.loads(ctl.request(pid, "top", 5.0))
        for m in snap["ms"]:
            if m["g"] is not None and m["where"]:
                busy[m["where"]] += 1
        text = render(snap, prev, busy, n + 1)
        sys.stdout.write(("\x1b[H\x1b[2J" if redraw else "") + text + ("" if redraw else "\n"))
        sys.stdout.flush()
        prev, n = snap, n + 1
        if count and n >= count:
            return
        time.sleep(interval)


def percentile(lat: dict[str, list[float]], q: float) -> float | None:
    """The upper bound of the bucket holding the ``q`` quantile (None: no samples)."""
    counts, bounds = lat["counts"], lat["buckets"]
    total = sum(counts)
    if not total:
        return None
    cum = 0.0
    for i, c in enumerate(counts):
        cum += c
        if cum >= q * total:
            return bounds[i + 1] if i + 1 < len(bounds) else bounds[i]
    return bounds[-1]


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f}µs"
    return f"{s * 1e3:.1f}ms" if s < 1 else f"{s:.2f}s"


def _rates(snap: dict[str, Any], prev: dict[str, Any] | None) -> tuple[str, str]:
    if prev is None:
        return "-", "-"
    dt = max(snap["time"] - prev["time"], 1e-6)
    sw = sum(p["schedtick"] for p in snap["ps"]) - sum(p["schedtick"] for p in prev["ps"])
    sc = snap["metrics"]["/sched/syscalls:calls"] - prev["metrics"]["/sched/syscalls:calls"]
    return f"{max(sw, 0) / dt:,.0f}", f"{max(sc, 0) / dt:,.0f}"


def render(snap: dict[str, Any], prev: dict[str, Any] | None, busy: Counter[str], samples: int) -> str:
    """One screen of top."""
    mt = snap["metrics"]
    switches, syscalls = _rates(snap, prev)
    states = "  ".join(f"{k} {v}" for k, v in sorted(snap["states"].items(), key=lambda kv: -kv[1]))
    out = [
        f"gosched top - pid {snap['pid']}, up {snap['uptime']:.1f}s, GOMAXPROCS {snap['gomaxprocs']}, "
        f"{mt['/sched/threads:threads']} Ms, {mt['/sched/goroutines:goroutines']} goroutines",
        f"goroutines: {states or '-'}",
        f"switches/s {switches}  syscalls/s {syscalls}  retakes {mt['/sysmon/retakes:events']}  "
        f"preemptions {mt['/sysmon/preemptions:events']}  handoffs {mt['/sysmon/handoffs:events']}",
        f"sched latency p50 {_dur(percentile(snap['latency'], 0.5))}  "
        f"p99 {_dur(percentile(snap['latency'], 0.99))}  timers {mt['/timers/active:timers']}  "
        f"netpoll fds {mt['/netpoll/fds:fds']}  gc cycles {mt['/gc/cycles:gc-cycles']}",
        "",
        f"{'P':<4}{'STATUS':<9}{'M':<5}{'RUNQ':<6}SCHEDTICK",
    ]
    for p in snap["ps"]:
        m = "-" if p["m"] is None else str(p["m"])
        out.append(f"{p['id']:<4}{PSTATUS.get(p['status'], '?'):<9}{m:<5}{p['runq']:<6}{p['schedtick']}")
    out += ["", f"{'M':<5}{'P':<5}{'G':<7}RUNNING"]
    for m in snap["ms"]:
        what = "sysmon" if m["sysmon"] else (m["where"] or ("spinning" if m["spinning"] else "idle"))
        p = "-" if m["p"] is None else str(m["p"])
        g = "-" if m["g"] is None else str(m["g"])
        out.append(f"{m['id']:<5}{p:<5}{g:<7}{what}")
    out += ["", f"{'COUNT':<7}FUNCTION (by goroutines started there)"]
    for fn, n, st in snap["functions"][:10]:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(st.items(), key=lambda kv: -kv[1]))
        out.append(f"{n:<7}{fn}  [{detail}]")
    out += ["", f"BUSIEST (seen running, {samples} refresh{'es' if samples != 1 else ''})"]
    out += [f"{n:<7}{where}" for where, n in busy.most_common(8)] or ["-"]
    return "\n".join(out) + "\n"
