"""``python -m gosched trace``: record a program's execution trace, or summarise one
(Go's ``go tool trace`` analyses, on the command line)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .._runtime import main as _main
from .._runtime import tracectl
from . import run

HELP = "record a program's execution trace, or summarise one"

USAGE = """\
usage: python -m gosched trace -o out.json prog.py [args...]
       python -m gosched trace -o out.json -m module [args...]
       python -m gosched trace -summary out.json

Trace runs the program with the execution tracer on and writes the trace to
the -o file, Chrome trace-event JSON: open it in ui.perfetto.dev or
chrome://tracing. The program runs as __main__ with the arguments after it in
sys.argv, as python itself would run it; if it does not call gosched.run
itself, its module-level 'async def main()' is run under gosched.run, and an
int it returns is the exit status.

With -summary, trace reads a trace file and prints, per goroutine function:
how many goroutines ran it, their running time, scheduler latency (runnable
to running) percentiles, time in syscalls and time blocked by wait reason;
then the longest stretches a goroutine held its P until sysmon took it, with
the call site.

Flags:
  -o file        where to write the trace (default trace.json)
  -m module      run a module, as python -m does
  -summary file  summarise a recorded trace
  -top n         how many retakes the summary lists (default 10)
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gosched trace", usage=USAGE, add_help=False)
    parser.add_argument("-h", "-help", "--help", action="store_true")
    parser.add_argument("-o", default="trace.json")
    parser.add_argument("-m", dest="module")
    parser.add_argument("-summary", "--summary")
    parser.add_argument("-top", "--top", type=int, default=10)
    parser.add_argument("prog", nargs=argparse.REMAINDER)
    a = parser.parse_args(argv)
    if a.help:
        sys.stdout.write(USAGE)
        return 0
    if a.summary:
        with open(a.summary, encoding="utf-8") as f:
            events = json.load(f)
        sys.stdout.write(format_summary(summarize(events), a.top))
        return 0
    if not a.module and not a.prog:
        sys.stderr.write(USAGE)
        return 2
    return record(a.o, a.module, a.prog)


def record(out: str, module: str | None, prog: list[str]) -> int:
    """Run the program traced into ``out`` (``run``'s convention); its exit status."""
    before = _main.nruns
    tracectl.start(out)
    code = 0
    try:
        ns = run.execute(module, prog)
        if _main.nruns == before:
            code = run.runmain(ns, module or prog[0], None, False)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        tracectl.stop()
    sys.stderr.write(f"gosched: trace written to {out}; open it in ui.perfetto.dev or chrome://tracing\n")
    return code


# --- the summary ----------------------------------------------------------------------------


@dataclass
class FnStats:
    """What the goroutines running one function did, in µs."""

    goids: set[int] = field(default_factory=set)
    running: float = 0.0
    latencies: list[float] = field(default_factory=list)
    blocked: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    syscall: float = 0.0


@dataclass
class Retake:
    held: float  # µs the goroutine's slice had run
    site: str
    func: str
    goid: int
    fn: str


@dataclass
class Summary:
    fns: dict[str, FnStats]
    retakes: list[Retake]


def summarize(events: list[dict[str, Any]]) -> Summary:
    """Per-function statistics from a trace's events (each goroutine slice once: its M track)."""
    fns: dict[str, FnStats] = defaultdict(FnStats)
    slices = sorted(
        (e for e in events if e.get("ph") == "X" and e.get("cat") == "goroutine" and e.get("pid") == 2),
        key=lambda e: e["ts"],
    )
    blockedat: dict[int, tuple[float, str]] = {}  # goid -> (when it blocked, why)
    retakes = []
    for e in slices:
        a = e["args"]
        st = fns[a["fn"]]
        goid = a["g"]
        st.goids.add(goid)
        st.running += e["dur"]
        st.latencies.append(max(e["ts"] - a["ready"], 0.0))
        b = blockedat.pop(goid, None)
        if b is not None:
            st.blocked[b[1]] += max(a["ready"] - b[0], 0.0)
        if a["end"] == "GoBlock":
            blockedat[goid] = (e["ts"] + e["dur"], a.get("reason", "?"))
        if "retaken" in a:
            retakes.append(Retake(e["dur"], "", "", goid, a["fn"]))
    sites = {
        e["args"]["g"]: e["args"]
        for e in events
        if e.get("cat") == "sysmon" and e.get("pid") == 1 and e["name"].startswith("retake")
    }
    for r in retakes:
        s = sites.get(r.goid, {})
        r.site, r.func = s.get("site", "?"), s.get("func", "?")
    for e in events:
        if e.get("ph") == "X" and e.get("cat") == "syscall":
            fns[e["args"]["fn"]].syscall += e["dur"]
    retakes.sort(key=lambda r: r.held, reverse=True)
    return Summary(dict(fns), retakes)


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile of ``xs`` (0 if empty)."""
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(q / 100 * len(s) + 0.999999) - 1))]


def _ms(us: float) -> str:
    return f"{us / 1000:.3f}"


def format_summary(s: Summary, top: int = 10) -> str:
    lines = [
        "Goroutines by function (times in ms; latency: runnable to running)",
        f"{'count':>6} {'running':>10} {'lat p50':>9} {'lat p90':>9} {'lat p99':>9} {'syscall':>10}"
        "  function",
    ]
    for fn, st in sorted(s.fns.items(), key=lambda kv: kv[1].running, reverse=True):
        pcts = " ".join(f"{_ms(percentile(st.latencies, q)):>9}" for q in (50, 90, 99))
        lines.append(f"{len(st.goids):>6} {_ms(st.running):>10} {pcts} {_ms(st.syscall):>10}  {fn}")
    lines += ["", "Time blocked, by wait reason (ms)"]
    for fn, st in sorted(s.fns.items()):
        if st.blocked:
            reasons = ", ".join(f"{r} {_ms(t)}" for r, t in sorted(st.blocked.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {fn}: {reasons}")
    lines += ["", "Worst retakes (sysmon took the P from a goroutine stuck in a call)"]
    for r in s.retakes[:top]:
        lines.append(f"  {_ms(r.held):>10} ms  {r.func} at {r.site}  (goroutine {r.goid}, {r.fn})")
    if not s.retakes:
        lines.append("  none")
    return "\n".join(lines) + "\n"
