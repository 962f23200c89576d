"""CPython's own asyncio tests (``test.test_asyncio``) against another event loop (issue 12).

    python tests/aio_cpython.py                              # gosched.aio, the modules below
    python tests/aio_cpython.py --loop uvloop:new_event_loop # any loop factory, by import path
    python tests/aio_cpython.py --loop asyncio:SelectorEventLoop  # asyncio's own (not new_event_loop:
                                                             # that asks the policy, which is replaced)
    python tests/aio_cpython.py --modules test_events,test_streams -v
    python tests/aio_cpython.py --write-expected             # rewrite the list's test ids (keeps reasons)
    python tests/aio_cpython.py --ci                         # CI's job: fewer test_tasks pairings and
                                                             # test_subprocess watchers (CI_SKIP)

How the loop gets in, as uvloop's suite does for its loop: the test classes that build
their loop in ``create_event_loop`` (test_events' ``EventLoopTestsMixin`` subclasses,
test_sock_lowlevel, test_sendfile) are run once, through a subclass whose
``create_event_loop`` calls the factory (one per mixin: the epoll variant; the others
differ only in asyncio's selector); every other test (``asyncio.run``, ``Runner``,
``IsolatedAsyncioTestCase``, ``asyncio.new_event_loop()``) gets it through the event
loop policy, including a policy a test resets or builds from ``DefaultEventLoopPolicy``.
Tests on asyncio's virtual-time ``TestLoop`` keep it (they run, but test asyncio's code).

Each module runs in its own process, with a per-test alarm; a test that hangs anyway or
kills the process is recorded (``hang`` / ``crash``) and a new process goes on with the
next test. The exit
status is 1 only for a regression: a test that fails (or hangs) and is not in the
expected-failures list (``tests/aio_cpython_expected.txt``: ``test.id  # reason``, or
``test.id @3.12,3.13  # reason`` for some Pythons only). Listed tests that pass are
reported, to be taken off the list. CI runs this as its own step (``.ci/run``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "aio_cpython_expected.txt"
MODULES = (
    "test_events", "test_futures", "test_futures2", "test_tasks", "test_queues", "test_locks",
    "test_streams", "test_sock_lowlevel", "test_server", "test_taskgroups", "test_timeouts",
    "test_waitfor", "test_context", "test_pep492", "test_runners", "test_subprocess", "test_sendfile",
    "test_buffered_proto", "test_protocols", "test_sslproto", "test_ssl", "test_threads",
    "test_eager_task_factory",  # 3.12+
)
# test_tasks runs its ~106 tests once per Task/Future pairing (8 classes: most of the job's time),
# test_subprocess its ~30 once per child watcher: the CI-sized job (--ci) keeps the C pairing and
# the pure-Python one, the threaded and pidfd watchers, and leaves out the mixes and deprecated watchers.
CI_SKIP = ("CTaskSubclass_PyFuture_Tests", "CTask_CFuture_SubclassTests", "CTask_PyFuture_Tests",
           "PyTask_CFutureSubclass_Tests", "PyTask_CFuture_Tests", "PyTask_PyFuture_SubclassTests",
           "SubprocessMultiLoopWatcherTests", "SubprocessSafeWatcherTests", "SubprocessFastWatcherTests")
TEST_TIMEOUT_S = 60
FAILED = ("fail", "error", "hang", "crash")  # in this order in the per-module line
VERSION = "{}.{}".format(*sys.version_info[:2])


# ------------------------------------------------------------------ the child ----
def install_loop(path: str) -> Any:
    """Make ``path``'s factory the loop every policy (present or future) hands out."""
    import asyncio

    mod, _, attr = path.partition(":")
    factory = getattr(importlib.import_module(mod), attr)

    class Policy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            loop: asyncio.AbstractEventLoop = factory()
            return loop

    asyncio.DefaultEventLoopPolicy = Policy  # what set_event_loop_policy(None) instantiates next
    asyncio.set_event_loop_policy(Policy())
    tolerate_private_executor()
    return factory


def tolerate_private_executor() -> None:
    """test_utils' teardown reads ``loop._default_executor`` (BaseEventLoop's); a loop without it
    (uvloop) has its executor shut down through the public coroutine instead."""
    from test.test_asyncio import utils as test_utils

    close_loop = test_utils.TestCase.close_loop

    def tolerant(loop: Any) -> None:
        if hasattr(loop, "_default_executor"):
            return close_loop(loop)  # type: ignore[no-any-return]
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    test_utils.TestCase.close_loop = staticmethod(tolerant)


