"""gosched.aio: what CPython's own asyncio tests and libraries expect of a loop (issue 12).

Each test reproduces one bug of docs/aio-bugs.md on the gosched loop, in a fresh
interpreter where the test needs one (the order of imports, a swapped asyncio).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from asyncio import events

import pytest

import gosched.aio as aio


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


def test_pure_python_running_loop_functions() -> None:
    # aio-bugs #11: test_events' TestPyGetEventLoop swaps asyncio's running-loop functions
    # for their pure-Python versions; the loop must use the ones in place at each call, and
    # leave no running loop behind in either slot.
    names = ("_get_running_loop", "_set_running_loop", "get_running_loop")
    saved = [(mod, n, getattr(mod, n)) for mod in (events, asyncio) for n in names]

    async def main() -> bool:
        await asyncio.sleep(0)
        return events._get_running_loop() is asyncio.get_running_loop()

    for mod, n, _ in saved:  # as GetEventLoopTestsMixin.setUp does
        setattr(mod, n, getattr(events, f"_py_{n}"))
    try:
        loop = aio.new_event_loop()
        try:
            assert loop.run_until_complete(main())
        finally:
            loop.close()
    finally:
        for mod, n, fn in saved:
            setattr(mod, n, fn)
    assert events._py__get_running_loop() is None  # type: ignore[attr-defined]
    assert events._c__get_running_loop() is None  # type: ignore[attr-defined]
    assert aio.run(main())  # the next loop starts: no "another loop is running"


def test_current_task_bound_by_a_library_imported_before_gosched_aio() -> None:
    # aio-bugs #12: anyio's pytest plugin imports its asyncio backend, which binds
    # asyncio.current_task by name (C's builtin on 3.12+), before gosched.aio is imported:
    # its cancel scopes in a plain goroutine must still see the goroutine's task.
    r = _python(
        """
        import asyncio
        import anyio._backends._asyncio as backend
        import anyio
        import gosched, gosched.aio

        async def main():
            with anyio.move_on_after(0.01) as scope:
                await anyio.sleep(5)
            return scope.cancelled_caught, backend.current_task() is asyncio.current_task() is not None

        print(gosched.run(main, maxprocs=2))
        """
    )
    assert r.returncode == 0 and r.stdout.strip() == "(True, True)", r.stderr[-3000:]


@pytest.mark.parametrize("procs", [1, 2])
def test_current_task_is_exact_per_goroutine_on_several_ms(procs: int) -> None:
    # the rebinding answers per goroutine, never another M's task
    r = _python(
        f"""
        import asyncio, sys
        from anyio._backends._asyncio import current_task as early
        import gosched, gosched.aio

        sys.setswitchinterval(1e-5)

        async def child(out, wg):
            try:
                for _ in range(50):
                    await asyncio.sleep(0)
                    t = early()
                    out.append(t is not None and t is asyncio.current_task())
            finally:
                wg.done()

        async def main():
            out, wg = [], gosched.WaitGroup()
            for _ in range(8):
                wg.add(1)
                gosched.go(child, out, wg)
            await wg.wait()
            return len(out), all(out)

        print(gosched.run(main, maxprocs={procs}))
        """
    )
    assert r.returncode == 0 and r.stdout.strip() == "(400, True)", r.stderr[-3000:]
