"""Context trees cancelled while they grow: several goroutines on several Ms (tiny GIL
switch interval) create children of random nodes, cancel random nodes, register and stop
after_func callbacks, while deadlines expire on the fake clock (hypothesis).

Invariants, checked once every goroutine is quiet (``testing.wait``) and again after the
root is cancelled: each done() channel is closed exactly once (a second close would raise
``close of closed channel`` in the canceller) and wakes its waiter exactly once; a
cancelled context has no children and is registered with no parent; a live one is
registered with its live parent; each after_func callback runs at most once, and exactly
once unless ``stop()`` returned True.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import run, tiny_switch
from gosched import context
from gosched.context import Context

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]

CREATE, CANCEL, AFTER, STOP, SLEEP = range(5)


@dataclass(frozen=True)
class Program:
    procs: int
    actors: tuple[tuple[tuple[int, int, int], ...], ...]  # per goroutine: (op, pick, arg)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    op = st.tuples(st.integers(0, 4), st.integers(0, 1 << 16), st.integers(0, 7))
    actors = draw(st.lists(st.lists(op, min_size=5, max_size=80).map(tuple), min_size=2, max_size=5))
    return Program(draw(st.integers(1, 4)), tuple(actors))


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    with tiny_switch():
        yield


class Node:
    __slots__ = ("cancel", "ctx", "woke")

    def __init__(self, ctx: Context, cancel: Callable[[], None]) -> None:
        self.ctx, self.cancel, self.woke = ctx, cancel, 0


class Reg:
    """One after_func registration."""

    __slots__ = ("ran", "stop", "stopped")

    def __init__(self) -> None:
        self.ran = 0
        self.stopped = False
        self.stop: Callable[[], bool] = lambda: False

    def f(self) -> None:
        self.ran += 1


def check_tree(nodes: list[Node]) -> None:
    for node in nodes:
        ctx = node.ctx
        assert isinstance(ctx, context._CancelCtx)
        p = context._parent_cancel_ctx(ctx.parent)
        d = ctx.done()
        assert d is not None
        if ctx.err() is not None:
            assert d.closed and ctx._children is None
            assert p is None or p._children is None or ctx not in p._children, "cancelled, still registered"
            assert node.woke == 1
        else:
            assert not d.closed and node.woke == 0
            if ctx.parent is context.background():
                continue  # the root
            assert p is not None and p.err() is None, "live child of a cancelled parent"
            assert p._children is not None and ctx in p._children, "live child not registered"


async def run_program(prog: Program) -> None:
    nodes: list[Node] = []  # appended by several goroutines: list.append is atomic
    regs: list[Reg] = []
    watchers = gosched.WaitGroup()

    async def watch(node: Node) -> None:
        await node.ctx.wait_done()
        node.woke += 1
        watchers.done()

    def add(ctx: Context, cancel: Callable[[], None]) -> None:
        node = Node(ctx, cancel)
        nodes.append(node)
        watchers.add(1)
        gosched.go(watch, node)

    def create(parent: Context, kind: int) -> None:
        if kind <= 1:
            c, cancel = context.with_cancel(parent)
        elif kind == 2:
            cc, cancel_cause = context.with_cancel_cause(parent)
            c, cancel = cc, lambda: cancel_cause(KeyError("why"))
        elif kind <= 5:
            c, cancel = context.with_timeout(parent, 0.001 * (kind - 2))  # expires as we go
        elif kind == 6:
            c, cancel = context.with_cancel(context.with_value(parent, "k", kind))
        else:
            c, cancel = context.with_timeout(parent, 3600)
        add(c, cancel)

    def register(parent: Context) -> None:
        r = Reg()
        r.stop = context.after_func(parent, r.f)
        regs.append(r)

    async def actor(ops: tuple[tuple[int, int, int], ...], done: gosched.WaitGroup) -> None:
        for op, pick, arg in ops:
            if op == CREATE:
                create(nodes[pick % len(nodes)].ctx, arg)
            elif op == CANCEL:
                nodes[pick % len(nodes)].cancel()
            elif op == AFTER:
                register(nodes[pick % len(nodes)].ctx)
            elif op == STOP and regs:
                r = regs[pick % len(regs)]
                if r.stop():
                    r.stopped = True
            elif op == SLEEP:
                await gosched.sleep(0.0005 * arg)
            else:
                await gosched.gosched()
        done.done()

    add(*context.with_cancel(context.background()))
    actors = gosched.WaitGroup()
    for ops in prog.actors:
        actors.add(1)
        gosched.go(actor, ops, actors)
    await actors.wait()
    await gosched.testing.wait()  # expiries, watchers and after_func callbacks have finished
    check_tree(nodes)

    nodes[0].cancel()  # the root
    await watchers.wait()  # every watcher woke: every done() closed
    await gosched.testing.wait()
    check_tree(nodes)
    assert all(n.ctx.err() is not None for n in nodes)
    for k, r in enumerate(regs):
        assert r.ran == (0 if r.stopped else 1), f"after_func {k}: ran {r.ran} times, stopped {r.stopped}"
    for n in nodes:
        n.cancel()  # again: a no-op
    assert gosched.num_goroutine() == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prog=programs())
def test_cancel_trees_while_they_grow(tiny_switch_interval: None, prog: Program) -> None:
    run(run_program, prog, maxprocs=prog.procs, clock="fake", timeout=60)
