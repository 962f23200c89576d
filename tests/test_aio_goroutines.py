"""asyncio libraries called straight from goroutines inside ``gosched.run`` (issue 12).

No event loop is made by the program: in a goroutine the running loop is gosched's, so
httpx and aiohttp work as they do in an asyncio task, and their results travel over
gosched channels. The aiohttp server itself is started from a goroutine too.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

import gosched
from _aio_helpers import aiohttp_app, ticker
from _core_helpers import run

pytest.importorskip("gosched.aio")
httpx = pytest.importorskip("httpx")
aiohttp = pytest.importorskip("aiohttp")
# What the goroutines below would import on first use (40-130 ms each), imported here: a goroutine
# that spends that long in its first slice is retaken by sysmon and runs the rest of the slice
# beside the loop, and these tests are about the libraries, not about that exception to the
# loop's turn (docs/aio.md, "What is guaranteed between two awaits"; docs/aio-bugs.md #19).
for _lazy in ("aiohttp.web", "httpcore", "anyio._backends._asyncio"):
    pytest.importorskip(_lazy)


@pytest.mark.parametrize("procs", [1, 2])
def test_goroutines_use_httpx_and_aiohttp(procs: int) -> None:
    async def main() -> list[str]:
        assert type(asyncio.get_running_loop()).__module__.startswith("gosched")
        runner, url = await aiohttp_app()
        results = gosched.Chan[str](20)

        wg = gosched.WaitGroup()

        async def with_httpx(i: int) -> None:
            try:
                async with httpx.AsyncClient(base_url=url) as c:
                    r = await c.get("/hello", params={"name": f"httpx {i}"})
                await results.send(r.text)
            finally:
                wg.done()

        async def with_aiohttp(i: int) -> None:
            try:
                async with aiohttp.ClientSession() as s:
                    r = await s.get(f"{url}/hello", params={"name": f"aiohttp {i}"})
                    await results.send(await r.text())
            finally:
                wg.done()

        for i in range(5):
            for fn in (with_httpx, with_aiohttp):
                wg.add(1)
                gosched.go(fn, i)
        await wg.wait()
        results.close()
        got = sorted([v async for v in results])
        # a goroutine's timeout in asyncio's words, over a real request
        async with httpx.AsyncClient(base_url=url) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/sleep", params={"s": "5"}, timeout=httpx.Timeout(10.0, read=0.1))
        await runner.cleanup()
        return got

    want = sorted([f"hello httpx {i}" for i in range(5)] + [f"hello aiohttp {i}" for i in range(5)])
    assert run(main, maxprocs=procs) == want



@pytest.mark.parametrize("procs", [1, 2, 4])
def test_a_plain_goroutine_running_asyncio_code_holds_the_loops_turn(procs: int) -> None:
    """From its first asyncio call on, a plain goroutine runs only while it holds the loop's turn:
    never beside a task's step (docs/aio-bugs.md #9: anyio's cancel scopes in a goroutine raced
    with the task that cancelled them, on another M). Short slices, a tiny switch interval,
    several Ms: a task's step that sees a plain goroutine mid-slice counts an overlap."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        inside = [0]
        overlaps = [0]
        steps = [0]

        async def task_side() -> None:
            for _ in range(300):
                steps[0] += 1
                if inside[0]:
                    overlaps[0] += 1
                await asyncio.sleep(0)

        async def plain(wg: gosched.WaitGroup) -> None:
            try:
                assert asyncio.current_task() is not None  # its identity: it holds the turn from now on
                await asyncio.sleep(0)
                for _ in range(300):
                    inside[0] += 1
                    x = 0
                    for k in range(300):  # ~20 us of work: GIL switches mid-slice
                        x += k
                    inside[0] -= 1
                    await asyncio.sleep(0)
            finally:
                wg.done()

        wg = gosched.WaitGroup()
        for _ in range(3):
            wg.add(1)
            gosched.go(plain, wg)
        await asyncio.gather(*[loop.create_task(task_side()) for _ in range(3)])
        await wg.wait()
        return overlaps[0], steps[0], gosched.metrics.read()["/sysmon/retakes:events"]

    try:
        overlaps, steps, retakes = run(main, maxprocs=procs)
    finally:
        sys.setswitchinterval(old)
    assert steps == 900
    # The documented exception: on a loaded machine a slice can lose its CPU for 10 ms, and
    # sysmon's retake then passes the turn on while the slice finishes (turn.py).
    assert overlaps == 0 or retakes > 0, (overlaps, retakes)


@pytest.mark.parametrize("procs", [1, 2])
def test_a_plain_goroutine_stuck_while_it_holds_the_turn_does_not_stop_the_loop(procs: int) -> None:
    """sysmon passes the turn on from a plain goroutine stuck in an unwrapped blocking call while
    it holds it (as from a task): an asyncio task's ticker goes on."""

    async def main() -> list[float]:
        gaps: list[float] = []
        async def stuck(wg: gosched.WaitGroup) -> None:
            try:
                assert asyncio.current_task() is not None  # its identity: it holds the turn from here on
                await asyncio.sleep(0.02)
                time.sleep(0.4)  # unwrapped, holding the turn
            finally:
                wg.done()

        tk = asyncio.get_running_loop().create_task(ticker(gaps))
        wg = gosched.WaitGroup()
        wg.add(1)
        gosched.go(stuck, wg)
        await tk
        await wg.wait()
        return gaps

    gaps = run(main, maxprocs=procs)
    assert max(gaps) < 0.3, gaps  # without the pass: one gap of ~0.4 s
