"""select.epoll vs selectors.EpollSelector, the choice behind the netpoller.

    python bench/echo/epoll_vs_selectors.py

100 registered socketpairs, 50 of them readable (level-triggered, so every
call returns the same 50 events), and an empty epoll: microseconds per
non-blocking poll.
"""

from __future__ import annotations

import select
import selectors
import socket
import time
from collections.abc import Callable


def per_call_us(f: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    pairs = [socket.socketpair() for _ in range(100)]
    for _, b in pairs[:50]:
        b.send(b"x")
    ep = select.epoll()
    sel = selectors.EpollSelector()
    for a, _ in pairs:
        ep.register(a.fileno(), select.EPOLLIN)
        sel.register(a, selectors.EVENT_READ)
    for _ in range(3):
        e = per_call_us(lambda: ep.poll(0), 20000)
        s = per_call_us(lambda: sel.select(0), 20000)
        print(f"50 ready of 100: select.epoll.poll {e:.1f} us,"
              f" EpollSelector.select {s:.1f} us ({s / e:.1f}x)")
    ep2, sel2 = select.epoll(), selectors.EpollSelector()
    e = per_call_us(lambda: ep2.poll(0), 200000)
    s = per_call_us(lambda: sel2.select(0), 200000)
    print(f"nothing ready:   select.epoll.poll {e:.2f} us, EpollSelector.select {s:.2f} us ({s / e:.1f}x)")


if __name__ == "__main__":
    main()
