"""Liveness: the largest gap of a 1 ms ticker while another task hogs for 0.5 s.

Three hogs: a blocking call nobody wrapped (``time.sleep(0.5)``), a pure-Python
CPU loop, and the same call wrapped (``gosched.syscall``; asyncio's ``to_thread``;
Go's is a raw ``syscall.Nanosleep``, which Go's runtime wraps itself).
gosched and asyncio reuse the sysmon engineer's ``bench/liveness.py``
(``gosched_gap``/``asyncio_gap``, ``maxprocs=1``); uvloop runs ``asyncio_gap`` on
a uvloop loop; trio, gevent and Go are in ``bench/peers`` and ``bench/go``.
"""

from __future__ import annotations

import warnings
from typing import Any

from ._spec import Metric, Workload


def _hog(kind: str, title: str, label: str, **kw: Any) -> Workload:
    """A liveness workload: the ticker's gap beside a 0.5 s hog of ``kind``."""
    metric = Metric("gap_ms", f"ticker gap, {label}", "ms", "lower", "{:.1f}")
    return Workload(name=f"liveness-{kind if kind != 'sleep' else 'block'}", title=f"ticker gap, {title}",
                    metrics=(metric,), full={"kind": kind}, quick={"kind": kind}, runs=3, **kw)


WORKLOADS = (
    _hog("sleep", "blocking call (0.5 s time.sleep)", "blocking call"),
    _hog("cpu", "CPU loop (0.5 s)", "CPU loop"),
    _hog("syscall", "wrapped blocking call (0.5 s gosched.syscall)", "gosched.syscall",
         runtimes=("gosched", "asyncio", "uvloop", "go")),
)


def _quiet() -> None:
    try:
        from gosched import debug

        debug.set_blocking_report(False)
    except (ImportError, AttributeError):
        pass
    import gosched

    warnings.simplefilter("ignore", gosched.BlockingWarning)


def run_gosched(kind: str) -> dict[str, Any]:
    from . import liveness

    _quiet()
    return {"gap_ms": liveness.gosched_gap(kind) * 1e3}


def run_asyncio(kind: str, use_uvloop: bool = False) -> dict[str, Any]:
    import asyncio

    from . import liveness

    if use_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return {"gap_ms": liveness.asyncio_gap(kind) * 1e3}
