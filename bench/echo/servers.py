"""Echo servers for bench/echo, one per runtime: ``python servers.py KIND`` prints
``READY <port>`` once it listens on 127.0.0.1 and serves until killed.

Each is the idiomatic "one task per connection, read then write" server of its
runtime, reading up to 64 KiB at a time. ``streams:LOOP`` and ``protocol:LOOP`` run
asyncio's streams server, or an echo ``Protocol``, on the event loop named by ``LOOP``
(``gosched.aio:new_event_loop``, ``uvloop:new_event_loop``...; bench/aioloop.py).
"""

from __future__ import annotations

import importlib
import socket
import sys
from collections.abc import Callable
from typing import Any

BUF = 65536


def ready(port: int) -> None:
    print(f"READY {port}", flush=True)


def gosched_server() -> None:
    import gosched
    import gosched.net as net

    async def handle(c: net.Conn) -> None:
        with c:
            try:
                while True:
                    d = await c.read(BUF)
                    if not d:
                        return
                    await c.write(d)
            except ConnectionError:  # the load generator resets connections at the end
                pass

    async def main() -> None:
        ln = await net.listen("tcp", "127.0.0.1:0")
        ready(int(ln.addr.rsplit(":", 1)[1]))
        async for c in ln:
            gosched.go(handle, c)

    gosched.run(main)


def loop_factory(loop: str) -> Callable[[], Any]:
    """The event loop factory ``loop`` names, in uvicorn's ``module:callable`` form."""
    mod, _, attr = loop.partition(":")
    return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]


def asyncio_server(loop: str, protocol: bool = False) -> None:
    """asyncio's streams server (or, with ``protocol``, a ``Protocol`` that writes back what it
    receives) on the event loop that ``loop`` names."""
    import asyncio

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                d = await r.read(BUF)
                if not d:
                    break
                w.write(d)
                await w.drain()
        except ConnectionError:
            pass
        w.close()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> None:
        if protocol:
            srv = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        else:
            srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready(srv.sockets[0].getsockname()[1])
        await srv.serve_forever()

    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main())


def trio_server() -> None:
    import trio

    async def handle(s: trio.SocketStream) -> None:
        async with s:
            try:
                while True:
                    d = await s.receive_some(BUF)
                    if not d:
                        return
                    await s.send_all(d)
            except (trio.BrokenResourceError, ConnectionError):
                pass

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        ready(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(handle, listeners)

    trio.run(main)


def gevent_server() -> None:
    from gevent.server import StreamServer

    def handle(s: socket.socket, addr: object) -> None:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                d = s.recv(BUF)
                if not d:
                    break
                s.sendall(d)
        except ConnectionError:
            pass
        s.close()

    srv = StreamServer(("127.0.0.1", 0), handle)
    srv.start()
    ready(srv.server_port)
    srv.serve_forever()


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "gosched":
        gosched_server()
    elif kind in ("asyncio", "uvloop"):
        asyncio_server(f"{kind}:new_event_loop")
    elif kind.startswith(("streams:", "protocol:")):  # streams:LOOP, protocol:LOOP (bench/aioloop.py)
        how, _, loop = kind.partition(":")
        asyncio_server(loop, protocol=how == "protocol")
    elif kind == "trio":
        trio_server()
    elif kind == "gevent":
        gevent_server()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
