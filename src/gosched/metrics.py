"""Runtime metrics with Go's ``runtime/metrics`` names and units.

* ``read()``: ``{name: value}`` for every metric, e.g.
  ``read()["/sched/goroutines:goroutines"]``; a histogram's value is a
  :class:`Histogram` (Go's ``Float64Histogram``: ``counts`` and ``buckets``).
* ``all()``: a :class:`Description` of each (Go's ``metrics.All()``).
* ``prometheus()``: the same values in the Prometheus text exposition format,
  named as Go's Prometheus client names the Go runtime's
  (``go_sched_goroutines_goroutines``, ``go_sysmon_retakes_events_total``).
  gosched opens no listener: serve the text from your own HTTP handler.

Counters are kept by the thread that owns them (each M, sysmon) and summed at
read, as Go sums its per-P counters: reading costs the program nothing, and a
read is not atomic across metrics.
"""

from __future__ import annotations

from ._public import fixup_module_metadata as _fixup
from ._runtime import metrics as _metrics
from ._runtime import proc as _proc
from ._runtime.metrics import Description, Histogram

__all__ = ["Description", "Histogram", "all", "prometheus", "read"]


def all() -> list[Description]:  # Go's metrics.All (shadows the builtin here only)
    """Every metric gosched keeps, sorted by name (Go's ``metrics.All``)."""
    return list(_metrics.ALL)


def read() -> dict[str, int | Histogram]:
    """The current value of every metric, by name (Go's ``metrics.Read``).

    Callable from a goroutine or from a plain thread while ``gosched.run`` runs.
    """
    return _metrics.read(_proc.getsched("gosched.metrics.read()"))


def prometheus() -> str:
    """``read()`` in the Prometheus text exposition format (0.0.4), HELP and TYPE lines included."""
    return _metrics.prometheus(_metrics.read(_proc.getsched("gosched.metrics.prometheus()")))


_fixup(__name__, globals(), __all__)
