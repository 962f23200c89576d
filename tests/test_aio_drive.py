"""gosched.aio's core: the loop's turn as a baton, its I/O through one epoll set (issue 12).

The turn (``_aio/turn.py``): only the goroutine holding a loop's turn is runnable;
a task created, or woken by a future, while the turn is held waits for it parked
(wait reason "asyncio turn"), and the holder hands the turn straight to the next
waiter when it yields. The I/O: the loop keeps its descriptors in its own epoll set
for their lifetime (as asyncio's selector does) and one goroutine serves every ready
descriptor of a wait in one turn.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gosched
import gosched.aio as aio
from _aio_helpers import tls_contexts
from gosched._runtime.traps import getm


def test_tasks_created_in_a_step_wait_for_the_turn_queued() -> None:
    # With the per-step Mutex, each new task's goroutine was made runnable at
    # once: another M started it and it parked on the Mutex (an M convoy when
    # the step outlived sysmon's slice, docs/aio-bugs.md #8). Then each was a
    # goroutine created parked, queued for the turn. Now a new task is queued in
    # the loop's ready queue, as asyncio's first __step handle is: no goroutine,
    # nothing runnable, until the dispatcher gets the turn and runs its first step.
    async def nothing() -> int:
        return 1

    async def main() -> tuple[int, int, int, int]:
        gosched.gomaxprocs(2)
        loop = asyncio.get_running_loop()
        n0 = gosched.num_goroutine()
        ts = [asyncio.create_task(nothing()) for _ in range(200)]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.003:  # below sysmon's retake: the step keeps the turn
            pass
        queued = sum(1 for h in list(loop._ready) if h in ts)  # type: ignore[attr-defined]
        started = sum(1 for t in ts if t.done() or getattr(t, "_gg", None) is not None)
        return queued, started, gosched.num_goroutine() - n0, sum(await asyncio.gather(*ts))

    assert aio.run(main()) == (200, 0, 0, 200)


def test_woken_tasks_resume_in_wake_order_through_the_turn() -> None:
    async def main() -> list[int]:
        gosched.gomaxprocs(2)
        loop = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in range(20)]
        order: list[int] = []

        async def waiter(i: int) -> None:
            await futs[i]
            order.append(i)

        ts = [asyncio.create_task(waiter(i)) for i in range(20)]
        await asyncio.sleep(0.01)
        for i in reversed(range(20)):
            futs[i].set_result(None)
        await asyncio.gather(*ts)
        return order

    assert aio.run(main()) == list(reversed(range(20)))


def test_ready_descriptors_are_served_in_one_batch_by_one_goroutine() -> None:
    # Before: one watcher goroutine per (descriptor, direction), each parked in
    # the netpoller with a one-shot registration (two epoll_ctl per read) and
    # taking the turn for its one callback. Now the loop's epoll set keeps
    # them, and one goroutine serves every ready descriptor of a wait.
    async def main() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(20)]
        served: list[int] = []
        done = loop.create_future()

        def readable(s: socket.socket) -> None:
            s.recv(100)
            served.append(getm().curg.goid)
            if len(served) == 2 * len(pairs) and not done.done():
                done.set_result(None)

        for a, _ in pairs:
            a.setblocking(False)
            loop.add_reader(a, readable, a)
        poller = gosched._runtime.proc.current.poller  # type: ignore[union-attr]
        kept = {fd for fd in poller.descs} & {a.fileno() for a, _ in pairs}
        for _ in range(2):
            for _, b in pairs:
                b.send(b"x")
            await asyncio.sleep(0.05)
        await asyncio.wait_for(done, 10)
        for a, b in pairs:
            loop.remove_reader(a)
            a.close()
            b.close()
        return len(served), len(set(served)), not kept

    n, goroutines, none_in_netpoller = aio.run(main())
    assert (n, goroutines, none_in_netpoller) == (40, 1, True)


def test_a_callback_that_removes_another_ready_reader_stops_it() -> None:
    # asyncio's _process_events order: a reader removed by an earlier callback of
    # the same batch does not run (its handle is cancelled).
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        (a1, b1), (a2, b2) = socket.socketpair(), socket.socketpair()
        ran: list[str] = []
        socks = {"1": a1, "2": a2}

        def readable(name: str) -> None:
            ran.append(name)
            socks[name].recv(10)
            other = socks["2" if name == "1" else "1"]
            loop.remove_reader(other)

        for name, s in socks.items():
            s.setblocking(False)
            loop.add_reader(s, readable, name)
        b1.send(b"x")
        b2.send(b"x")
        await asyncio.sleep(0.1)
        for s in (a1, b1, a2, b2):
            loop.remove_reader(s)
            s.close()
        return ran

    assert len(aio.run(main())) == 1


def test_tls_echo_on_two_ms_never_shares_an_sslobject(tmp_path: Path) -> None:
    # docs/aio-bugs.md #7: two Ms inside one ssl.SSLObject crashed the process.
    # Many TLS echo round trips on 8 connections at GOMAXPROCS 2, with a tiny
    # switch interval so a GIL switch lands inside sslproto's code.
    server_ctx, client_ctx = tls_contexts(tmp_path)

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while line := await r.readline():
            w.write(line)
            await w.drain()
        w.close()

    async def client(port: int) -> int:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        n = 0
        for i in range(100):
            w.write(b"%d\n" % i)
            n += await r.readline() == b"%d\n" % i
        w.close()
        return n

    async def main() -> int:
        gosched.gomaxprocs(2)
        srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        got = await asyncio.wait_for(asyncio.gather(*(client(port) for _ in range(8))), 120)
        srv.close()
        await srv.wait_closed()
        return sum(got)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        assert aio.run(main()) == 800
    finally:
        sys.setswitchinterval(old)


def test_new_tasks_first_steps_run_in_call_soon_order() -> None:
    # asyncio queues a new task's first __step with call_soon: it runs after the
    # callbacks queued before it and before those queued after it. The task's
    # goroutine used to wait for the turn beside the dispatcher, so a callback
    # queued after it could run first (cb0, cb1, task).
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        async def task() -> None:
            order.append("task")

        loop.call_soon(order.append, "cb0")
        t = asyncio.create_task(task())
        loop.call_soon(order.append, "cb1")
        await t
        return order

    for _ in range(20):
        assert aio.run(main()) == ["cb0", "task", "cb1"]


def test_a_first_step_stuck_in_a_blocking_call_does_not_stop_the_loop() -> None:
    # The dispatcher runs first steps: stuck in one, sysmon's retake passes the
    # turn on and starts another dispatcher, so callbacks and other tasks' first
    # steps go on; the stuck task then goes on as a goroutine of its own.
    async def main() -> tuple[float, float, bool, int]:
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        marks: dict[str, float] = {}

        async def blocker() -> int:
            me = asyncio.current_task()
            time.sleep(1.0)  # unwrapped, in its first step
            marks["blocker"] = time.monotonic() - t0
            for _ in range(3):
                await asyncio.sleep(0)
            return 7 if asyncio.current_task() is me else -1

        async def other() -> None:
            marks["other"] = time.monotonic() - t0

        b = asyncio.create_task(blocker())
        await asyncio.sleep(0.05)  # the dispatcher is in the blocker's step
        o = asyncio.create_task(other())
        done = loop.create_future()
        loop.call_soon(lambda: done.set_result(time.monotonic() - t0))
        cb = await done
        await o
        return marks["other"], cb, marks["other"] < marks.get("blocker", 99), await b

    other, cb, before, result = aio.run(main())
    assert other < 0.7 and cb < 0.7 and before, (other, cb)  # asyncio's loop: both after 1 s
    assert result == 7


@pytest.mark.parametrize("first", [True, False], ids=["first step", "later step"])
def test_what_a_retaken_step_schedules_runs_after_it(first: bool) -> None:
    """A step that goes on after a retake passed its turn on runs beside the loop's other work
    (Go's model), but what it schedules meanwhile -- a callback, a new task, a wake-up -- waits
    for its end, as on asyncio's loop. Before, an asyncio.gather whose children had all ended
    could run every done-callback before it had made its outer future, and never completed (a
    deadlock now and then in python -m bench's aio-gather once first steps got faster)."""

    async def main() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        log: list[str] = []
        ticks: list[float] = []
        sleeping = asyncio.Event()

        async def child() -> None:
            log.append("child")

        async def ticker() -> None:
            while True:
                await asyncio.sleep(0.005)
                ticks.append(time.monotonic())

        async def stuck() -> None:
            if not first:
                await asyncio.sleep(0)
            sleeping.set()
            time.sleep(0.1)  # unwrapped: sysmon retakes the P and passes the turn on
            loop.call_soon(log.append, "callback")
            t = asyncio.create_task(child())
            woken = loop.create_future()
            woken.set_result(None)  # its waiter's wake-up, scheduled now
            end = time.monotonic() + 0.05
            while time.monotonic() < end:  # the rest of the step, beside the ticker
                pass
            log.append("step end")
            await t
            await woken

        tk = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        t0 = time.monotonic()
        s = asyncio.create_task(stuck())
        await s
        tk.cancel()
        return log, sum(1 for x in ticks if x > t0)

    for _ in range(3):
        log, ticks = aio.run(main())
        assert log == ["step end", "callback", "child"], log
        assert ticks >= 5, ticks  # the others went on meanwhile: the turn did pass


def test_gather_of_many_tasks_created_in_a_retaken_step_completes() -> None:
    """aio-gather's own shape: one step creates 20,000 tasks (a CPU loop of ~100 ms, retaken)
    and gathers them; the gather always completes."""

    async def nothing() -> None:
        pass

    async def main() -> int:
        for _ in range(5):
            await asyncio.gather(*[asyncio.create_task(nothing()) for _ in range(20_000)])
        return 1

    assert aio.run(main()) == 1


def test_tasks_whose_first_step_parks_on_a_channel_become_goroutines() -> None:
    # A first step that yields a gosched trap (here a channel receive, queued with
    # the dispatcher's goroutine as the receiver) makes that goroutine the task's:
    # it parks as the task, in allgs, and another dispatcher serves the loop.
    async def main() -> tuple[int, list[int], bool]:
        ch: gosched.Chan[int] = gosched.Chan()
        n0 = gosched.num_goroutine()

        async def recv() -> int:
            me = asyncio.current_task()
            v = await ch.recv()
            await asyncio.sleep(0)
            return v if asyncio.current_task() is me else -1

        ts = [asyncio.create_task(recv()) for _ in range(50)]
        while sum(getattr(t, "_gg", None) is not None for t in ts) < 50:
            await asyncio.sleep(0.001)
        parked = gosched.num_goroutine() - n0
        for i in range(50):
            await ch.send(i)
        got = sorted(await asyncio.gather(*ts))
        return parked, got, all(t._gg.coro is None for t in ts)  # type: ignore[attr-defined]

    parked, got, ended = aio.run(main())
    assert parked == 50 and got == list(range(50)) and ended


def test_sleep_0_resumes_after_the_callbacks_queued_before_it() -> None:
    # asyncio puts a task that yields at the ready queue's tail: the callbacks (and
    # new tasks' first steps) queued before run first. A plain goroutine yield let
    # the task go on first whenever the dispatcher was not next on the M (between
    # two Runner.run calls it waits for run_forever on its own M).
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        order: list[object] = []
        for i in range(3):
            loop.call_soon(order.append, i)

        async def task() -> None:
            order.append("new task")

        t = asyncio.create_task(task())
        await asyncio.sleep(0)
        order.append("after sleep(0)")
        await t
        return order

    with asyncio.Runner(loop_factory=aio.new_event_loop) as r:
        for _ in range(30):
            assert r.run(main()) == [0, 1, 2, "new task", "after sleep(0)"]


def _machinery_calling(modname: str) -> Callable[[Callable[[], None]], None]:
    """A function whose frame reads as module ``modname``'s, calling back into its argument
    (as asyncio's code calls a protocol's method, or sslproto the application's)."""
    ns: dict[str, Any] = {"__name__": modname}
    exec("def call(fn):\n    fn()\n", ns)
    return ns["call"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("under", ["asyncio.sslproto", "user_module", "wait_for"])
def test_a_step_stuck_under_asyncios_code_keeps_the_turn(under: str) -> None:
    # Stuck in code that asyncio's code called (its objects are mid-operation), a step keeps the
    # turn: no other task runs meanwhile. Stuck in the task's own code, the retake passes it on,
    # also in a coroutine that asyncio's coroutine awaits in line (3.12's wait_for: an await).

    async def blocked() -> None:
        time.sleep(0.3)  # unwrapped

    async def stuckcall() -> None:
        if under == "wait_for":
            await asyncio.wait_for(blocked(), 5)
        else:
            _machinery_calling(under)(lambda: time.sleep(0.3))  # unwrapped

    async def main() -> tuple[list[float], float, float]:
        ticks: list[float] = []
        stop = asyncio.Event()
        span: list[float] = []

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        async def stuck() -> None:
            await asyncio.sleep(0.03)
            span.append(time.monotonic())
            await stuckcall()
            span.append(time.monotonic())
            stop.set()

        await asyncio.gather(ticker(), stuck())
        return ticks, span[0], span[1]

    ticks, t0, t1 = aio.run(main())
    during = [t for t in ticks if t0 + 0.05 < t < t1 - 0.02]
    if under == "asyncio.sslproto":
        assert during == [], len(during)  # kept: no tick during the call
    else:
        assert len(during) > 10, len(during)  # the turn passed: the ticker went on
