"""A pipeline: generate -> square -> print, with select, a timeout and a ticker.

The consumer gives up on a slow stage after a timeout, reports progress on a
ticker, and shuts the pipeline down through a ``done`` channel, Go style.
"""

from __future__ import annotations

import gosched


async def generate(n: int, out: gosched.Chan[int], done: gosched.Chan[None]) -> None:
    try:
        for i in range(n):
            idx, _, _ = await gosched.select(gosched.send(out, i), gosched.recv(done))
            if idx == 1:
                return
    finally:
        out.close()


async def square(inp: gosched.Chan[int], out: gosched.Chan[int]) -> None:
    async for v in inp:
        if v == 7:
            await gosched.sleep(0.25)  # one slow item: the consumer's timeout fires
        await out.send(v * v)
    out.close()


async def main() -> list[int]:
    done: gosched.Chan[None] = gosched.Chan()
    nums, squares = gosched.Chan[int](), gosched.Chan[int]()
    gosched.go(generate, 20, nums, done)
    gosched.go(square, nums, squares)
    tick = gosched.Ticker(0.15)
    got: list[int] = []
    timeouts = 0
    while True:
        idx, v, ok = await gosched.select(
            gosched.recv(squares), gosched.recv(gosched.after(0.1)), gosched.recv(tick.c)
        )
        if idx == 0:
            if not ok:
                break
            got.append(v)
        elif idx == 1:
            timeouts += 1
            print(f"timeout waiting for a value ({timeouts}); still waiting")
        else:
            print(f"progress: {len(got)} values")
    tick.stop()
    done.close()
    print("squares:", got)
    return got


if __name__ == "__main__":
    gosched.run(main)
