"""The execution tracer (gosched.trace, GOSCHEDTRACE) and ``python -m gosched trace --summary``.

The traced program has channels, an unwrapped blocking call and a CPU loop
(both retaken by sysmon), a socket on 127.0.0.1, a sleep and a syscall; the
tests read the JSON file as a viewer would.
"""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import gosched
from _core_helpers import restore_trace_settings
from gosched import net
from gosched._cli import trace as cli
from gosched._runtime import blame, proc
from gosched._runtime import trace as rtrace

_guard = pytest.fixture(autouse=True)(restore_trace_settings)

HERE = Path(__file__).resolve()
SRC = str(HERE.parent.parent / "src")


def _line(marker: str) -> int:
    lines = HERE.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.rstrip().endswith(marker))


async def cpu_loop() -> None:
    end = time.monotonic() + 0.15
    while time.monotonic() < end:  # CPU-LOOP
        pass


async def blocking_call() -> None:
    time.sleep(0.15)  # BLOCKING-CALL


async def producer(ch: gosched.Chan[int]) -> None:
    for i in range(20):
        await ch.send(i)
    ch.close()


async def consumer(ch: gosched.Chan[int], out: gosched.Chan[int]) -> None:
    total = 0
    async for v in ch:
        total += v
    await out.send(total)


async def echo(ln: net.Listener) -> None:
    c = await ln.accept()
    await c.write(await c.read(5))
    c.close()


async def sleeper() -> None:
    await gosched.sleep(0.05)


async def program() -> None:
    ch = gosched.Chan[int]()
    out = gosched.Chan[int]()
    gosched.go(producer, ch)
    gosched.go(consumer, ch, out)
    ln = await net.listen("tcp", "127.0.0.1:0")
    gosched.go(echo, ln)
    c = await net.dial("tcp", ln.addr)
    await c.write(b"hello")
    assert await c.read_exactly(5) == b"hello"
    c.close()
    ln.close()
    assert await out.recv() == sum(range(20))
    done = gosched.Chan[None](3)

    async def run(f: Any) -> None:
        await f()
        await done.send(None)

    for f in (cpu_loop, blocking_call, sleeper):
        gosched.go(run, f)
    for _ in range(3):
        await done.recv()
    await gosched.syscall(time.sleep, 0.01)
    gc.collect()


@pytest.fixture
def traced(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "out.json"
    old = blame.warn, blame.reportThresholdNS
    blame.warn, blame.reportThresholdNS = False, 0
    try:
        gosched.trace.start(str(path))
        gosched.run(program, maxprocs=2)
    finally:
        gosched.trace.stop()
        blame.warn, blame.reportThresholdNS = old
    events: list[dict[str, Any]] = json.loads(path.read_text())
    return events


def test_every_slice_is_closed_on_named_p_and_m_tracks(traced: list[dict[str, Any]]) -> None:
    phases = Counter(e["ph"] for e in traced)
    assert set(phases) <= {"X", "i", "M", "s", "f"}, phases  # no B/E pairs: nothing left open
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in traced if e.get("name") == "thread_name"}
    ps = {n for (pid, _), n in names.items() if pid == rtrace.PID_P}
    ms = {n for (pid, _), n in names.items() if pid == rtrace.PID_M}
    assert {"P0", "P1"} <= ps and len(ms) >= 2, names
    for e in traced:
        if e["ph"] == "X":
            assert e["dur"] > 0 and e["ts"] >= 0, e
            assert (e["pid"], e["tid"]) in names or e["pid"] == rtrace.PID_P, e
    gslices = [e for e in traced if e.get("cat") == "goroutine"]
    fns = {e["args"]["fn"].rpartition(".")[2] for e in gslices if e["pid"] == rtrace.PID_M}
    assert {e["pid"] for e in gslices} == {rtrace.PID_P, rtrace.PID_M}  # each on its P and its M
    assert {"program", "producer", "consumer", "echo", "run"} <= fns, fns
    assert any(e["ph"] == "X" and e.get("cat") == "gc" and e["args"]["generation"] == 2 for e in traced)
    syscalls = [e for e in traced if e.get("cat") == "syscall"]
    assert any(e["args"]["call"] == "sleep" and e["dur"] >= 9_000 for e in syscalls), syscalls


