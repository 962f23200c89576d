# ruff: noqa: E501, RUF001, RUF002  (a Markdown template: long lines and typographic signs are its output)
"""Write docs/benchmarks.md and docs/benchmarks.png from one run's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import RUNTIMES, _spec
from ._spec import Metric

TIMES, DASH = "\u00d7", "\u2013"

# Hand-written: the execution tracer's cost, measured on its own (docs/observability.md).
TRACER = """\
## Execution tracer

Tracing off must cost nothing measurable: the scheduler tests one module global
(`proc.tracing`) per goroutine switch and per `goready`, and the C accelerator is
untouched. Instructions per operation (`python -m bench.instructions --workloads
pingpong,spawn`, callgrind, every thread counted; tracing on: the same with
`GOSCHEDTRACE=/tmp/t.json`), 2026-12-05, main at 37e8350 (the proc.py split) against the
tracer's branch merged with it:

| instructions per op | main (2 runs) | tracer off (2 runs) | tracer on | on ÷ off |
|---|---:|---:|---:|---:|
| ping-pong round trip | 23,938 / 24,038 | 24,107 / 23,663 | 151,822 | 6.4 |
| spawn + join | 22,893 / 24,259 | 23,228 / 23,562 | 102,647 | 4.4 |

Off is within main's own run-to-run spread (sysmon's ticks are counted too, and their
number follows the wall time under valgrind). On, each switch writes a goroutine slice
on its P and on its M (formatted by hand: the `json` module formats every float through
a Python call, which made it 27× instead of 6×) and each wake-up an arrow, and `go()`
takes the Python path so that each creation is recorded. Wall clock on this shared VM
(load average above 10 while measuring, 7 interleaved rounds, median) agreed in
direction: ping-pong 9.4 µs main, 4.6 µs off, 38 µs on per round trip; spawn 9.5, 12.6,
42 µs per task, with identical runs differing by 2–5×, so only the instruction counts are
figures.
"""

# Hand-written from the profiles of this suite (bench/hotpaths.py); the numbers in the
# tables next to it are regenerated on every --write-docs run.
FINDINGS = """\
Where gosched spends its time (cProfile of the M threads, `python -m bench.hotpaths`;
cProfile inflates every Python call, so read the shares; the unprofiled ns/op table above
is the cost). Wall-clock figures on this VM move by 20{DASH}30 % between identical runs, so
each change below was also counted in instructions, which do not move:
`python -m bench.instructions` runs both runtimes under valgrind's callgrind at two sizes
and divides the difference (every thread counted).

| instructions per op (callgrind) | gosched before | gosched now | asyncio | asyncio ÷ gosched now |
|---|---:|---:|---:|---:|
| ping-pong round trip | 30,169 | {PP_NOW} | {PP_A} | {PP_X} |
| spawn + join (one `wg.add(1); go()` per task) | 30,523 | {SP_NOW} | {SP_A} | {SP_X} |

"Before" is commit 875294b (the first benchmark page, pure Python; asyncio then: 65,144 and
42,083), "now" the commit at the top with its C accelerator, measured by this run.

- **Lock convoy (the largest single fix).** A spawning loop with no `await` outlives
  sysmon's 10 ms slice, so its P is handed to a second M that runs the new goroutines while
  the spawner goes on; both take the WaitGroup's lock (and `sched.lock`) all the time. A
  thread woken on a `threading.Lock` is handed the lock while it still waits for the GIL,
  so the two threads traded the GIL through the kernel at every operation: 25,000{DASH}60,000
  voluntary context switches per 50,000 spawns (per-thread `/proc/*/status`; `perf record
  -e sched:sched_switch` showed a switch every ~20 µs alternating between the two Ms) and
  10{DASH}27 µs per spawn, bimodal. Runtime locks now never sleep on a lock they could be handed
  while unable to run (`_runtime/lock.py`): a few hundred switches, and the same time per
  spawn with the hand-off as without it (471 vs 488 ms of CPU for 50,000, all threads).
- **Ping-pong.** A round trip is 2 × `Chan.send` that finds a parked receiver + 2 receives
  that park + 2 scheduler rounds. Instructions went down ~20 %: the channel lock is a
  one-token list (`lock.newlock`: `pop`/`append`, where `threading.Lock.acquire(False)`
  spent ~5 % of all instructions parsing its argument); `getm()` reads a `ContextVar` (~30 ns)
  instead of a `threading.local` (~100 ns), four times per round trip; `recv` and
  `__anext__` *are* the generator functions (one frame less per receive); the P token
  is a deque (a list reallocated its storage twice per switch); the loop hoists what cannot
  change and tests fairness once per round. The scheduler round is still the largest share
  (status, `m.curg`, publishing and reclaiming the P for sysmon, the trap dispatch).
