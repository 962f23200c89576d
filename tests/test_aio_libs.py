"""Real asyncio libraries on gosched's event loop (issue 12): aiohttp, httpx, anyio,
aiosqlite, websockets — each on gosched's loop, asyncio's and uvloop's (``LOOPS``).

Servers and clients run in the same loop, on 127.0.0.1, with a deadline (``run_on``).
The libraries come with the ``aio`` extra (``pip install -e '.[dev,aio]'``, as CI does);
a module skips only where its library is not installed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from _aio_helpers import LOOPS, aiohttp_app, run_on

pytestmark = pytest.mark.parametrize("loop", LOOPS)


# --- aiohttp ----------------------------------------------------------------------------


def test_aiohttp_server_and_client(loop: str) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        runner, url = await aiohttp_app()
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{url}/hello", params={"name": "go"}) as r:
                    assert r.status == 200 and await r.text() == "hello go"
                body = bytes(range(256)) * 4096  # 1 MiB: several reads and writes
                async with s.post(f"{url}/echo", data=body) as r:
                    assert await r.read() == body
                # 20 concurrent requests that each wait 0.2 s end together, not one after another (4 s)
                t0 = asyncio.get_running_loop().time()
                rs = await asyncio.gather(*(s.get(f"{url}/sleep", params={"s": "0.2"}) for _ in range(20)))
                assert [(await r.json())["slept"] for r in rs] == [0.2] * 20
                assert asyncio.get_running_loop().time() - t0 < 0.2 * 20 / 2
                async with s.get(f"{url}/nowhere") as r:
                    assert r.status == 404
                with pytest.raises(asyncio.TimeoutError):
                    await s.get(f"{url}/sleep", params={"s": "5"}, timeout=aiohttp.ClientTimeout(total=0.1))
        finally:
            await runner.cleanup()

    run_on(loop, main)


# --- httpx ------------------------------------------------------------------------------


def test_httpx_async_client(loop: str) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("aiohttp")

    async def main() -> None:
        runner, url = await aiohttp_app()
        try:
            async with httpx.AsyncClient(base_url=url) as c:
                r = await c.get("/hello", params={"name": "httpx"})
                assert r.status_code == 200 and r.text == "hello httpx"
                body = b"x" * 300_000
                assert (await c.post("/echo", content=body)).content == body
                async with c.stream("POST", "/echo", content=body) as r:
                    got = b"".join([chunk async for chunk in r.aiter_bytes()])
                assert got == body
                rs = await asyncio.gather(*(c.get("/sleep", params={"s": "0.05"}) for _ in range(10)))
                assert {r.json()["slept"] for r in rs} == {0.05}
                with pytest.raises(httpx.ReadTimeout):
                    await c.get("/sleep", params={"s": "5"}, timeout=httpx.Timeout(10.0, read=0.1))
            with pytest.raises(httpx.ConnectError):  # nothing listens on port 1
                async with httpx.AsyncClient() as c:
                    await c.get("http://127.0.0.1:1/")
        finally:
            await runner.cleanup()

    run_on(loop, main)


# --- anyio (asyncio backend) ------------------------------------------------------------


def test_anyio_task_groups_and_cancel_scopes(loop: str) -> None:
    anyio = pytest.importorskip("anyio")

    async def main() -> None:
        assert anyio.get_current_task().name  # anyio reads asyncio.current_task()
        done: list[int] = []

        async def child(i: int) -> None:
            await anyio.sleep(0.1 * i)  # gaps far above scheduling delays on a loaded machine
            done.append(i)

        async with anyio.create_task_group() as tg:
            for i in (3, 1, 2):
                tg.start_soon(child, i)
        assert done == [1, 2, 3]

        with anyio.move_on_after(0.05) as scope:  # a deadline cancels the sleep
            await anyio.sleep(10)
        assert scope.cancelled_caught

        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                await anyio.sleep(10)

        # a failing child cancels its siblings; the group raises an ExceptionGroup
        cancelled = anyio.Event()

        async def sibling() -> None:
            try:
                await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                cancelled.set()
                raise

        async def failing() -> None:
            await anyio.sleep(0.01)
            raise ValueError("boom")

        with pytest.raises(ExceptionGroup) as ei:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sibling)
                tg.start_soon(failing)
        assert ei.group_contains(ValueError) and cancelled.is_set()

        # cancel a scope from another task; code after the scope goes on
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as inner:
                tg.start_soon(lambda: _cancel_later(anyio, inner))
                await anyio.sleep(10)
        assert inner.cancel_called

        # a worker thread, and a call back into the loop from it
        def blocking() -> int:
            return anyio.from_thread.run(anyio.sleep, 0) or 42  # type: ignore[func-returns-value]

        assert await anyio.to_thread.run_sync(blocking) == 42

    run_on(loop, main)


async def _cancel_later(anyio: Any, scope: Any) -> None:
    await anyio.sleep(0.02)
    scope.cancel()


def test_anyio_streams(loop: str) -> None:
    anyio = pytest.importorskip("anyio")
    from anyio.abc import SocketAttribute

    async def main() -> None:
        send, recv = anyio.create_memory_object_stream[int](2)
        async with anyio.create_task_group() as tg:
            async def produce() -> None:
                async with send:
                    for i in range(100):
                        await send.send(i)

            tg.start_soon(produce)
            async with recv:
                assert [v async for v in recv] == list(range(100))

        async def handle(client: Any) -> None:
            async with client:
                async for chunk in client:
                    await client.send(chunk.upper())

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                for msg in (b"hello", b"x" * 100_000):
                    await stream.send(msg)
                    got = b""
                    while len(got) < len(msg):
                        got += await stream.receive()
                    assert got == msg.upper()
            tg.cancel_scope.cancel()
        await listener.aclose()

    run_on(loop, main)


# --- aiosqlite --------------------------------------------------------------------------


def test_aiosqlite(loop: str, tmp_path: Path) -> None:
    aiosqlite = pytest.importorskip("aiosqlite")

    async def main() -> None:
        db_path = tmp_path / f"{loop.split(':')[0]}.db"
        async with aiosqlite.connect(db_path) as db:
            await db.execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)")
            await db.executemany("INSERT INTO kv VALUES (?, ?)", [(i, f"v{i}") for i in range(1000)])
            await db.commit()
            async with db.execute("SELECT count(*), max(k) FROM kv") as cur:
                assert await cur.fetchone() == (1000, 999)
            with pytest.raises(sqlite3.IntegrityError):
                await db.execute("INSERT INTO kv VALUES (1, 'dup')")

        # two connections, each on its own thread, answering concurrently
        async def count(lo: int) -> int:
            async with aiosqlite.connect(db_path) as db:
                async with db.execute("SELECT count(*) FROM kv WHERE k >= ?", (lo,)) as cur:
                    row = await cur.fetchone()
                    assert row is not None
                    return int(row[0])

        assert await asyncio.gather(*(count(lo) for lo in (0, 500, 990))) == [1000, 500, 10]

    run_on(loop, main)


# --- websockets -------------------------------------------------------------------------


def test_websockets_server_and_client(loop: str) -> None:
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosedOK

    async def handler(ws: ServerConnection) -> None:
        async for msg in ws:
            if msg == "bye":
                await ws.close(1000, "done")
                return
            await ws.send(msg[::-1])

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("hello")
                assert await ws.recv() == "olleh"
                blob = bytes(range(256)) * 1000
                await ws.send(blob)
                assert await ws.recv() == blob[::-1]
                pong = await ws.ping()
                assert await asyncio.wait_for(pong, 5) is not None
                await ws.send("bye")
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                assert ws.close_code == 1000 and ws.close_reason == "done"
            # several clients at once
            async def one(i: int) -> str:
                async with connect(f"ws://127.0.0.1:{port}") as ws:
                    await ws.send(f"client {i}")
                    return str(await ws.recv())

            got = await asyncio.gather(*(one(i) for i in range(10)))
            assert got == [f"client {i}"[::-1] for i in range(10)]

    run_on(loop, main)