def test_flows_link_the_unblocker_to_the_unblocked(traced: list[dict[str, Any]]) -> None:
    starts = {e["id"]: e for e in traced if e["ph"] == "s"}
    ends = {e["id"]: e for e in traced if e["ph"] == "f"}
    assert ends and set(ends) <= set(starts)
    slices = [e for e in traced if e["ph"] == "X"]

    def enclosing(ev: dict[str, Any]) -> dict[str, Any]:
        hits = [
            s for s in slices
            if (s["pid"], s["tid"]) == (ev["pid"], ev["tid"]) and s["ts"] <= ev["ts"] <= s["ts"] + s["dur"]
        ]
        assert hits, ev
        return hits[0]

    pairs = set()
    for fid, f in ends.items():
        src, dst = enclosing(starts[fid]), enclosing(f)
        assert dst["ts"] == f["ts"]  # the arrow lands where the readied goroutine starts
        if src.get("cat") == "goroutine":
            pairs.add((src["args"]["fn"].rpartition(".")[2], dst["args"]["fn"].rpartition(".")[2]))
    # producer and consumer wake each other through the unbuffered channel;
    # program's go() calls are arrows to the goroutines' first slices
    assert ("producer", "consumer") in pairs or ("consumer", "producer") in pairs, pairs
    assert ("program", "producer") in pairs, pairs
    assert any(e["ph"] == "X" and e["name"] == "netpoll" for e in traced) or any(
        e["ph"] == "X" and e["args"].get("reason") == "IO wait" for e in traced
    )


def test_retakes_name_the_blocking_call_and_the_cpu_loop(traced: list[dict[str, Any]]) -> None:
    retakes = [e for e in traced if e.get("cat") == "sysmon" and e["name"].startswith("retake")]
    sites = {e["args"].get("site") for e in retakes}
    assert f"{HERE}:{_line('# BLOCKING-CALL')}" in sites, sites
    assert f"{HERE}:{_line('# CPU-LOOP')}" in sites, sites
    assert any(e["name"].startswith("preempt G") for e in traced)
    assert any(e["name"] == "handoffp" for e in traced)


def test_summary_matches_the_program(traced: list[dict[str, Any]]) -> None:
    s = cli.summarize(traced)
    byname = {fn.rpartition(".")[2]: st for fn, st in s.fns.items()}
    assert len(byname["run"].goids) == 3 and len(byname["producer"].goids) == 1
    assert byname["run"].running >= 250_000  # the CPU loop and the blocking call, 150 ms each
    assert byname["program"].syscall >= 9_000
    assert byname["consumer"].blocked.get("chan receive", 0) > 0
    held = {r.site: r.held for r in s.retakes}
    assert held.get(f"{HERE}:{_line('# CPU-LOOP')}", 0) >= 140_000, s.retakes
    text = cli.format_summary(s)
    assert "Worst retakes" in text and f"blocking_call at {HERE}:{_line('# BLOCKING-CALL')}" in text


async def _sleeps() -> None:
    await gosched.sleep(0.05)


def test_summary_shows_a_50ms_sleep_as_50ms_blocked_on_sleep(tmp_path: Path) -> None:
    path = tmp_path / "sleep.json"
    gosched.trace.start(path)
    try:
        gosched.run(_sleeps)
    finally:
        gosched.trace.stop()
    fns = cli.summarize(json.loads(path.read_text())).fns
    st = next(st for fn, st in fns.items() if fn.endswith("_sleeps"))
    assert 49_000 <= st.blocked["sleep"] <= 50_000 + 500_000, st.blocked  # generous: a loaded machine


