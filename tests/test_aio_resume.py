"""The M's resume of a gosched.aio task parked on a future (issue 12): in C, the task's next
step runs without resuming its driver (``task._drive``) when it parks on a future again
(``_speedups_aio.h`` aioresume); whatever else the step yields goes to the driver as
``task.Resumed``. asyncio's semantics are the driver's in either case."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
import threading
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
import gosched.aio as aio
from _core_helpers import tiny_switch
from gosched._aio import task as aiotask
from gosched._runtime import speedups
from gosched._runtime.traps import getm

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")
ACCELERATED = speedups.c is not None and aiotask._cstep is not None


def _driver_entries(run: Any, name: str) -> tuple[Any, int]:
    """Run ``run()``, counting the times any thread entered the driver's frame of the task
    named ``name`` (a call or a generator resume: the profiler's "call" event)."""
    entries = [0]

    def prof(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is aiotask._drive.__code__:
            t = frame.f_locals.get("task")
            if t is not None and t.get_name() == name:
                entries[0] += 1

    threading.setprofile(prof)  # type: ignore[arg-type]
    sys.setprofile(prof)  # type: ignore[arg-type]
    try:
        out = run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return out, entries[0]


def test_a_task_parked_on_futures_runs_its_steps_without_its_driver() -> None:
    n = 60

    async def waiter(futs: list[asyncio.Future[int]], seen: list[Any]) -> int:
        VAR.set("mine")
        total = 0
        for f in futs:
            total += await f
            seen.append((asyncio.current_task() is me[0], VAR.get(), asyncio.get_running_loop() is lp[0]))
        return total

    me: list[Any] = [None]
    lp: list[Any] = [None]

    async def main() -> tuple[int, list[Any], str]:
        loop = lp[0] = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in range(n)]
        seen: list[Any] = []
        t = me[0] = asyncio.create_task(waiter(futs, seen), name="waiter")
        for i, f in enumerate(futs):
            await asyncio.sleep(0)
            f.set_result(i)
        return await t, seen, VAR.get()

    (total, seen, outer), entries = _driver_entries(lambda: aio.run(main()), "waiter")
    assert total == sum(range(n)) and outer == "unset"
    assert seen == [(True, "mine", True)] * n
    if ACCELERATED:  # its start, its first wake-up (from its Python park), its end
        assert 1 <= entries <= 3, entries
    else:
        assert entries >= n


def test_what_a_resumed_step_yields_besides_a_future_goes_to_the_driver() -> None:
    # After each wake-up: asyncio.sleep(0) (a bare yield), a gosched channel (a trap), a
    # future of another loop refused as asyncio refuses it, the task's end and its exception.
    async def stepper(
        fut: asyncio.Future[int], fut2: asyncio.Future[int], ch: gosched.Chan[int]
    ) -> list[Any]:
        out: list[Any] = [await fut]
        await asyncio.sleep(0)
        out.append(await ch.recv())
        out.append(await fut2)
        other = asyncio.new_event_loop()
        try:
            await other.create_future()
        except RuntimeError as e:
            out.append("attached to a different loop" in str(e))
        finally:
            other.close()
        return out

    async def failer(fut: asyncio.Future[int]) -> None:
        await fut
        raise KeyError("after the wake-up")

    async def main() -> tuple[list[Any], BaseException | None]:
        loop = asyncio.get_running_loop()
        fut, fut2, fut3 = loop.create_future(), loop.create_future(), loop.create_future()
        ch = gosched.Chan[int](1)
        t = asyncio.create_task(stepper(fut, fut2, ch))
        bad = asyncio.create_task(failer(fut3))
        await asyncio.sleep(0)
        fut.set_result(1)
        fut3.set_result(3)
        await asyncio.sleep(0)
        await ch.send(2)
        await asyncio.sleep(0)
        fut2.set_result(4)
        out = await t
        await asyncio.wait([bad])
        return out, bad.exception()

    out, exc = aio.run(main())
    assert out == [1, 2, 4, True]
    assert type(exc) is KeyError and exc.args == ("after the wake-up",)


def test_a_cancel_while_parked_reaches_the_coroutine_through_the_c_resume() -> None:
    async def parked(fut: asyncio.Future[None], log: list[str]) -> str:
        await asyncio.sleep(0)  # parked on a future once, resumed, parked again below
        try:
            await fut
        except asyncio.CancelledError as e:
            log.append(f"cancelled {e.args}")
            t = asyncio.current_task()
            assert t is not None
            log.append(f"cancelling {t.cancelling()}")
            t.uncancel()
            return "caught"
        return "not cancelled"

    async def main() -> tuple[str, list[str], bool]:
        loop = asyncio.get_running_loop()
        log: list[str] = []
        fut = loop.create_future()
        t = asyncio.create_task(parked(fut, log))
        for _ in range(3):
            await asyncio.sleep(0)
        t.cancel("stop")
        r = await t
        return r, log, fut.cancelled()

    r, log, futcancelled = aio.run(main())
    assert r == "caught" and futcancelled
    assert log == ["cancelled ('stop',)", "cancelling 1"]


def test_many_tasks_woken_by_one_another_on_two_ms_lose_nothing() -> None:
    # A ring of tasks passing a token through futures, on two Ms: every step after the
    # first is the C resume's; each token arrives once, in order, at the task it was for.
    tasks, rounds = 8, 40

    async def member(i: int, boxes: list[list[asyncio.Future[int]]], got: list[int]) -> None:
        for r in range(rounds):
            v = await boxes[r][i]
            assert v == r * tasks + i
            got.append(v)
            if r * tasks + i + 1 < rounds * tasks:
                nxt = (i + 1) % tasks
                boxes[r + (nxt == 0)][nxt].set_result(v + 1)

    async def main() -> list[int]:
        gosched.gomaxprocs(2)
        loop = asyncio.get_running_loop()
        boxes = [[loop.create_future() for _ in range(tasks)] for _ in range(rounds + 1)]
        got: list[int] = []
        ms = [asyncio.create_task(member(i, boxes, got)) for i in range(tasks)]
        boxes[0][0].set_result(0)
        await asyncio.gather(*ms)
        return got

    assert aio.run(main()) == list(range(tasks * rounds))


def test_the_driver_keeps_its_park_only_while_it_runs() -> None:
    async def main() -> tuple[Any, Any, bool, bool]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        gps: list[Any] = []

        fut2 = loop.create_future()

        async def one() -> None:
            m = getm()
            assert m is not None
            gps.append(m.curg)
            await fut  # the driver parks on it itself (its first park)
            await fut2  # a park the C step prepared: the driver waits at its park trap

        t = asyncio.create_task(one())
        await asyncio.sleep(0)
        fut.set_result(None)
        await asyncio.sleep(0)
        gp = gps[0]
        park = gp.aiopark
        parked = park is not None and park[1].parked
        fut2.set_result(None)
        await t
        return park, gp.aiopark, parked, park is None or not park[1].parked

    park, after, parked, cleared = aio.run(main())
    if ACCELERATED:
        assert park is not None and parked
    assert after is None and cleared


@pytest.mark.parametrize("pure", [False, True])
def test_a_deadlock_after_c_resumed_steps_still_names_the_task_and_its_frame(pure: bool) -> None:
    code = textwrap.dedent(
        """
        import asyncio, gosched.aio as aio

        async def waiter(futs):
            for f in futs:
                await f

        async def main():
            loop = asyncio.get_running_loop()
            futs = [loop.create_future() for _ in range(4)]
            t = asyncio.create_task(waiter(futs), name="stuck-waiter")
            for f in futs[:3]:
                await asyncio.sleep(0)
                f.set_result(None)
            await t

        aio.run(main())
        """
    )
    env = {"GOSCHED_PURE_PYTHON": "1"} if pure else {}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **env})
    assert r.returncode != 0
    assert "all goroutines are asleep - deadlock!" in r.stderr, r.stderr
    assert "(asyncio task 'stuck-waiter') awaits <Future pending" in r.stderr, r.stderr
    assert "__main__.waiter(...)" in r.stderr and "created by __main__.main" in r.stderr, r.stderr


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    scripts=st.lists(st.lists(st.sampled_from(["fut", "sleep", "chan"]), min_size=1, max_size=25),
                     min_size=1, max_size=5),
    maxprocs=st.sampled_from([1, 2, 4]),
    resume=st.sampled_from(["c", "python"]),
)
def test_random_wakeup_interleavings_lose_and_repeat_nothing(
    scripts: list[list[str]], maxprocs: int, resume: str
) -> None:
    """Tasks that await a Queue(1) (a future each time it is empty), asyncio.sleep(0) and a
    gosched channel in random orders, fed by tasks and goroutines, on 1-4 Ms under a tiny
    switch interval, with the C resume and with the driver's Python: every value arrives
    once, in order (a goroutine resumed twice, or on two Ms at once, ends the run)."""

    async def consumer(
        script: list[str], q: asyncio.Queue[int], ch: gosched.Chan[int]
    ) -> tuple[list[int], ...]:
        got_q: list[int] = []
        got_c: list[int] = []
        for op in script:
            if op == "fut":
                got_q.append(await q.get())
            elif op == "chan":
                got_c.append(await ch.recv())
            else:
                await asyncio.sleep(0)
        return got_q, got_c

    async def producer(q: asyncio.Queue[int], n: int) -> None:
        for i in range(n):
            await q.put(i)

    async def sender(ch: gosched.Chan[int], n: int) -> None:
        for i in range(n):
            await ch.send(i)

    async def main() -> list[tuple[list[int], ...]]:
        gosched.gomaxprocs(maxprocs)
        consumers, producers = [], []
        for script in scripts:
            q: asyncio.Queue[int] = asyncio.Queue(1)
            ch = gosched.Chan[int]()
            consumers.append(asyncio.create_task(consumer(script, q, ch)))
            producers.append(asyncio.create_task(producer(q, script.count("fut"))))
            gosched.go(sender, ch, script.count("chan"))
        got = list(await asyncio.gather(*consumers))
        await asyncio.gather(*producers)
        return got

    saved = aiotask._cstep
    if resume == "python":
        aiotask._cstep = None  # the driver's own Python steps, and no C resume
    try:
        with tiny_switch():
            got = aio.run(main())
    finally:
        aiotask._cstep = saved
    assert len(got) == len(scripts)
    for script, (got_q, got_c) in zip(scripts, got, strict=True):
        assert got_q == list(range(script.count("fut")))
        assert got_c == list(range(script.count("chan")))
