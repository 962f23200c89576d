"""gosched.aio: what CPython's own asyncio tests and libraries expect of a loop (issue 12).

Each test reproduces one bug of docs/aio-bugs.md on the gosched loop, in a fresh
interpreter where the test needs one (the order of imports, a swapped asyncio).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
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


def test_main_task_runs_on_the_main_thread_and_installs_signal_handlers() -> None:
    # aio-bugs #3: asyncio.Runner's main task runs on the thread that called run(), so
    # signal.signal works in it (uvicorn's signal capture checks for the main thread).
    got: list[int] = []

    async def main() -> tuple[bool, bool]:
        await asyncio.sleep(0.01)  # a later step too, not only the first
        old = signal.signal(signal.SIGUSR1, lambda sig, frame: got.append(sig))
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(500):
                if got:
                    break
                await asyncio.sleep(0.01)
        finally:
            signal.signal(signal.SIGUSR1, old)
        child = await asyncio.create_task(_a_goroutine_task())
        return threading.current_thread() is threading.main_thread(), child

    # tasks it creates are goroutines (on any M: the main thread is one while it runs the loop)
    assert aio.run(main()) == (True, True)
    assert got == [signal.SIGUSR1]


async def _a_goroutine_task() -> bool:
    return isinstance(asyncio.current_task(), aio.Task)


def test_main_task_stuck_in_a_blocking_call_does_not_stop_the_others() -> None:
    # the main task's steps run on the main thread: sysmon's retake must look there for
    # the stuck call (the M waits in gosched's code) and pass the loop's turn on
    async def ticker(ticks: list[float]) -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> int:
        ticks: list[float] = []
        t = asyncio.create_task(ticker(ticks))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        time.sleep(0.5)  # unwrapped, on the main thread
        during = sum(1 for x in ticks if t0 < x < t0 + 0.5)
        t.cancel()
        return during

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BlockingWarning, if any
        assert aio.run(main()) >= 5


def test_forked_child_uses_the_parents_loop_without_hanging() -> None:
    # aio-bugs #10: a ProcessPoolExecutor worker forked by a task (on an M) calls
    # asyncio.set_event_loop, whose child watcher removes the SIGCHLD handler of the
    # parent's loop (copied into the child): that call waited for the parent's main
    # thread, which the child does not have.
    r = _python(
        """
        import asyncio, concurrent.futures, faulthandler, multiprocessing, signal, warnings
        import gosched.aio

        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        parent = None

        def child():
            faulthandler.dump_traceback_later(20, exit=True)  # a hang ends the child, not the test
            return parent.remove_signal_handler(signal.SIGUSR1)

        async def forks():
            ctx = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as ex:
                return await asyncio.get_running_loop().run_in_executor(ex, child)

        async def main():
            global parent
            parent = asyncio.get_running_loop()
            return await asyncio.create_task(forks())

        print(gosched.aio.run(main()))
        """
    )
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr[-3000:]


def test_importing_gosched_aio_leaves_no_unclosed_loop() -> None:
    # the probe loop that finds asyncio's C TaskStepMethWrapper type at import was never
    # closed: "ResourceWarning: unclosed event loop <_Probe ...>" under -W always
    r = subprocess.run([sys.executable, "-W", "always", "-c", "import gc, gosched.aio; gc.collect()"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "unclosed event loop" not in r.stderr, r.stderr


def test_current_task_in_a_task_asyncio_steps_itself() -> None:
    # a Task made directly (asyncio.Task(coro, loop=...), as test_tasks' new_task does) is
    # stepped by asyncio's C __step inside the loop's dispatcher goroutine: current_task()
    # there is that task, not a task identity made up for the dispatcher
    loop = aio.new_event_loop()

    async def body() -> tuple[bool, int]:
        me = asyncio.current_task()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            me.uncancel()  # type: ignore[union-attr]
        return me is t, t.cancelling()

    try:
        t = asyncio.Task(body(), loop=loop)
        loop.run_until_complete(asyncio.sleep(0.01))
        t.cancel()
        assert loop.run_until_complete(t) == (True, 0)
    finally:
        loop.close()


def test_subprocess_that_exits_before_its_transport_is_returned() -> None:
    # 3.12+: a child that has exited by the time the transport is made has its
    # _exit_waiters set to None; the loop's own exit waiter must not be added then
    # ("'NoneType' object has no attribute 'append'", test_subprocess on 3.12)
    async def main() -> list[int | None]:
        codes = []
        for _ in range(100):
            p = await asyncio.create_subprocess_exec("true")
            codes.append(await p.wait())
        return codes

    assert aio.run(main()) == [0] * 100
