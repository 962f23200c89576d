"""TCP echo round trips/s, driven by the network engineer's non-Python load generator.

That benchmark lives in ``bench/echo/`` and is not part of this suite's code. When
``bench.echo`` exposes ``run(runtime: str, seconds: float) -> dict`` with an
``rt_per_s`` key, this row calls it; until then the row is reported as pending.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._spec import Metric, Workload

WORKLOADS = (
    Workload(
        name="echo",
        title="TCP echo (non-Python load generator)",
        metrics=(Metric("rt_per_s", "TCP echo", "round trips/s", "higher"),),
        full={"seconds": 3.0},
        quick={"seconds": 0.5},
        runs=3,
        timeout_s=60.0,
    ),
)


def entry_point() -> Any | None:
    """``bench.echo.run`` if the echo benchmark exists with that entry point, else None."""
    try:
        mod = importlib.import_module("bench.echo")
    except ImportError:
        return None
    fn = getattr(mod, "run", None)
    return fn if callable(fn) else None


def pending_reason() -> str | None:
    if entry_point() is None:
        return "pending: bench/echo (TCP echo with a non-Python load generator) has no run() entry point yet"
    return None


def run_any(runtime: str, seconds: float) -> dict[str, Any]:
    fn = entry_point()
    if fn is None:
        raise RuntimeError(pending_reason())
    res: dict[str, Any] = fn(runtime, seconds)
    return {"rt_per_s": float(res["rt_per_s"])}
