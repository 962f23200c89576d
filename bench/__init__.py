"""gosched benchmark suite against asyncio, uvloop, trio, gevent and Go.

Run ``python -m bench`` (``--quick`` for a smoke run, ``--help`` for the options).
Every measurement runs in a fresh process (``python -m bench.worker`` or the Go
binary built from ``bench/go``), so runtimes cannot disturb each other.
"""

from __future__ import annotations

__all__ = ["BASE", "PYTHON_RUNTIMES", "RUNTIMES"]

# gosched-pure: gosched with GOSCHED_PURE_PYTHON=1 (no C accelerator), the same workloads.
PYTHON_RUNTIMES = ("gosched", "gosched-pure", "asyncio", "uvloop", "trio", "gevent")
# go-p1: the same Go programs with GOMAXPROCS=1 (gosched's default on a GIL build).
RUNTIMES = (*PYTHON_RUNTIMES, "go", "go-p1")
# A column that runs another's code in another environment: its base runtime.
BASE = {"gosched-pure": "gosched", "go-p1": "go"}