- **Spawn: the C accelerator.** In Python a task was ~475 traced bytecodes
  (`sys.settrace` with opcode events): a scheduler round ~150, `G.__init__` ~55,
  `goready` ~56, `newproc` ~53, `go()` ~47, `WaitGroup.add` + `done` ~67, plus C work
  (the coroutine, raising and catching its `StopIteration`, `allgs`) {DASH} 2.1{DASH}2.7×
  fewer ns than asyncio, short of 3×. Two hot paths now have a C version
  (`_runtime/_speedups.c`; the Python stays the reference and the fallback, and is what a
  free-threaded CPython runs): `go()` is Go's `newproc` fast path in one call (four
  frames and ~210 bytecodes before), and the scheduler resumes a goroutine through
  `PyIter_Send`, which reports a return without raising `StopIteration` (~300 ns per
  exit). Instructions per spawn + join: 22,800 (pure Python, and `GOSCHED_PURE_PYTHON=1`
  today) {DASH} 15,200 with the C `go()` {DASH} 13,400 with the C resume. What is left is the
  scheduler round, the WaitGroup, the coroutine itself and the cyclic GC: the benchmark
  queues goroutines faster than they run, and `gc.callbacks` timing puts the collections
  at 1.3{DASH}1.9 µs per task (generation-0 collections traverse every queued G and
  coroutine). Untracking Gs from the GC cut a spawn by ~15 % and was not kept then: a G can
  be part of a reference cycle (its coroutine's frame holding its handle, a channel wait
  queue holding it), which an untracked G would make uncollectable (kept later, tracked
  again as it ends: below).
- **Switch (`gosched()`).** `findrunnable` popped the empty local queue and caught the
  `IndexError` on every round that had to look further; testing first halved the cost of
  a `gosched()` switch (3.9 → 1.9 µs).
- **Channel operations in C.** A send or receive that needs no park (a parked partner,
  buffer room, a buffered item) was a generator frame, a Python `goready` and ~40
  bytecodes; with the accelerator `Chan.send`/`recv`/`recv_ok`/`__anext__` return a C
  awaitable that does it in one C call when awaited (`_runtime/_speedups_chan.h`), and runs
  `chan.py`'s generator for every other case. Instructions (callgrind, CPython 3.11,
  `python -m bench.instructions --workloads pingpong,fanin,spawn`): ping-pong 26,043 →
  21,193 per round trip (its receives park, so only the sends gain), fan-in 8→1 5,056 →
  2,253 per item, spawn + join unchanged (24,410 → 24,250: it has no channel); pure
  Python 25,462, 5,033 and 31,198. The parking receive and the scheduler round are what
  is left of a ping-pong.
