"""Shared helpers for the asyncio-ecosystem tests (tests/test_aio_*.py, issue 12).

Each test runs the same program on every event loop in ``LOOPS``, named by the import
path uvicorn takes (``--loop module:callable``): gosched's loop, asyncio's default loop
and uvloop, so a failure on gosched's loop alone is the loop's, not the test's.
``run_on`` runs a coroutine on one of them in a daemon thread with a deadline: a hung
loop fails the test with every thread's stack instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from _core_helpers import _stacks

T = TypeVar("T")

GOSCHED_LOOP = "gosched.aio:new_event_loop"


def _available(path: str) -> bool:
    return importlib.util.find_spec(path.split(":")[0]) is not None


LOOPS = [
    pytest.param(path, id=path.split(":")[0].split(".")[0],
                 marks=pytest.mark.skipif(not _available(path), reason=f"{path.split(':')[0]} not installed"))
    for path in (GOSCHED_LOOP, "asyncio:new_event_loop", "uvloop:new_event_loop")
]


def loop_factory(path: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The callable named by ``module:attr`` (uvicorn's ``--loop`` form)."""
    mod, _, attr = path.partition(":")
    fn: Callable[[], asyncio.AbstractEventLoop] = getattr(importlib.import_module(mod), attr)
    return fn


def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
    """``asyncio.Runner(loop_factory=...).run(main())`` with ``asyncio.timeout(timeout)``, in a thread.

    The thread is joined for ``timeout`` + 10 s: a loop that ignores its own timeout
    (a lost wake-up) fails the test rather than the suite.
    """
    box: dict[str, Any] = {}

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await main()

    def target() -> None:
        try:
            with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                box["result"] = runner.run(bounded())
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=target, name=f"aio-test-{loop}", daemon=True)
    t.start()
    t.join(timeout + 10.0)
    if t.is_alive():
        pytest.fail(f"{loop}: the loop did not return within {timeout + 10.0} s (hang)\n{_stacks()}",
                    pytrace=False)
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


async def aiohttp_app() -> tuple[Any, str]:
    """An aiohttp server on 127.0.0.1: ``/hello``, ``/echo`` (POST), ``/sleep`` (an await)."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.query.get('name', '')}")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def sleep(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query["s"]))
        return web.json_response({"slept": float(request.query["s"])})

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/sleep", sleep)
    runner = web.AppRunner(app, shutdown_timeout=0.2)  # the 5 s /sleep a client gave up on
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) SSL contexts over a self-signed certificate for 127.0.0.1 made in ``tmp_path``."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    return server, ssl.create_default_context(cafile=str(crt))


async def ticker(gaps: list[float], ticks: int = 30, period: float = 0.01) -> None:
    """An asyncio task's ticker: ``ticks`` sleeps of ``period``, each interval appended to ``gaps``
    (a blocked loop shows as one long interval)."""
    last = time.monotonic()
    for _ in range(ticks):
        await asyncio.sleep(period)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
