"""The main thread as an M while it runs a gosched.aio loop (docs/aio-bugs.md #14, docs/aio.md).

asyncio's main task runs its steps on the main thread (signal.signal works there:
aio-bugs #3). While the main thread is in run_forever it is an M of the runtime and
runs the other tasks too, so tasks that ping-pong with the main task need no thread
hand-off. Each program runs in a child process (GOMAXPROCS is read when the loop's
runtime starts), bounded by a timeout and faulthandler.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

HEADER = """
import asyncio, faulthandler, os, signal, sys, threading, time, warnings
import gosched, gosched.aio as aio
faulthandler.dump_traceback_later(50, exit=True)
warnings.simplefilter("ignore")  # BlockingWarnings of the stuck calls
"""


def _run(code: str, procs: int, timeout: float = 60) -> str:
    env = dict(os.environ, GOMAXPROCS=str(procs))
    r = subprocess.run([sys.executable, "-c", HEADER + textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout.strip()


def test_main_task_and_another_task_ping_pong_on_the_main_thread() -> None:
    # GOMAXPROCS 1: the P stays on the main thread, which runs both tasks (no hand-off);
    # before, the other task ran on an M and each main step was posted to the main thread.
    out = _run(
        """
        async def ponger(ping, pong, seen):
            while True:
                v = await ping.get()
                seen.add(threading.get_ident())
                await pong.put(v)

        async def main():
            got = []
            old = signal.signal(signal.SIGUSR1, lambda *a: got.append("sig"))  # the main thread's call
            signal.signal(signal.SIGUSR1, old)
            ping, pong, seen, mine = asyncio.Queue(1), asyncio.Queue(1), set(), set()
            t = asyncio.create_task(ponger(ping, pong, seen))
            for i in range(2000):
                await ping.put(i)
                assert await pong.get() == i
                mine.add(threading.get_ident())
            t.cancel()
            main = threading.main_thread().ident
            # a retake (a step that lost its CPU 10 ms on a loaded machine) moves the P elsewhere
            return mine == {main}, seen == {main} or gosched.metrics.read()["/sysmon/retakes:events"] > 0

        print(aio.run(main()))
        """,
        procs=1,
    )
    assert out == "(True, True)"


def test_a_task_stuck_on_the_main_thread_does_not_stop_the_main_task() -> None:
    # Another task's unwrapped time.sleep runs on the main thread (the main task is parked):
    # sysmon retakes the P, and the main task, readied meanwhile, runs elsewhere (mainm.handto)
    # instead of waiting for the stuck call; signal.signal still works in its later steps.
    out = _run(
        """
        async def sleeper():
            time.sleep(1.0)  # unwrapped, on the main thread

        async def main():
            s = asyncio.create_task(sleeper())
            await asyncio.sleep(0)  # the sleeper's first step runs on this thread now
            ticks, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < 0.6:
                await asyncio.sleep(0.01)
                ticks += 1
            await s
            signal.signal(signal.SIGUSR2, signal.getsignal(signal.SIGUSR2))
            return ticks

        print(aio.run(main()))
        """,
        procs=1,
    )
    assert int(out) >= 10  # asyncio's loop: 1 (the sleep holds the only thread)


def test_main_task_stuck_in_time_sleep_does_not_stop_a_ticker() -> None:
    out = _run(
        """
        async def ticker(ticks):
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        async def main():
            ticks = []
            t = asyncio.create_task(ticker(ticks))
            await asyncio.sleep(0.05)
            t0 = time.monotonic()
            time.sleep(0.5)  # unwrapped, in the main task, on the main thread
            t.cancel()
            return sum(1 for x in ticks if t0 < x < t0 + 0.5)

        print(aio.run(main()))
        """,
        procs=1,
    )
    assert int(out) >= 5


@pytest.mark.parametrize("procs", [1, 4])
def test_main_task_ping_pongs_with_many_tasks_under_stress(procs: int) -> None:
    # Several Ms, a tiny switch interval: the main task hands values to 16 tasks and takes
    # them back; every value comes back once, over several runs of the same loop (the main
    # thread leaves the scheduler and comes back; the tasks live on between runs).
    out = _run(
        """
        sys.setswitchinterval(1e-6)

        async def echo(inq, outq):
            while True:
                v = await inq.get()
                if v % 7 == 0:
                    await asyncio.sleep(0)
                await outq.put(v)

        async def round_(qs, back, base, n):
            for i in range(n):
                await qs[i % len(qs)].put(base + i)
            got = [await back.get() for _ in range(n)]
            return sorted(got) == list(range(base, base + n))

        loop = aio.new_event_loop()
        try:
            qs = [asyncio.Queue(2) for _ in range(16)]
            back = asyncio.Queue()
            tasks = [loop.create_task(echo(q, back)) for q in qs]
            ok = [loop.run_until_complete(round_(qs, back, r * 1000, 600)) for r in range(5)]
            for t in tasks:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            loop.close()
        print(all(ok), len(ok))
        """,
        procs=procs,
        timeout=120,
    )
    assert out == "True 5"


def test_run_until_complete_returns_while_other_tasks_keep_running() -> None:
    # stop() must reach the main thread while it runs other goroutines (it leaves the
    # scheduler between two of them), and the tasks go on at the next run.
    out = _run(
        """
        async def pingpong(a, b, count):
            while True:
                await b.put(await a.get())
                count[0] += 1

        async def main(a):
            await a.put(0)
            await asyncio.sleep(0.05)
            return "done"

        loop = aio.new_event_loop()
        a, b, count = asyncio.Queue(1), asyncio.Queue(1), [0]
        t1 = loop.create_task(pingpong(a, b, count))
        t2 = loop.create_task(pingpong(b, a, count))
        t0 = time.monotonic()
        r = loop.run_until_complete(main(a))
        took = time.monotonic() - t0
        before = count[0]
        loop.run_until_complete(asyncio.sleep(0.05))
        t1.cancel(); t2.cancel()
        loop.run_until_complete(asyncio.gather(t1, t2, return_exceptions=True))
        loop.close()
        print(r, took < 5, before > 0, count[0] > before)
        """,
        procs=1,
    )
    assert out == "done True True True"


def test_keyboard_interrupt_in_a_task_on_the_main_thread_ends_run_until_complete() -> None:
    # Ctrl-C (the default handler, no Runner) while another task's CPU loop runs on the main
    # thread: KeyboardInterrupt is raised there, and run_until_complete raises it, as asyncio's.
    out = _run(
        """
        async def spin():
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:
                pass

        async def main():
            t = asyncio.create_task(spin())
            await asyncio.sleep(0)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            await asyncio.sleep(10)

        loop = aio.new_event_loop()
        t0 = time.monotonic()
        try:
            loop.run_until_complete(main())
        except KeyboardInterrupt:
            print("KeyboardInterrupt", time.monotonic() - t0 < 2.5)
        """,
        procs=1,
    )
    assert out == "KeyboardInterrupt True"