def pick(module: Any, factory: Any, skip: tuple[str, ...] = ()) -> unittest.TestSuite:
    """The module's tests, with one factory-built subclass per ``create_event_loop`` mixin
    (test classes named in ``skip`` left out)."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    chosen: dict[tuple[type, ...], type] = {}
    for name in sorted(dir(module)):
        cls = getattr(module, name)
        if not isinstance(cls, type) or not issubclass(cls, unittest.TestCase):
            continue
        if cls.__module__ != module.__name__ or name in skip:  # imported: run where it is defined
            continue
        if "create_event_loop" not in cls.__dict__:
            suite.addTests(loader.loadTestsFromTestCase(cls))
            continue
        prev = chosen.get(cls.__bases__)
        if prev is None or ("EPoll" in name and "EPoll" not in prev.__name__):
            chosen[cls.__bases__] = cls
    for cls in chosen.values():
        sub = type(cls.__name__, (cls,), {"create_event_loop": lambda self: factory(),
                                          "__module__": module.__name__})
        suite.addTests(loader.loadTestsFromTestCase(sub))
    return suite


class Hung(TimeoutError):
    """Raised by the per-test alarm."""


class Streamed(unittest.TextTestResult):
    """Prints ``R status id<TAB>why`` for every test as it ends (a killed child keeps what it printed);
    ``why`` is the last line of a failure's exception."""

    def _out(self, status: str, test: unittest.TestCase, err: Any = None) -> None:
        signal.alarm(0)
        why = traceback.format_exception_only(err[0], err[1])[-1].strip() if err else ""
        sys.__stdout__.write(f"R {status} {test.id()}\t{why[:160]}\n")  # type: ignore[union-attr]
        sys.__stdout__.flush()  # type: ignore[union-attr]

    def startTest(self, test: unittest.TestCase) -> None:
        sys.__stdout__.write(f"S {test.id()}\n")  # type: ignore[union-attr]
        sys.__stdout__.flush()  # type: ignore[union-attr]
        signal.alarm(TEST_TIMEOUT_S)
        super().startTest(test)

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._out("pass", test)

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._out("fail", test, err)

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self._out("error", test, err)
        if isinstance(err[1], Hung):  # interrupted anywhere: start the next test in a fresh process
            os._exit(3)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._out("skip", test)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._out("skip", test)  # CPython's own expectedFailure: not ours to count

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._out("pass", test)


def flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    out: list[unittest.TestCase] = []
    for t in suite:
        out.extend(flatten(t) if isinstance(t, unittest.TestSuite) else [t])
    return out


