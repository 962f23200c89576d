"""TCP echo round trips/s, driven by a non-Python load generator.

The echo benchmark is the network engineer's ``bench/echo/`` (a C load generator,
``loadgen.c``, against one idiomatic server per runtime in ``servers.py``). This row
calls its ``run.build()`` and ``run.bench(kind, loadgen, conns, seconds, size)`` for the
Python runtimes, and drives the Go server from ``bench/go/echo.go`` with the same
load generator and arguments. 50 connections, 64-byte messages.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from types import ModuleType
from typing import Any

from ._spec import Metric, Workload

CONNS = 50
SIZE = 64

WORKLOADS = (
    Workload(
        name="echo",
        title="TCP echo, C load generator, 50 conns, 64 B",
        metrics=(Metric("rt_per_s", "TCP echo", "round trips/s", "higher"),),
        full={"seconds": 3.0},
        quick={"seconds": 0.5},
        runs=3,
        timeout_s=90.0,
    ),
)


def entry_point() -> ModuleType | None:
    """``bench.echo.run`` when it has ``build`` and ``bench``, else None."""
    try:
        mod = importlib.import_module("bench.echo.run")
    except ImportError:
        return None
    return mod if callable(getattr(mod, "build", None)) and callable(getattr(mod, "bench", None)) else None


def pending_reason() -> str | None:
    if entry_point() is None:
        return "pending: bench/echo/run.py (TCP echo with a non-Python load generator) is not there yet"
    if shutil.which("gcc") is None:
        return "pending: gcc is needed to build bench/echo/loadgen.c"
    return None


def _go(loadgen: str, seconds: float) -> dict[str, float]:
    gobin = os.environ.get("GOSCHED_BENCH_GOBIN")
    if not gobin:
        raise RuntimeError("Go binary not built")
    srv = subprocess.Popen([gobin, "echoserver"], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"go echo server did not start: {line}")
        r = subprocess.run([loadgen, "127.0.0.1", line[1], str(CONNS), str(seconds), str(SIZE), "1"],
                           capture_output=True, text=True, timeout=seconds + 60)
        if r.returncode:
            raise RuntimeError(f"loadgen against go failed: {r.stderr.strip()}")
        return {k: float(v) for k, v in (kv.split("=") for kv in r.stdout.split())}
    finally:
        srv.kill()
        srv.wait()


def run_any(runtime: str, seconds: float) -> dict[str, Any]:
    mod = entry_point()
    if mod is None:
        raise RuntimeError(pending_reason())
    loadgen = mod.build()
    res = _go(loadgen, seconds) if runtime == "go" else mod.bench(runtime, loadgen, CONNS, seconds, SIZE)
    return {"rt_per_s": float(res["rps"])}