async def _spawner(n: int) -> None:
    wg = gosched.WaitGroup()

    async def child() -> None:
        wg.done()

    for _ in range(n):
        wg.add(1)
        gosched.go(child)
        await gosched.sleep(0)
    await wg.wait()


def test_a_long_run_keeps_bounded_memory() -> None:
    class Sink(io.StringIO):
        """Counts what is written, keeps nothing, and records the largest buffer seen."""

        chars = 0
        maxbuf = 0

        def write(self, s: str) -> int:
            self.chars += len(s)
            self.maxbuf = max(self.maxbuf, max((len(b) for b in rtrace._bufs), default=0))
            return len(s)

    sink = Sink()
    old = blame.warn
    blame.warn = False  # a flush on a loaded machine may hold the P past sysmon's patience
    gosched.trace.start(sink)
    try:
        gosched.run(_spawner, 20_000)
        assert rtrace.written >= 20_000  # streamed while the run went on
    finally:
        gosched.trace.stop()
        blame.warn = old
    assert sink.maxbuf <= rtrace.BUFSIZE
    assert len(rtrace._bufs) <= 32  # one per thread that emitted (Ms, sysmon, this one), not per event


def test_tracing_routes_go_through_python_and_off_restores_the_fast_path() -> None:
    seen: list[bool] = []

    async def main() -> None:
        seen.append(proc.tracing)
        sched = proc.current
        assert sched is not None
        gosched.trace.start(io.StringIO())
        seen.append(sched.dead is False)
        gosched.trace.stop()
        seen.append(sched.dead is False)

    gosched.run(main)
    assert seen == [False, False, True]
    assert not proc.tracing


def test_start_twice_is_gos_error() -> None:
    gosched.trace.start(io.StringIO())
    try:
        with pytest.raises(RuntimeError, match="tracing is already enabled"):
            gosched.trace.start(io.StringIO())
    finally:
        gosched.trace.stop()


PROG = """\
import gosched

async def worker(ch):
    await ch.send(1)

async def main():
    ch = gosched.Chan[int]()
    gosched.go(worker, ch)
    await ch.recv()
    await gosched.sleep(0.02)
"""


def test_cli_records_a_program_and_summarises_it(tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(PROG)
    out = tmp_path / "t.json"
    env = dict(os.environ, PYTHONPATH=SRC)
    code = "import sys; from gosched._cli import trace; sys.exit(trace.main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "-o", str(out), str(prog)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "trace written to" in r.stderr
    r = subprocess.run([sys.executable, "-c", code, "-summary", str(out)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "__main__.worker" in r.stdout and "sleep" in r.stdout, r.stdout
    prog.write_text(PROG + "    return 3\n")  # main's int result is the exit status, as gosched run's
    r = subprocess.run([sys.executable, "-c", code, "-o", str(out), str(prog)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    h = subprocess.run([sys.executable, "-c", code, "--help"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert h.stdout.startswith("usage: python -m gosched trace -o out.json prog.py")


def test_gosched_trace_env_traces_the_run(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    env = dict(os.environ, PYTHONPATH=SRC, GOSCHEDTRACE=str(out))
    code = PROG + "\ngosched.run(main)\n"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = json.loads(out.read_text())
    assert any(e.get("args", {}).get("fn") == "__main__.worker" for e in events)



def test_main_first_syscall_is_reissued_while_tracing(tmp_path: Path) -> None:
    """Main's first syscall leaves m0 and is made again by another M (lockedm's REISSUE);
    with tracing on, the traced resume must re-handle it, not throw it into main."""
    out = tmp_path / "t.json"

    async def main() -> int:
        n: int = await gosched.syscall(sum, [1, 2, 3])
        return n

    gosched.trace.start(str(out))
    try:
        assert gosched.run(main) == 6
    finally:
        gosched.trace.stop()
    assert json.loads(out.read_text())
