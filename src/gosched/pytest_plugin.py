"""pytest plugin: run ``async def`` tests as goroutine 1 of a fresh ``gosched.run``.

Registered through the ``pytest11`` entry point ``gosched``. A test runs under
gosched when it is marked ``@pytest.mark.gosched`` (with optional
``maxprocs=``, ``clock="fake"|"real"``, ``timeout=`` seconds), or when it is any
``async def`` test and ``--gosched-all`` (ini ``gosched_all = true``) is given.

* A deadlock fails the test with Go's message and the goroutine dump.
* With ``--gosched-leaks`` (ini ``gosched_leaks = true``), or for a test marked
  ``@pytest.mark.gosched_leaks`` (or ``@pytest.mark.gosched(leaks=True)``), a
  test whose main returns leaving goroutines behind -- leaked (blocked forever)
  or still able to run -- fails with their dump entries, as goleak's
  ``VerifyNone`` fails a Go test.
* A test still running after the timeout (``--gosched-timeout``, ini
  ``gosched_timeout``, default 60 s; 0 disables) fails with the dump instead of
  hanging the suite. Its goroutines are closed as at the end of any run
  (docs/design.md, "The end of a run"); one stuck in a CPU loop that never
  calls the runtime keeps its (daemon) thread busy.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Generator
from typing import Any

import pytest

import gosched
from gosched._runtime import checkdead as _checkdead
from gosched._runtime import panic as _panic
from gosched._runtime import proc as _proc
from gosched._runtime.dump import dump as _dump
from gosched.debug import Leak


class GoroutineTimeout(RuntimeError):
    """The test ran past its timeout; the message holds the goroutine dump."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gosched")
    group.addoption("--gosched-all", action="store_true", default=None,
                    help="run every async def test under gosched.run")
    group.addoption("--gosched-maxprocs", type=int, default=None, help="GOMAXPROCS for gosched tests")
    group.addoption("--gosched-clock", choices=("real", "fake"), default=None,
                    help="clock for gosched tests (default real)")
    group.addoption("--gosched-timeout", type=float, default=None,
                    help="fail a gosched test after this many seconds with a goroutine dump (0: never)")
    group.addoption("--gosched-leaks", action="store_true", default=None,
                    help="fail a gosched test that leaves goroutines leaked or running (goleak's VerifyNone)")
    parser.addini("gosched_all", "run every async def test under gosched.run", type="bool", default=False)
    parser.addini("gosched_maxprocs", "GOMAXPROCS for gosched tests", default="")
    parser.addini("gosched_clock", "clock for gosched tests: real or fake", default="real")
    parser.addini("gosched_timeout", "seconds before a gosched test fails with a dump (0: never)",
                  default="60")
    parser.addini("gosched_leaks", "fail a gosched test that leaves goroutines behind", type="bool",
                  default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gosched(maxprocs=None, clock='real', timeout=None, leaks=False): "
        "run this async def test under gosched.run",
    )
    config.addinivalue_line(
        "markers",
        "gosched_leaks: fail this gosched test if it leaves goroutines leaked or running",
    )
    config.pluginmanager.register(_AsyncHint(), "gosched-async-hint")


def _setting(config: pytest.Config, name: str) -> Any:
    v = config.getoption(f"--gosched-{name}")
    if v is not None:
        return v
    return config.getini(f"gosched_{name}")


def _wanted(item: pytest.Function) -> bool:
    if not inspect.iscoroutinefunction(item.obj):
        return False
    return item.get_closest_marker("gosched") is not None or bool(_setting(item.config, "all"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _wanted(pyfuncitem):
        return None
    marker = pyfuncitem.get_closest_marker("gosched")
    kw: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    maxprocs = kw.get("maxprocs", _setting(pyfuncitem.config, "maxprocs") or None)
    clock = kw.get("clock", _setting(pyfuncitem.config, "clock") or "real")
    timeout = float(kw.get("timeout", _setting(pyfuncitem.config, "timeout") or 0))
    leaks = bool(
        kw.get("leaks", _setting(pyfuncitem.config, "leaks"))
        or pyfuncitem.get_closest_marker("gosched_leaks") is not None
    )
    names = pyfuncitem._fixtureinfo.argnames
    args = {k: pyfuncitem.funcargs[k] for k in names}
    _run(pyfuncitem.obj, args, int(maxprocs) if maxprocs else None, str(clock), timeout, leaks)
    return True


# pytest >= 8.4 fails an unclaimed async test with the first; older ones skip it with the second.
_UNSUPPORTED = ("async def functions are not natively supported", "async def function and no async plugin")
_HINT = (
    "gosched: mark the test @pytest.mark.gosched to run it as goroutine 1 of gosched.run, "
    "or run every async def test so with --gosched-all (ini: gosched_all = true)"
)


class _AsyncHint:
    """Names the marker in pytest's message for an async test that no plugin ran.

    pytest's own ``pytest_pyfunc_call`` (the last in the chain) fails such a test
    with a generic "async def functions are not natively supported" (pytest < 8.4
    skips it, "async def function and no async plugin installed"). Getting there
    means no plugin (gosched, pytest-asyncio, anyio...) claimed the test, so this
    wrapper adds the hint to that message. A class registered in
    pytest_configure, because this module already implements the hook itself.
    """

    @pytest.hookimpl(hookwrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, None]:
        outcome = yield
        exc = outcome.excinfo[1] if outcome.excinfo is not None else None
        if (
            isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception))
            and any(words in (exc.msg or "") for words in _UNSUPPORTED)
            and inspect.iscoroutinefunction(pyfuncitem.obj)
        ):
            exc.msg = f"{exc.msg}\n{_HINT}"


def _run(
    fn: Any, args: dict[str, Any], maxprocs: int | None, clock: str, timeout: float, leaks: bool
) -> None:
    done = threading.Event()
    left: list[Leak] = []

    def watchdog() -> None:
        if done.wait(timeout):
            return
        sched = _proc.current
        if sched is None or sched.dead:
            return
        text = _dump(sched)
        _panic.fatal(sched, GoroutineTimeout(f"test timed out after {timeout:g}s\n\n{text}"))

    if timeout > 0:
        dog = threading.Thread(target=watchdog, name="gosched-test-timeout", daemon=True)
        _checkdead.quiet.add(dog)  # it never wakes a goroutine: no outsider for checkdead
        dog.start()
    failure = None
    try:
        gosched.run(functools.partial(fn, **args), maxprocs=maxprocs, clock=clock,
                    leak_check=left.extend if leaks else False)
        if left:
            failure = _leftreport(left)
    except gosched.Deadlock as e:
        failure = f"fatal error: {e}"
    except GoroutineTimeout as e:
        failure = str(e)
    finally:
        done.set()
    if failure is not None:
        # Outside the except clause: failing inside it would chain the exception
        # and pytest would print the dump twice ("During handling of ...").
        pytest.fail(failure, pytrace=False)


def _leftreport(left: list[Leak]) -> str:
    """goleak's "found unexpected goroutines", with gosched's dump entries."""
    n = sum(e.leaked for e in left)
    return (
        f"gosched: found unexpected goroutines when the test returned "
        f"({len(left)} left, {n} leaked):\n\n" + "\n\n".join(e.dump for e in left)
    )
