"""One measurement in a fresh process: ``python -m bench.worker WORKLOAD RUNTIME PARAMS_JSON``.

Prints ``RESULT {json}`` on stdout (see ``_common.emit``).
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from . import _spec
from ._common import emit


def dispatch(workload: str, runtime: str, params: dict[str, Any]) -> dict[str, Any]:
    found = [m for w, m in _spec.all_workloads() if w.name == workload]
    if not found:
        raise SystemExit(f"unknown workload {workload!r}")
    mod = found[0]
    fn_name = workload.split("-")[0]
    if hasattr(mod, "run_any"):  # the workload runs every runtime itself (echo, aio-*)
        return dict(mod.run_any(runtime, **params))
    if runtime == "gosched":
        return dict(mod.run_gosched(**params))
    if runtime in ("asyncio", "uvloop"):
        uv = runtime == "uvloop"
        if fn_name in ("liveness", "crowd"):
            return dict(mod.run_asyncio(**params, use_uvloop=uv))
        from .peers import aio

        return dict(getattr(aio, fn_name)(**params, use_uvloop=uv))
    if runtime == "trio":
        from .peers import trio_

        return dict(getattr(trio_, fn_name)(**params))
    if runtime == "gevent":
        if hasattr(mod, "run_gevent"):
            return dict(mod.run_gevent(**params))
        from .peers import gevent_

        return dict(getattr(gevent_, fn_name)(**params))
    raise SystemExit(f"unknown runtime {runtime!r}")


def main(argv: list[str]) -> None:
    # sysmon's BlockingWarning is part of the runtime's cost, but not of the output.
    warnings.filterwarnings("ignore", message=".*held its P")
    workload, runtime, params = argv[0], argv[1], json.loads(argv[2])
    emit(dispatch(workload, runtime, params))


if __name__ == "__main__":
    main(sys.argv[1:])
