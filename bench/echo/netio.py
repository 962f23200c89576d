"""net.Reader.readline over loopback TCP, and net.pipe() round trips.

    PYTHONPATH=src python bench/echo/netio.py

100,000 lines of 61 bytes written in one go and read back with ``readline``;
20,000 4-byte ping/pong round trips through a pipe to an echoing goroutine.
"""

from __future__ import annotations

import time

import gosched
import gosched.net as net

LINES = 100_000
TRIPS = 20_000


async def tcp_lines() -> float:
    ln = await net.listen("tcp", "127.0.0.1:0")

    async def server() -> None:
        c = await ln.accept()
        await c.write((b"x" * 60 + b"\n") * LINES)
        c.close()

    gosched.go(server)
    c = await net.dial("tcp", ln.addr)
    r = net.Reader(c)
    t0 = time.perf_counter()
    n = 0
    while await r.readline():
        n += 1
    dt = time.perf_counter() - t0
    assert n == LINES
    c.close()
    ln.close()
    return LINES / dt


async def pipe_trips() -> float:
    a, b = net.pipe()

    async def echo() -> None:
        while d := await b.read(64):
            await b.write(d)

    gosched.go(echo)
    t0 = time.perf_counter()
    for _ in range(TRIPS):
        await a.write(b"ping")
        await a.read(64)
    dt = time.perf_counter() - t0
    a.close()
    return TRIPS / dt


if __name__ == "__main__":
    print(f"Reader.readline over TCP: {gosched.run(tcp_lines):,.0f} lines/s")
    print(f"pipe round trips: {gosched.run(pipe_trips):,.0f} /s")
