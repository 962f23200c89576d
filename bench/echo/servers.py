"""Echo servers for bench/echo, one per runtime: ``python servers.py KIND`` prints
``READY <port>`` once it listens on 127.0.0.1 and serves until killed.

Each is the idiomatic "one task per connection, read then write" server of its
runtime, reading up to 64 KiB at a time.
"""

from __future__ import annotations

import socket
import sys

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


def asyncio_server(use_uvloop: bool) -> None:
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

    async def main() -> None:
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready(srv.sockets[0].getsockname()[1])
        await srv.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


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
        asyncio_server(kind == "uvloop")
    elif kind == "trio":
        trio_server()
    elif kind == "gevent":
        gevent_server()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