- **The scheduler round and the park in C (issue 17).** Counted per ping-pong round trip
  (callgrind, `valgrind --tool=callgrind` on the ping-pong program at two sizes, per function):
  of 21,288 instructions, schedule's two Python rounds (pick, status, `m.curg`, the P token,
  the resume, the trap's handling) and the two parking receives (a generator made by the C
  awaitable's fallback, run to its `yield`, resumed, returned) were most of what was not
  the program's own code. `proc.schedule` now hands its loop to a C twin of itself
  (`cround`, `_runtime/_speedups_sched.h`) that calls schedule's own functions for every
  cold branch, an operation that must wait parks in C as `chan.py` does (`cpark`), and
  freed channel awaitables are reused (a free list): ping-pong 21,288 → 8,618 (asyncio
  65,080: 7.6× fewer), spawn + join 24,989 → 17,438, fan-in 8→1 2,100 → 1,766 per item;
  pure Python unchanged (25,414, 34,531, 4,887; spawn moves by ±1,500 between runs with
  sysmon's wake-ups). Wall time, same day, one run of `python -m bench --only
  gosched,asyncio,uvloop,gevent,go --workloads spawn,pingpong,fanin --runs 3`: ping-pong
  788 ns (0.111× asyncio, 0.19× uvloop, 2.1× Go), fan-in 6.8 M items/s (1.27× gevent),
  spawn 2,640 ns (2.85× Go). Left in a round trip: the program's own bytecode, `deque`
  calls through their method descriptors and two reads of `proc.tracing`. Spawn's
  remainder is the cyclic GC, the WaitGroup and `findrunnable`'s fair turn on the global
  queue (Python, once per goroutine the spawning loop queued there).
- **Spawn and fan-in at issue 17's goals.** Counted first (`python -m bench.instructions
  --workloads spawn,fanin`, then callgrind per function at two sizes and a profile hook
  counting Python calls per operation). A spawn + join was 16,947 instructions: ~5,500
  `findrunnable`'s fair turn on the global queue in Python (the spawning loop queues most
  goroutines there, and for 60 of every 61 ticks the turn takes one: `findrunnable`,
  `globrunqturn`, `globrunqget` and `sched.lock`, one call each per goroutine), ~3,500
  `WaitGroup.add` and `done` (two frames, ~35 bytecodes), ~2,000 the cyclic GC (per 10,000
  spawns ~25 generation-0 and 2 generation-1 collections, a full one per 50,000; they
  traverse every queued G and coroutine, the two GC-tracked objects a goroutine keeps
  while queued; `bench.gccost` finds no garbage cycles), the rest the program's own
  bytecode, `go()` and the C rounds. A fan-in item was 1,779: the program's bytecode
  (~450), the two C operations, `deque` calls through their method descriptors (~100 per
  operation) and `async for`'s lookup of `__anext__`. The C rounds now take the global
  queue's turn themselves, `WaitGroup.add`/`done` are C methods when they wake nobody,
  `deque` methods are called as C functions and a runtime lock unlocks in place, and
  Chan's `am_anext` slot is its C `__anext__` (docs/design.md, "C accelerator").
  Instructions, CPython 3.11: spawn + join 16,947 → 8,187 per task, fan-in 8→1 1,779 →
  1,435 per item, ping-pong 8,618 → 7,346 per round trip; pure Python unchanged (27,561,
  4,914, 25,377). Wall time (`python -m bench --only gosched,gosched-pure,gevent,go-p1
  --workloads spawn,fanin --runs 3`, two runs on a busy 2-core VM, load 3-4): spawn 1,554
  and 1,171 ns (1.26× and 0.66× Go P=1, whose own median moved 1,236 → 1,766), fan-in
  8.8 and 9.2 M items/s (1.88× and 1.69× gevent); pure Python 4,395 and 4,927 ns, 2.7 and
  2.6 M items/s. Left in a spawn: the cyclic GC and the program's own bytecode.
- **Live goroutines off the collector's lists (issue 17).** Callgrind per function at two
  sizes (10,000 and 30,000 spawns, sysmon's retake off so that one thread runs it all): of
  9,399 instructions a spawn + join, `subtype_traverse` alone was 1,203 and the collector's
  visit functions ~800 more: each queued G's 18 slots walked by every collection it survived.
  A live G is reachable from `allgs`, so a collection can never find it garbage; the C `go()`
  now untracks the G it puts there (`PyObject_GC_UnTrack`), and every way out of `allgs`
  (goexit0 in C and Python, the run's end closing a goroutine, an M abandoning one) tracks it
  again, so a cycle through a finished goroutine is still collected
  (`tests/test_gc_cycles.py` makes one through each G and checks it goes). 9,399 → 7,566
  instructions a task. The coroutine stays tracked: CPython's `gen_dealloc` untracks without
  checking, so an untracked coroutine freed by any other path would corrupt the collector's
  list. Next in the same profile, ~530 instructions a task: the C turn on the global queue
  acquired `sched.lock` through `threading.Lock.acquire(False)`, which parses its argument.
  When nobody holds the lock the pop needs no acquire (the C code keeps the GIL from the test
  to the pop and runs no Python code between: no critical section can be under way), and a
  held lock still takes `globrunqget`'s way: 7,566 → 7,100.
- **Channel awaitables kept on the collector's lists (issue 17).** Callgrind per function at
  two sizes (40,000 and 120,000 fan-in items): of 1,339 instructions an item, ~120 were each
  awaitable's way through the free list (untracked when freed, a new reference's setup and
  tracking again when reused; two awaitables an item, the send's and the `async for` step's).
  A kept awaitable now stays tracked, alive with the free list's one reference and its fields
  cleared, so the collector visits nothing through it and never takes it for garbage:
  1,339 → 1,219. Of the rest, ~430 are the program's own bytecode (the producer's loop and
  the consumer's `async for`), ~100 the producer's `int` objects and ~190 the two operations.
- **The `gosched.syscall` row sits at this machine's floor.** Its goal (≤ 2 ms) was missed
  in one full run (2.81 ms) and met in others (1.75 ms). Where the largest gap falls
  (timestamps of each tick against the call's start): anywhere in the 0.5 s, not at the
  hand-off; never during a collection (`gc.callbacks`); and gosched is not in it:
  `python -m bench.timerfloor` runs a plain thread's 1 ms ticks beside a thread in
  `time.sleep(0.5)`, no runtime at all. Interleaved, 20 runs each, twice: that floor's
  median 1.74 and 1.45 ms (worst 4.18, 3.85), gosched's row 1.49 and 1.66 ms (worst 4.97,
  2.59). A median of 3 runs lands above 2 ms about one full run in six on this VM, for
  either.
- **Timers: an ABA on the P token.** Timer lateness p50 was 0.02 ms in some runs and
  500{DASH}600 ms in others (a third of them, pure Python and C alike). A sampler thread showed
  the cause: the spawning M, whose P sysmon had handed to a second M, popped the P's token
  when its goroutine finally yielded {DASH} and got the token the second M had just published,
  because a P kept one token deque for life. Both Ms then ran as if they held the P; the
  second soon dropped it, and the first ran on with `lostp_since` set, so every timer
  it fired readied its goroutine onto the global queue's tail, behind ~40,000 goroutines
  not yet started. Each owner now gets a fresh deque (`acquirep`); p50 is 0.02 ms in every
  run, and `tests/test_retake_stress.py` reproduces the race.
- **Timers.** `sleep(0)` is a non-parking fast path, far cheaper than asyncio's
  `sleep(0)`; `Timer(…)` + `stop()` costs more than asyncio's `call_later` + `cancel`
  (a `Chan(1)`, an `RTimer`, heap insert and delete under `p.timerslock`).
"""


def _fmt(m: Metric, v: float) -> str:
    return m.fmt.format(v)


def _ratio(x: float | None) -> str:
    if x is None:
        return DASH
    if x == 0:
        return "0"
    return f"{x:.2g}{TIMES}" if x < 10 else f"{x:,.0f}{TIMES}"


def rows(doc: dict[str, Any]) -> list[tuple[Any, Metric, dict[str, Any]]]:
    out = []
    for w, _mod in _spec.all_workloads():
        entry = doc["results"].get(w.name)
        if entry is None:
            continue
        for m in w.metrics:
            out.append((w, m, entry))
    return out


def _cell(m: Metric, entry: dict[str, Any], rt: str) -> str:
    d = entry["runtimes"].get(rt)
    if d is None:
        return DASH
    if "error" in d:
        return "error"
    s = d[m.key]
    return f"{_fmt(m, s['median'])} ±{s['spread_pct'] / 2:.0f}%"


def table_medians(doc: dict[str, Any], rts: list[str]) -> str:
    lines = ["| workload | unit | better | " + " | ".join(rts) + " |",
             "|---|---|---|" + "---:|" * len(rts)]
    for _w, m, entry in rows(doc):
        if "pending" in entry:
            lines.append(f"| {m.label} | {m.unit} | {m.better} | " + " | ".join("pending" for _ in rts) + " |")
            continue
        lines.append(f"| {m.label} | {m.unit} | {m.better} | " + " | ".join(_cell(m, entry, r) for r in rts) + " |")
    return "\n".join(lines)


def table_ratios(doc: dict[str, Any], rts: list[str], base: str) -> str:
    lines = ["| workload | better | " + " | ".join(rts) + " |", "|---|---|" + "---:|" * len(rts)]
    for _w, m, entry in rows(doc):
        if "pending" in entry:
            continue
        cells = []
        for r in rts:
            d = entry["runtimes"].get(r, {})
            cells.append(_ratio(d[m.key].get(f"x_{base}")) if m.key in d else DASH)
        lines.append(f"| {m.label} | {m.better} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def median(doc: dict[str, Any], wname: str, key: str, rt: str) -> float | None:
    d = doc["results"].get(wname, {}).get("runtimes", {}).get(rt, {})
    return d[key]["median"] if key in d else None


def speedup(doc: dict[str, Any], wname: str, key: str, rt: str, base: str) -> float | None:
    """How many times fewer (for 'lower' metrics) than ``base``: 1 / the paired ratio."""
    d = doc["results"].get(wname, {}).get("runtimes", {}).get(rt, {})
    x = d.get(key, {}).get(f"x_{base}")
    return 1 / x if x else None


def headline(doc: dict[str, Any]) -> list[str]:
    """gosched against asyncio and Go, phrased as 'N× fewer/more'."""
    out = []
    for w, m, entry in rows(doc):
        if "pending" in entry or w.name == "idle":
            continue
        g = median(doc, w.name, m.key, "gosched")
        a = median(doc, w.name, m.key, "asyncio")
        go = median(doc, w.name, m.key, "go")
        if g is None or a is None or not g or not a:
            continue

        def phr(base: str, m: Metric = m, wname: str = w.name) -> str:
            sp = speedup(doc, wname, m.key, "gosched", base)  # y / x, paired by round
            if not sp:
                return "?"
            if m.better == "lower":
                return f"{sp:.1f}{TIMES} lower" if sp >= 1 else f"{1 / sp:.1f}{TIMES} higher"
            return f"{1 / sp:.1f}{TIMES} higher" if sp <= 1 else f"{sp:.1f}{TIMES} lower"

        s = f"- **{m.label}**: gosched {_fmt(m, g)} {m.unit} vs asyncio {_fmt(m, a)} ({phr('asyncio')})"
        if go:
            s += f"; Go {_fmt(m, go)} (gosched is {phr('go')})"
        out.append(s)
    return out


def targets(doc: dict[str, Any]) -> list[str]:
    def chk(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "**not met**")

    out = []
    for wname, key, label in (("spawn", "ns_per_task", "spawn"), ("pingpong", "ns_per_rt", "ping-pong")):
        sp = speedup(doc, wname, key, "gosched", "asyncio")
        ok = None if sp is None else sp >= 3
        r = f"{sp:.1f}{TIMES}" if sp else "?"
        out.append(f"| ≥3{TIMES} fewer ns than asyncio on {label} | {r} | {chk(ok)} |")
    gp, ap = median(doc, "timers", "late_p99_ms", "gosched"), median(doc, "timers", "late_p99_ms", "asyncio")
    g5, a5 = median(doc, "timers", "late_p50_ms", "gosched"), median(doc, "timers", "late_p50_ms", "asyncio")
    ok = None if None in (gp, ap, g5, a5) else (gp <= ap and g5 <= a5)  # type: ignore[operator]
    out.append(f"| timers at least as accurate as asyncio (p50, p99 lateness) | "
               f"{g5:.2f}/{gp:.2f} ms vs {a5:.2f}/{ap:.2f} ms | {chk(ok)} |" if ok is not None
               else "| timers at least as accurate as asyncio | ? | n/a |")
    gi = median(doc, "idle", "cpu_pct", "gosched")
    ai = median(doc, "idle", "cpu_pct", "asyncio")
    out.append(f"| idle CPU ≈ 0 | {gi:.2f} % of a core (asyncio {ai or 0:.2f} %) | "
               f"{chk(gi < 0.5)}{' (but above asyncio)' if ai is not None and gi > 2 * ai else ''} |"
               if gi is not None else "| idle CPU ≈ 0 | ? | n/a |")
    gm, am = median(doc, "memory", "bytes_per_task", "gosched"), median(doc, "memory", "bytes_per_task", "asyncio")
    out.append(f"| memory per blocked goroutine below asyncio's per task | {gm:,.0f} B vs {am:,.0f} B | "
               f"{chk(gm < am)} |" if gm is not None and am is not None else "| memory | ? | n/a |")
    return ["| target (GIL build) | measured | |", "|---|---|---|", *out]


# Issue 17's goals: (workload, metric key, label, peer, bound, fmt). A peer None: an absolute
# bound in the metric's unit; else the ratio gosched ÷ peer (of medians) must be ≤ bound, or ≥ it
# for a "higher is better" metric.
GOALS17 = (
    ("spawn", "ns_per_task", "spawn+join", "go-p1", 1.5),
    ("pingpong", "ns_per_rt", "unbuffered ping-pong", "asyncio", 0.125),
    ("pingpong", "ns_per_rt", "unbuffered ping-pong", "uvloop", 1 / 3),
    ("fanin", "items_per_s", "fan-in 8→1", "gevent", 1.5),
    ("timers", "late_p99_ms", "50k timers, p99 lateness", "go-p1", 1.0),
    ("liveness-block", "gap_ms", "unwrapped blocking 0.5 s, max ticker gap", None, 12.0),
    ("liveness-cpu", "gap_ms", "CPU loop 0.5 s, max ticker gap", None, 25.0),
    ("liveness-syscall", "gap_ms", "`gosched.syscall` 0.5 s, max ticker gap", None, 2.0),
    ("crowd", "gap_ms", "32 goroutines in 20 ms unwrapped calls, max ticker gap", None, 20.0),
    ("idle", "cpu_ms", "idle 5 s, CPU ms while asleep", None, 0.3),
    ("idle", "wakeups_per_s", "idle, wake-ups per second in the middle of the sleep", None, 0.0),
)


def targets17(doc: dict[str, Any]) -> list[str]:
    """Issue 17's table: each goal, gosched and gosched-pure against it (ratios of medians)."""
    metrics = {(w.name, m.key): m for w, _ in _spec.all_workloads() for m in w.metrics}
    out = ["| goal | gosched | gosched-pure | |", "|---|---:|---:|---|"]
    for wname, key, label, peer, bound in GOALS17:
        m = metrics[(wname, key)]
        up = m.better == "higher"
        cells, verdict = [], "n/a"
        for rt in ("gosched", "gosched-pure"):
            g = median(doc, wname, key, rt)
            p = median(doc, wname, key, peer) if peer else 1.0
            if g is None or not p:
                cells.append("?")
                continue
            v = g / p
            ok = v >= bound if up else v <= bound
            cells.append(f"{v:.3g}{TIMES if peer else ''}")
            if rt == "gosched":
                verdict = "met" if ok else "**not met**"
        rel = ("≥ " if up else "≤ ") + (f"{bound:.3g}{TIMES} {peer}" if peer else f"{bound:g} {m.unit}")
        out.append(f"| {label}: {rel} | {cells[0]} | {cells[1]} | {verdict} |")
    return out


def hot_section(doc: dict[str, Any]) -> str:
    hot = doc.get("hotpaths")
    if not hot:
        return "_Hot paths were not measured in this run._\n"
    lines = ["| op | gosched ns/op | asyncio ns/op | asyncio equivalent |", "|---|---:|---:|---|"]
    for k, v in hot["gosched"].items():
        a = hot["asyncio"].get(k)
        lines.append(f"| {k} | {v:,.0f} | {a:,.0f} | {hot['asyncio_equiv'].get(k, '')} |")
    parts = ["\n".join(lines), ""]
    prof = hot.get("profile") or {}
    for what in ("pingpong", "spawn"):
        rs = prof.get(what)
        if not rs:
            continue
        parts.append(f"cProfile of gosched {what} (n = {prof.get('n')}; own time per op under the profiler):\n")
        parts.append("| function | calls/op | own ns/op | share |\n|---|---:|---:|---:|")
        for r in rs[:12]:
            parts.append(f"| `{r['function']}` | {r['calls_per_op']:.2f} | {r['tottime_ns_per_op']:,.0f} | "
                         f"{r['share_pct']:.1f} % |")
        parts.append("")
    ins = doc.get("instructions") or {}
    pp, sp = ins.get("pingpong", {}), ins.get("spawn", {})

    def num(d: dict[str, float], k: str) -> str:
        return f"{d[k]:,.0f}" if k in d else "?"

    def ratio(d: dict[str, float]) -> str:
        return f"{d['asyncio'] / d['gosched']:.2f}" if "asyncio" in d and d.get("gosched") else "?"

    parts.append(FINDINGS.format(DASH=DASH, PP_NOW=num(pp, "gosched"), PP_A=num(pp, "asyncio"), PP_X=ratio(pp),
                                 SP_NOW=num(sp, "gosched"), SP_A=num(sp, "asyncio"), SP_X=ratio(sp)))
    return "\n".join(parts)


def chart(doc: dict[str, Any], path: Path, rts: list[str]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    items = [(w, m, e) for w, m, e in rows(doc) if "pending" not in e]
    cols = 4
    nrows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    colors = {"gosched": "#2a9d8f", "gosched-pure": "#83c5be", "asyncio": "#457b9d", "uvloop": "#a8dadc", "trio": "#e9c46a",
              "gevent": "#f4a261", "go": "#6c757d", "go-p1": "#adb5bd"}
    for ax, (_w, m, entry) in zip(axes.flat, items, strict=False):
        names, meds, lo, hi = [], [], [], []
        for r in rts:
            d = entry["runtimes"].get(r, {})
            if m.key not in d:
                continue
            s = d[m.key]
            names.append(r)
            meds.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
        ax.bar(names, meds, yerr=[lo, hi], capsize=3, color=[colors.get(n, "#999") for n in names])
        positive = [v for v in meds if v > 0]
        if positive and max(positive) / max(min(positive), 1e-12) > 30:
            ax.set_yscale("log")
        ax.set_title(f"{m.label}\n{m.unit} ({m.better} is better)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    ctx = doc["context"]
    fig.suptitle(f"gosched benchmark suite, {ctx['machine']['date']}, {ctx['machine']['nproc']} CPUs "
                 f"({ctx['machine']['cpu']}), Python {ctx['versions'].get('python')}; median, bars = min{DASH}max",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(doc: dict[str, Any], docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    ctx = doc["context"]
    rts = [r for r in RUNTIMES if r in ctx["runtimes"]]
    has_chart = chart(doc, docs / "benchmarks.png", rts)
    v, mach = ctx["versions"], ctx["machine"]
    pend = [f"- **{e['title']}**: {e['pending']}" for e in doc["results"].values() if "pending" in e]
    busy = sorted(set(ctx.get("busy_before", []) + ctx.get("busy_after", [])))
    runs = {name: e["runs"] for name, e in doc["results"].items() if "pending" not in e}
    md = f"""# Benchmarks: gosched against asyncio, uvloop, trio, gevent and Go

Generated by `{ctx['command'].strip()}` on **{mach['date']}** ({'quick sizes — not a measurement' if ctx['quick'] else 'full sizes'}), in {ctx['elapsed_s']:.0f} s.

| | |
|---|---|
| machine | {mach['nproc']} CPUs (`nproc`), {mach['cpu']} (`lscpu`), {mach['os']} |
| Python | CPython {v.get('python')} (GIL build); gosched {v.get('gosched')}, uvloop {v.get('uvloop')}, trio {v.get('trio')}, gevent {v.get('gevent')} |
| Go | {v.get('go')} (Debian `golang-go`), default `GOMAXPROCS` ({mach['nproc']}) |
| gosched | commit {ctx.get('source', '?')}, default `GOMAXPROCS` (1 on a GIL build) |
| load | load average {mach['loadavg'][0]:.2f} before, {ctx.get('loadavg_after', [0])[0]:.2f} after |
| other processes | {('present: ' + ', '.join(busy) + ' — spreads are wider than on a quiet machine') if busy else 'none above 5 % CPU at the start and the end of the run; other engineers work on this machine, so some runs may have overlapped their test runs (the spreads show it)'} |

Each figure is the **median** over repeated runs, each in a fresh process
({', '.join(f'{k}: {n}' for k, n in runs.items())} runs); `±` is half the min{DASH}max
range as a percentage of the median. Runs are interleaved: each round runs every runtime
once, back to back. A ratio is the **median over rounds of value ÷ asyncio's (or Go's)
value in the same round**, so a slow phase of this shared VM (identical runs differ by
±20{DASH}30 %) hits both sides of a pair; whether lower or higher is better is in the
`better` column. `gosched` is the default build (its C accelerator on); `gosched-pure` runs the
same code with `GOSCHED_PURE_PYTHON=1`, the pure-Python twin CI tests too. `go` runs Go with its
default `GOMAXPROCS` (one per CPU), `go-p1` the same programs with `GOMAXPROCS=1`, as gosched runs
on a GIL build; the ratios to Go are to `go`.

Reproduce: `apt-get install golang-go` (optional: Go is skipped with a notice when `go` is
absent), `python -m pip install -e '.[bench]'`, then `python -m bench` (prints everything)
or `python -m bench --write-docs` (also rewrites this page and the chart). `--quick` is a
smoke run; `--only gosched,asyncio`, `--workloads spawn,pingpong` select.

## Headline (gosched vs asyncio and Go)

{chr(10).join(headline(doc))}

## Results (median ± half-spread)

{table_medians(doc, rts)}

{'![benchmark chart](benchmarks.png)' if has_chart else '_matplotlib is not installed: no chart._'}

### Ratio to asyncio (median of per-round value ÷ asyncio)

{table_ratios(doc, rts, 'asyncio')}

### Ratio to Go (median of per-round value ÷ Go)

{table_ratios(doc, rts, 'go')}

## Goals from issue 17 (same run; ratios of medians; `go-p1` is Go with `GOMAXPROCS=1`)

{chr(10).join(targets17(doc))}

## Targets from issue 6

{chr(10).join(targets(doc))}

## Workloads

- **spawn + join**: 50,000 tasks that return at once; gosched/Go `wg.add(1); go(...)` then
  `wg.wait()`, asyncio/uvloop `create_task` + `gather`, trio `nursery.start_soon`, gevent
  `spawn` + `joinall`. A warm-up of 1,000 first.
- **ping-pong**: 50,000 round trips over two unbuffered channels (asyncio/uvloop `Queue(1)`,
  trio `open_memory_channel(0)`, gevent `queue.Channel`, Go `chan int`).
- **fan-in 8→1**: 8 producers × 10,000 items into one channel of capacity 128, one consumer
  (`async for` over the closed channel in gosched, trio and Go; counting in asyncio/gevent).
- **50,000 timers**: each task sleeps once for a seeded random 0{DASH}100 ms (the same list for
  every runtime); lateness = wake-up time − (sleep start + duration), measured by the task.
- **TCP echo**: the network engineer's `bench/echo/` — a C load generator (`loadgen.c`,
  50 connections, 64-byte messages, 1 s warm-up, then 3 s measured) against each runtime's
  idiomatic one-task-per-connection server (`bench/echo/servers.py`); Go's server is
  `bench/go/echo.go` (`io.Copy` per connection) under the same load generator.
- **ticker gap**: the largest gap of a 1 ms ticker while another task blocks for 0.5 s in an
  unwrapped `time.sleep`, a pure-Python CPU loop, or the wrapped call (`gosched.syscall`;
  asyncio/uvloop `to_thread`; Go a raw `nanosleep(2)`, which its runtime wraps); gosched and
  asyncio run the sysmon engineer's `bench/liveness.py` (`maxprocs=1`), trio/gevent the same
  program in their idiom, Go a ticker goroutine next to a sleeping or spinning goroutine.
- **crowd**: the same ticker beside 32 tasks each making 5 unwrapped 20 ms `time.sleep` calls
  (`maxprocs=1`; `bench/crowd.py`): the largest gap and the crowd's wall time. asyncio, uvloop
  and gevent (unpatched) run every call on the loop; Go makes them as raw `nanosleep(2)`
  system calls with `GOMAXPROCS=1`.
- **idle CPU**: 1,000 tasks parked on a channel receive while main sleeps 5 s; process CPU
  time (all threads) in that window, in ms and ÷ wall time. That window also holds falling
  asleep and waking up (on this VM a thread's wake-up costs ~0.1–0.2 ms of CPU; gosched wakes
  its M and, 10 ms after a timer, sysmon). The steady state in between is read from outside
  the process (the runner reads `/proc/PID/task/*/schedstat` 0.5 s and 4.5 s in): how often
  any thread woke, and the CPU it used, per second.
- **memory per blocked task**: RSS after 50,000 tasks have parked on one channel receive,
  minus RSS before spawning them (both after a full GC), ÷ 50,000.
- **aio rows** (`bench/aioloop.py`, issue 12): the same asyncio program on three event
  loops; here the gosched column is `gosched.aio.new_event_loop`, next to asyncio's loop and
  uvloop (the ratio to uvloop is the uvloop column's inverse). create_task + gather and
  `Queue(1)` ping-pong are the spawn and ping-pong rows' asyncio code; streams and `Protocol`
  echo servers run under the TCP echo row's C load generator; the HTTP row is the p99
  latency of requests due every 5 ms on 4 keep-alive connections (timed from when each was
  due) while one request in every 0.5 s runs an unwrapped `time.sleep(0.3)` in its handler.

## Hot paths (gosched, ns/op)

Measured in the same run by `python -m bench.hotpaths` (median of 5 batches, `maxprocs=1`).

{hot_section(doc)}

{TRACER}
## Pending and unmeasured

{chr(10).join(pend) if pend else '- nothing pending in this run'}
- **Free-threaded CPython**: unmeasured. No free-threaded build (3.13t/3.14t) can be installed
  from the package registries this machine reaches (PyPI has no CPython interpreters; Debian
  bookworm has no `python3.13-nogil`). `python -m bench --free-threaded [--python PATH]` runs
  gosched (with `GOMAXPROCS` = CPUs) and asyncio on one where it exists.
"""
    (docs / "benchmarks.md").write_text(md)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report RESULTS.json``: rewrite docs/benchmarks.{md,png} from a saved run."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    src = Path(args[0]) if args else Path(__file__).resolve().parent / "results" / "full.json"
    write(json.loads(src.read_text()), Path(__file__).resolve().parent.parent / "docs")
    print(f"wrote docs/benchmarks.md and docs/benchmarks.png from {src}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
