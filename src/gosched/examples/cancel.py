"""A pipeline stopped the Go way: by a deadline, by the first error of a stage, by Ctrl-C.

generate -> square -> collect, each stage a goroutine of one ``errgroup`` whose context
they all select on. A deadline (``context.with_timeout``), the first stage to raise
(the group cancels its context) or Ctrl-C (``signal.notify_context``) stops every
stage at its next select, and ``group.wait()`` returns once they have all returned:
no goroutine is left behind.

    python -m gosched.examples.cancel            # the deadline, then the first error
    python -m gosched.examples.cancel ctrl-c     # runs until you press Ctrl-C
"""

from __future__ import annotations

import signal as stdsignal
import sys

import gosched
from gosched import context, errgroup, signal
from gosched.context import Context


async def generate(ctx: Context, out: gosched.Chan[int]) -> None:
    i = 0
    while True:
        idx, _, _ = await gosched.select(gosched.send(out, i), gosched.recv(ctx.done()))
        if idx == 1:
            return  # cancelled: ctx.err() says why
        i += 1
        await gosched.sleep(0.01)  # a number every 10 ms


async def square(ctx: Context, inp: gosched.Chan[int], out: gosched.Chan[int], bad: int | None) -> None:
    while True:
        idx, v, _ = await gosched.select(gosched.recv(inp), gosched.recv(ctx.done()))
        if idx == 1:
            return
        if v == bad:
            raise ValueError(f"cannot square {v}")  # cancels the group's context
        idx, _, _ = await gosched.select(gosched.send(out, v * v), gosched.recv(ctx.done()))
        if idx == 1:
            return


async def pipeline(parent: Context, bad: int | None = None) -> list[int]:
    """Squares collected until ``parent`` is done or a stage fails; raises the failure."""
    g, ctx = errgroup.with_context(parent)
    nums, squares = gosched.Chan[int](), gosched.Chan[int]()
    got: list[int] = []

    async def collect() -> None:
        while True:
            idx, v, _ = await gosched.select(gosched.recv(squares), gosched.recv(ctx.done()))
            if idx == 1:
                return
            got.append(v)

    await g.go(generate, ctx, nums)
    await g.go(square, ctx, nums, squares, bad)
    await g.go(collect)
    await g.wait()  # every stage has returned; raises the first error
    return got


async def main() -> None:
    ctx, cancel = context.with_timeout(context.background(), 0.1)
    try:
        got = await pipeline(ctx)
    finally:
        cancel()
    print(f"deadline: {len(got)} squares, then {ctx.err()}; goroutines left: {gosched.num_goroutine()}")

    try:
        await pipeline(context.background(), bad=5)
    except ValueError as e:
        print(f"first error: {e!r}; goroutines left: {gosched.num_goroutine()}")


async def until_ctrl_c() -> None:
    ctx, stop = signal.notify_context(context.background(), stdsignal.SIGINT)
    try:
        print("squaring until Ctrl-C", flush=True)
        got = await pipeline(ctx)
    finally:
        stop()  # Ctrl-C raises KeyboardInterrupt again from here on
    print(f"Ctrl-C: {len(got)} squares, then {ctx.err()}; goroutines left: {gosched.num_goroutine()}")


if __name__ == "__main__":
    gosched.run(until_ctrl_c if sys.argv[1:] == ["ctrl-c"] else main)
