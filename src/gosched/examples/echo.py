"""An echo server you can talk to: ``python -m gosched.examples.echo [ADDR]``.

Listens on ADDR (default ``127.0.0.1:7777``; ``127.0.0.1:0`` picks a free
port), prints where, and echoes every line back to every client, one goroutine
per connection. Try it with ``nc 127.0.0.1 7777``; stop it with Ctrl-C.
"""

from __future__ import annotations

import sys

import gosched
import gosched.net as net


async def handle(c: net.Conn) -> None:
    peer = c.remote_addr
    print(f"{peer} connected", flush=True)
    try:
        with c:
            await c.write(b"gosched echo: type a line, get it back\n")
            while True:
                data = await c.read(4096)
                if not data:
                    break
                await c.write(data)
    except OSError as e:  # reset by the peer, and the like
        print(f"{peer}: {e}", flush=True)
    print(f"{peer} disconnected", flush=True)


async def main(addr: str) -> None:
    ln = await net.listen("tcp", addr)
    print(f"echo server listening on {ln.addr} (try: nc {ln.addr.replace(':', ' ')})", flush=True)
    async for c in ln:
        gosched.go(handle, c)


if __name__ == "__main__":
    try:
        gosched.run(main, sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7777")
    except KeyboardInterrupt:
        print("bye")