def child(module_name: str, loop: str, verbose: bool, skip: int, ci: bool) -> int:
    """Run the module's tests from the ``skip``-th on (the parent restarts after a hang or a crash)."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hung(f"test still running after {TEST_TIMEOUT_S} s")

    signal.signal(signal.SIGALRM, alarm)
    factory = install_loop(loop)
    module = importlib.import_module(f"test.test_asyncio.{module_name}")
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if verbose else 0, resultclass=Streamed)
    runner.run(unittest.TestSuite(flatten(pick(module, factory, CI_SKIP if ci else ()))[skip:]))
    sys.__stdout__.write("DONE\n")  # type: ignore[union-attr]
    return 0


# ----------------------------------------------------------------- the parent ----
def pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_module(module: str, loop: str, verbose: bool, ci: bool) -> tuple[dict[str, tuple[str, str]], str]:
    """``{test id: (status, why)}`` of one module, and the stderr tail of its last child.

    A test that hangs (no result within the alarm plus 30 s: the alarm cannot interrupt every
    wait) or crashes the child is recorded as ``hang`` / ``crash``; after it, or after a child
    that died between tests (an exception out of a teardown), a new child goes on with the next test.
    """
    results: dict[str, tuple[str, str]] = {}
    started = 0
    while True:
        before = started
        cmd = [sys.executable, "-X", "faulthandler", __file__, "--child", module, "--loop", loop,
               "--skip", str(started)] + (["-v"] if verbose else []) + (["--ci"] if ci else [])
        with tempfile.TemporaryFile("w+") as errf:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True)
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True).start()
            current, done = None, False
            while True:
                try:
                    line = lines.get(timeout=TEST_TIMEOUT_S + 30)
                except queue.Empty:
                    proc.kill()
                    results[current or f"test.test_asyncio.{module}.<unknown>"] = (
                        "hang", f"no result after {TEST_TIMEOUT_S + 30} s")
                    break
                if line is None:
                    break
                done = done or line == "DONE\n"
                kind, _, rest = line.rstrip("\n").partition(" ")
                if kind == "S":
                    current, started = rest, started + 1
                elif kind == "R":
                    status, _, rest = rest.partition(" ")
                    tid, _, why = rest.partition("\t")
                    results[tid], current = (status, why), None
            proc.wait()
            errf.seek(0)
            err = errf.read()
        if done or started == before:  # finished, or died before its first test (no progress)
            if not done:
                results[f"test.test_asyncio.{module}.<module>"] = ("crash", err.strip()[-160:])
            return results, err[-3000:]
        if current is not None and current not in results:  # the child died inside this test
            last = err.strip().splitlines()[-1] if err.strip() else f"exit status {proc.returncode}"
            results[current] = ("crash", f"child died (status {proc.returncode}): {last}"[:160])


def read_expected(path: Path) -> dict[str, str]:
    """``{test id: reason}`` of the lines that apply to this Python."""
    out = {}
    for raw in path.read_text().splitlines() if path.exists() else []:
        line, _, reason = raw.partition("#")
        fields = line.split()
        if not fields:
            continue
        versions = [f[1:].split(",") for f in fields[1:] if f.startswith("@")]
        if versions and VERSION not in versions[0]:
            continue
        out[fields[0]] = reason.strip()
    return out


def write_expected(path: Path, failed: dict[str, str], old: dict[str, str], ran: set[str]) -> None:
    """This run's failing ids, each with its old reason (else its exception); the lines of other
    Pythons, and of tests this run left out (--ci, --modules), kept."""
    def kept(raw: str) -> bool:
        line = raw.split("#")[0]
        fields = line.split()
        if not fields:
            return raw.startswith("#")  # the header
        return ("@" in line and VERSION not in line) or fields[0] not in ran

    keep = [raw for raw in (path.read_text().splitlines() if path.exists() else []) if kept(raw)]
    lines = [f"{tid}  # {old.get(tid) or failed[tid]}" for tid in sorted(failed)]
    path.write_text("\n".join([*keep, *lines]) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", default="gosched.aio:new_event_loop",
                    help="event loop factory, module:callable (asyncio's own: asyncio:SelectorEventLoop)")
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--expected", type=Path, default=EXPECTED)
    ap.add_argument("--write-expected", action="store_true")
    ap.add_argument("--ci", action="store_true", help="the CI-sized job (the classes in CI_SKIP left out)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--skip", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.child:
        return child(a.child, a.loop, a.verbose, a.skip, a.ci)
    expected = read_expected(a.expected)
    results: dict[str, tuple[str, str]] = {}
    t0 = time.monotonic()
    for module in a.modules.split(","):
        try:
            importlib.import_module(f"test.test_asyncio.{module}")
        except ImportError:  # a module of another Python (test_eager_task_factory is 3.12+)
            continue
        t1 = time.monotonic()
        res, err = run_module(module, a.loop, a.verbose, a.ci)
        results.update(res)
        c = Counter(s for s, _ in res.values())
        print(f"{module:<26} " + " ".join(f"{k} {c[k]}" for k in ("pass", *FAILED, "skip"))
              + f" ({time.monotonic() - t1:.0f} s)", flush=True)
        if a.verbose or c["hang"] or c["crash"]:
            print(err)
    failed = {t: why for t, (s, why) in results.items() if s in FAILED}
    regressions = sorted(t for t in failed if t not in expected)
    fixed = sorted(t for t, (s, _) in results.items() if s == "pass" and t in expected)
    c = Counter(s for s, _ in results.values())
    print(f"\nPython {VERSION}, loop {a.loop}: {c['pass']} passed, {len(failed)} failed "
          f"({len(failed) - len(regressions)} expected), {c['skip']} skipped, "
          f"of {len(results)} in {time.monotonic() - t0:.0f} s")
    for t in fixed:
        print(f"now passes (take it off {a.expected.name}): {t}")
    for t in regressions:
        print(f"REGRESSION: {t} {results[t][0]}: {failed[t]}")
    if a.write_expected:
        write_expected(a.expected, failed, expected, set(results))
        print(f"wrote {a.expected}")
        return 0
    return 1 if regressions else 0

if __name__ == "__main__":
    raise SystemExit(main())
