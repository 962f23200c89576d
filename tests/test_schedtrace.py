"""GOSCHEDDEBUG=schedtrace=N[,scheddetail=1]: Go's SCHED lines, parsed with Go-format regexes.

The regular expressions are checked first against lines captured from go1.27.3
(docs: /work/shared/research/go-runtime-captures), then against gosched's.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

import pytest

import gosched
from _core_helpers import restore_trace_settings
from gosched import debug
from gosched._runtime import schedtrace

SCHED = re.compile(
    r"^SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+) "
    r"needspinning=(\d+) idlethreads=(\d+) runqueue=(\d+) \[ ((?:\d+ )*)\] schedticks=\[ ((?:\d+ )*)\]$"
)
SCHED_DETAIL = re.compile(
    r"^SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+) "
    r"needspinning=(\d+) idlethreads=(\d+) runqueue=(\d+) gcwaiting=(true|false) nmidlelocked=(\d+) "
    r"stopwait=(\d+) sysmonwait=(true|false)$"
)
PLINE = re.compile(
    r"^  P(\d+): status=(\d+) schedtick=(\d+) syscalltick=(\d+) m=(\d+|nil) runqsize=(\d+) "
    r"gfreecnt=(\d+) timerslen=(\d+)$"
)
MLINE = re.compile(
    r"^  M(\d+): p=(\d+|nil) curg=(\d+|nil) mallocing=(\d+) throwing=(\d+) preemptoff=(\S*) locks=(\d+) "
    r"dying=(\d+) spinning=(true|false) blocked=(true|false) lockedg=(\d+|nil)$"
)
GLINE = re.compile(r"^  G(\d+): status=(\d+)\((.*)\) m=(\d+|nil) lockedm=(\d+|nil)$")

GO_CAPTURED = """\
SCHED 1008ms: gomaxprocs=4 idleprocs=0 threads=5 spinningthreads=0 needspinning=1 idlethreads=0 runqueue=2 [ 0 1 1 0 ] schedticks=[ 42 42 42 44 ]
SCHED 1008ms: gomaxprocs=2 idleprocs=0 threads=4 spinningthreads=0 needspinning=1 idlethreads=1 runqueue=3 gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false
  P0: status=1 schedtick=50 syscalltick=0 m=3 runqsize=0 gfreecnt=0 timerslen=0
  M3: p=0 curg=23 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false lockedg=nil
  M2: p=nil curg=nil mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=true lockedg=nil
  G1: status=4(sync.WaitGroup.Wait) m=nil lockedm=nil
  G17: status=1() m=nil lockedm=nil
  G21: status=2() m=0 lockedm=nil
"""  # noqa: E501


_guard = pytest.fixture(autouse=True)(restore_trace_settings)


def _classify(line: str) -> str:
    for name, rx in (("sched", SCHED), ("detail", SCHED_DETAIL), ("p", PLINE), ("m", MLINE), ("g", GLINE)):
        if rx.match(line):
            return name
    return "?"


def test_regexes_match_go_captures() -> None:
    kinds = [_classify(line) for line in GO_CAPTURED.splitlines()]
    assert kinds == ["sched", "detail", "p", "m", "m", "g", "g", "g"]


async def _busy_program(out: io.StringIO) -> None:
    wg = gosched.WaitGroup()
    ch = gosched.Chan[int]()

    async def worker() -> None:
        # Busy until sysmon has printed four traces (at least 0.15 s): a loaded
        # machine delays sysmon's ticks, so no fixed duration is long enough.
        try:
            end, give_up = time.monotonic() + 0.15, time.monotonic() + 30
            while time.monotonic() < end or (out.getvalue().count("SCHED") < 4 and time.monotonic() < give_up):  # noqa: E501
                await gosched.gosched()
        finally:
            wg.done()

    async def sleeper() -> None:
        await ch.recv()

    for _ in range(4):
        wg.add(1)
        gosched.go(worker)
    gosched.go(sleeper)
    await gosched.sleep(0.05)
    await wg.wait()
    await ch.send(1)


def _run_traced(setting: str) -> list[str]:
    out = io.StringIO()
    debug.set_debug(setting)
    schedtrace.settings.out = out
    gosched.run(_busy_program, out, maxprocs=2)
    debug.set_debug("")
    return out.getvalue().splitlines()


def test_schedtrace_lines_parse() -> None:
    lines = _run_traced("schedtrace=20")
    assert len(lines) >= 4, lines
    ms = []
    for line in lines:
        mt = SCHED.match(line)
        assert mt, line
        ms.append(int(mt.group(1)))
        assert int(mt.group(2)) == 2  # gomaxprocs
        assert len(mt.group(9).split()) == 2 and len(mt.group(10).split()) == 2
        assert int(mt.group(4)) >= 1  # threads: mcount(), sysmon included
    assert ms[0] < 20 and ms == sorted(ms)  # Go: the first line is 0ms (starttime set then)
    assert any(sum(map(int, SCHED.match(x).group(10).split())) > 0 for x in lines)  # type: ignore[union-attr]


def test_scheddetail_lines_parse() -> None:
    lines = _run_traced("schedtrace=20,scheddetail=1")
    kinds = [_classify(line) for line in lines]
    assert "?" not in kinds, [line for line, k in zip(lines, kinds, strict=True) if k == "?"]
    assert kinds[0] == "detail" and kinds.count("detail") >= 3
    assert kinds.count("p") == 2 * kinds.count("detail")
    assert "m" in kinds and "g" in kinds
    # The main goroutine is G1, as in Go.
    assert any(line.startswith("  G1: ") for line in lines)


def test_human_names_states_in_words_beside_gos_format() -> None:
    lines = _run_traced("schedtrace=20,scheddetail=1,human=1")
    kinds = set()
    for line in lines:
        go, sep, words = line.partition("  # ")
        assert sep and words, line  # every line carries its words
        kind = _classify(go)  # and Go's exact format before them
        assert kind != "?", line
        kinds.add(kind)
        if kind == "p":
            assert re.search(r"P\d+ (idle|running|syscall|gcstop|dead)", words), line
        elif kind == "g" and GLINE.match(go).group(2) == "4":  # type: ignore[union-attr]
            assert re.search(r"\) waiting: \S", words), line
        elif kind in ("sched", "detail"):
            assert re.search(r"\d+ of 2 Ps running goroutines, \d+ idle; \d+ threads", words), line
    assert kinds == {"detail", "p", "m", "g"}, kinds
    waiting = [line for line in lines if "sleeper) waiting: chan receive" in line]
    assert waiting, lines


def test_set_debug_returns_old_and_parses_godebug_syntax() -> None:
    debug.set_debug("")
    assert debug.set_debug("schedtrace=1000,scheddetail=1,bogus=3,gctrace=x") == ""
    assert debug.set_debug("") == "schedtrace=1000,scheddetail=1"


def test_env_var_in_a_fresh_process() -> None:
    code = (
        "import gosched\n"
        "async def main():\n"
        "    for _ in range(30):\n"
        "        await gosched.sleep(0.005)\n"
        "gosched.run(main, maxprocs=2)\n"
    )
    env = dict(os.environ, GOSCHEDDEBUG="schedtrace=30,scheddetail=1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(_classify(line) != "?" for line in lines), r.stderr
    assert lines[0].startswith("SCHED 0ms: gomaxprocs=2 ")
