"""``python -m gosched run``: run a program under the gosched runtime."""

from __future__ import annotations

import inspect
import os
import runpy
import sys
from typing import Any

from .._runtime import main as _main
from ._flags import fail, parse

HELP = "run a program's main under the runtime"

DOC = """\
usage: python -m gosched run [-maxprocs n] [-leakcheck] prog.py | -m module [arguments...]

Run runs the named Python file, or module with -m, as __main__ with the
arguments after it in sys.argv, as python itself would. Then:

  - if the program called gosched.run (usually under
    'if __name__ == "__main__":'), that was the run: nothing more happens;
  - otherwise, if it defines a module-level 'async def main()', run calls
    gosched.run(main) and exits with its result when that is an int
    (0 when it is None).

A program that neither calls gosched.run nor defines an async main is an error.

The -maxprocs flag sets GOMAXPROCS (also through the environment, so a
program's own gosched.run sees it). The -leakcheck flag reports goroutines
leaked when main returns (gosched.debug.LeakWarning), when run itself starts
main.
"""


def main(argv: list[str]) -> int:
    parsed = parse(argv, {"maxprocs": int, "leakcheck": None, "m": str}, DOC)
    if isinstance(parsed, int):
        return parsed
    flags, rest = parsed
    module = flags.get("m")
    if module is None and not rest:
        return fail("run", "no program to run\n" + DOC, 2)
    maxprocs = flags.get("maxprocs")
    if maxprocs is not None:
        if maxprocs < 1:
            return fail("run", f"-maxprocs must be >= 1, not {maxprocs}", 2)
        os.environ["GOMAXPROCS"] = str(maxprocs)
    before = _main.nruns
    if module is not None:
        sys.argv = [module, *rest]
        namespace = runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        path = rest[0]
        if not os.path.exists(path):
            return fail("run", f"{path}: no such file", 2)
        sys.argv = list(rest)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        namespace = runpy.run_path(path, run_name="__main__")
    if _main.nruns != before:
        return 0
    return _runmain(namespace, module or rest[0], maxprocs, bool(flags.get("leakcheck")))


def _runmain(namespace: dict[str, Any], what: str, maxprocs: int | None, leakcheck: bool) -> int:
    fn = namespace.get("main")
    if not inspect.iscoroutinefunction(fn):
        return fail("run", f"{what} did not call gosched.run and defines no 'async def main()'")
    result = _main.run(fn, maxprocs=maxprocs, leak_check=leakcheck)
    if result is None:
        return 0
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    print(result)
    return 0
