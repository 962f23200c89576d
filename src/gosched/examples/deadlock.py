"""A deliberate deadlock: two goroutines each wait for the other's channel.

gosched notices that nothing can ever run again, stops the program with Go's
message, and shows every goroutine, its wait reason and its stack.
"""

from __future__ import annotations

import sys

import gosched


async def ping(inbox: gosched.Chan[int], outbox: gosched.Chan[int]) -> None:
    v = await inbox.recv()  # both wait to receive first: neither ever sends
    await outbox.send(v + 1)


async def main() -> None:
    a, b = gosched.Chan[int](), gosched.Chan[int]()
    wg = gosched.WaitGroup()
    wg.add(2)
    gosched.go(ping, a, b)
    gosched.go(ping, b, a)
    await wg.wait()


if __name__ == "__main__":
    try:
        gosched.run(main)
    except gosched.Deadlock as e:
        print(f"fatal error: {e}", file=sys.stderr)
        sys.exit(2)
