"""A starlette app served by uvicorn on gosched's event loop (issue 12), both ways uvicorn
takes a loop factory by import path: ``uvicorn.Config(app, loop="gosched.aio:new_event_loop")``
and the CLI's ``--loop gosched.aio:new_event_loop`` (uvicorn >= 0.36 calls the named
callable as the loop factory). Each runs against asyncio's and uvloop's loops too.

The listening socket is bound to 127.0.0.1 here and handed over (``sockets=`` / ``--fd``),
so no port is guessed; the client is httpx's blocking client in the test's thread.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _aio_helpers import LOOPS

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("websockets")

pytestmark = pytest.mark.parametrize("loop", LOOPS)

APP = textwrap.dedent('''
    import asyncio
    import contextlib

    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    events = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield
        events.append("shutdown")

    async def index(request: Request) -> JSONResponse:
        loop = asyncio.get_running_loop()
        return JSONResponse({"loop": type(loop).__module__, "events": events})

    async def echo(request: Request) -> PlainTextResponse:
        body = await request.body()
        after = BackgroundTask(events.append, "background")
        return PlainTextResponse(body.decode().upper(), background=after)

    async def stream(request: Request) -> StreamingResponse:
        async def chunks():
            for i in range(5):
                await asyncio.sleep(0.01)
                yield f"chunk {i}\\n"
        return StreamingResponse(chunks(), media_type="text/plain")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text[::-1])

    app = Starlette(lifespan=lifespan, routes=[
        Route("/", index), Route("/echo", echo, methods=["POST"]), Route("/stream", stream),
        WebSocketRoute("/ws", ws),
    ])
''')


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def wait_serving(url: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def check_app(url: str, loop: str) -> None:
    """Drive every route of APP from this (plain) thread."""
    r = httpx.get(url + "/", timeout=10)
    assert r.status_code == 200
    want = loop.split(":")[0].split(".")[0]
    assert r.json()["loop"].split(".")[0] == want and r.json()["events"] == ["startup"]
    r = httpx.post(url + "/echo", content=b"hello", timeout=10)
    assert r.text == "HELLO"
    with httpx.stream("GET", url + "/stream", timeout=10) as r:
        assert "".join(r.iter_text()) == "".join(f"chunk {i}\n" for i in range(5))
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws") + "/ws", open_timeout=10) as ws:
        ws.send("uvicorn")
        assert ws.recv(timeout=10) == "nrocivu"


@contextlib.contextmanager
def serving_in_thread(app_dir: Path, loop: str) -> Iterator[str]:
    """``uvicorn.Server(uvicorn.Config(app, loop=loop)).run(sockets=[...])`` in a thread."""
    sys.path.insert(0, str(app_dir))
    try:
        mod = __import__("gosched_uvicorn_app")
    finally:
        sys.path.remove(str(app_dir))
    config = uvicorn.Config(mod.app, loop=loop, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    sock = listening_socket()
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_serving(url)
        yield url
    finally:
        server.should_exit = True
        t.join(20.0)
        sock.close()
        del sys.modules["gosched_uvicorn_app"]
    assert not t.is_alive(), "uvicorn did not stop within 20 s"
    assert mod.events[-1] == "shutdown" and "background" in mod.events


def test_uvicorn_config_loop_factory(loop: str, tmp_path: Path) -> None:
    (tmp_path / "gosched_uvicorn_app.py").write_text(APP)
    with serving_in_thread(tmp_path, loop) as url:
        check_app(url, loop)


def test_uvicorn_cli_loop_option(loop: str, tmp_path: Path) -> None:
    (tmp_path / "gosched_uvicorn_app.py").write_text(APP)
    sock = listening_socket()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gosched_uvicorn_app:app", "--app-dir", str(tmp_path),
         "--loop", loop, "--fd", str(sock.fileno()), "--log-level", "info"],
        pass_fds=[sock.fileno()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_serving(url)
        check_app(url, loop)
    finally:
        proc.terminate()  # uvicorn's SIGTERM handler: a graceful shutdown, then SIGTERM re-raised
        out, _ = proc.communicate(timeout=20)
        sock.close()
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Traceback" not in out, out
    # a graceful shutdown: uvicorn's signal capture ran in the main task (aio-bugs #3)
    assert "Application shutdown complete." in out, out
