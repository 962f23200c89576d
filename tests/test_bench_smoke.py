"""Smoke test of the benchmark harness (bench/): tiny sizes, gosched and asyncio only.

The benchmarks themselves are not tests; this only checks that ``python -m bench``
still runs end to end against the current runtime API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (ROOT / "bench" / "__main__.py").exists(), reason="no bench/ in this checkout")
def test_bench_quick_runs() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    r = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "gosched,asyncio",
         "--workloads", "spawn,pingpong,fanin,timers,memory,idle"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "failed" not in out and "timeout after" not in out, out[-2000:]
    for name in ("spawn", "pingpong", "fanin", "timers", "memory", "idle"):
        assert f"== {name} " in out
    assert out.count("gosched ") >= 6
    assert "wake-ups while asleep (steady)" in out  # sampled from outside the process


@pytest.mark.skipif(not (ROOT / "bench" / "timerfloor.py").exists(), reason="no bench/ in this checkout")
def test_timer_floor_probe_runs() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    r = subprocess.run([sys.executable, "-m", "bench.timerfloor", "--runs", "2"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "largest gap of a plain thread's 1 ms ticks over 500 ms, 2 runs: median" in r.stdout
