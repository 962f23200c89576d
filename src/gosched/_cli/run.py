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
    if module is None and not os.path.exists(rest[0]):
        return fail("run", f"{rest[0]}: no such file", 2)
    namespace = execute(module, rest)
    if _main.nruns != before:
        return 0
    return runmain(namespace, module or rest[0], maxprocs, bool(flags.get("leakcheck")))


def execute(module: str | None, args: list[str]) -> dict[str, Any]:
    """Run ``args[0]`` (a file), or ``module``, as ``__main__`` with ``args`` in sys.argv,
    as ``python`` would; return its globals."""
    if module is not None:
        sys.argv = [module, *args]
        return runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.argv = list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
    return runpy.run_path(args[0], run_name="__main__")


def runmain(namespace: dict[str, Any], what: str, maxprocs: int | None, leakcheck: bool) -> int:
    """The convention's second half: ``gosched.run`` the program's ``async def main()``;
    the exit status is an int it returns, else 0."""
    fn = namespace.get("main")
    if not inspect.iscoroutinefunction(fn):
        return fail("run", f"{what} did not call gosched.run and defines no 'async def main()'")
    result = _main.run(fn, maxprocs=maxprocs, leak_check=leakcheck)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
