"""Helpers shared by the workers: clocks, memory, percentiles, result output."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu_seconds() -> float:
    """User + system CPU time of the whole process, all threads (ns clock, not ticks)."""
    return time.process_time()


def percentile(sorted_xs: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in [0, 100])."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, round(q / 100 * len(sorted_xs) + 0.5) - 1))
    return sorted_xs[k]


def settle() -> None:
    """Collect garbage so a memory baseline is comparable between runtimes."""
    gc.collect()
    gc.collect()


def emit(result: dict[str, Any]) -> None:
    """Print the one JSON line the harness reads, then leave without teardown.

    Tearing down 100,000 parked tasks costs seconds in some runtimes and is
    not what is being measured, so the worker ends with ``os._exit``.
    """
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
