"""The C accelerator (_runtime/_speedups.c) against the pure-Python reference.

go(): each test runs with both implementations (the ``go`` fixture); the C one
is what ``gosched.go`` is on a GIL build of CPython with the extension built,
and it must be indistinguishable from ``main.pygo``: the same G fields, the same
run order, the same errors, the same behaviour with no M or no P, and no
goroutine lost, duplicated or run twice under many Ms and a tiny switch
interval. send(): the scheduler's resume, checked directly. The pure-Python
runtime (GOSCHED_PURE_PYTHON=1, what a free-threaded CPython runs) is run on
the core test files in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gosched
from _core_helpers import current_g, in_thread, run, tiny_switch, wait_until
from gosched._runtime import main, speedups
from gosched._runtime.runtime2 import GOID_CACHE_BATCH, G, Gdead, Grunnable

IMPLS = {"python": main.pygo}
if main.cgo is not None:
    IMPLS["c"] = main.cgo


@pytest.fixture(params=sorted(IMPLS))
def go(request: pytest.FixtureRequest) -> Callable[..., G]:
    fn: Callable[..., G] = IMPLS[request.param]
    return fn


def test_c_go_is_built_and_used() -> None:
    """With a C compiler, pip install builds the extension on a GIL CPython, and go() is it."""
    if sysconfig.get_config_var("Py_GIL_DISABLED") or os.environ.get("GOSCHED_PURE_PYTHON"):
        pytest.skip("pure-Python runtime by design here")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}): the optional extension cannot be built")
    assert main.cgo is not None, "the C extension was not built: pip install -e . needs a C compiler"
    assert gosched.go is main.cgo


async def _nothing(*args: Any, **kwargs: Any) -> None:
    pass


def _fields(g: G) -> dict[str, Any]:
    return {name: getattr(g, name) for name in G.__slots__}


def test_g_fields_match_the_reference() -> None:
    """Every slot of a G from the C go() equals the Python one's, but the ids and site."""

    async def main_() -> tuple[dict[str, Any], ...]:
        me = current_g()
        gs = []
        for impl in IMPLS.values():  # not a comprehension: its own frame on 3.11
            gs.append(impl(_nothing, 1, k=2)._g)
        out = []
        for g in gs:
            f = _fields(g)
            assert f["goid"] > me.goid and f["parentid"] == me.goid
            assert f["status"] == Grunnable and f["pcglobals"] is globals()
            assert f["pc"] is main_.__code__ and g.gopc is not None and g.gopc[0] == __file__
            assert g.startfn == f"{__name__}._nothing"
            for k in ("goid", "coro", "pclasti"):
                f.pop(k)
            out.append(f)
        await gosched.gosched()
        assert all(g.status == Gdead for g in gs)
        return tuple(out)

    fields = run(main_)
    assert all(f == fields[0] for f in fields)


def test_runnext_order(go: Callable[..., G]) -> None:
    """The last goroutine started runs first (runnext), then the others in order (runq)."""

    async def main_() -> list[int]:
        order: list[int] = []

        async def rec(i: int) -> None:
            order.append(i)

        for i in range(5):
            go(rec, i)
        await gosched.gosched()
        await gosched.gosched()
        return order

    assert run(main_) == [4, 0, 1, 2, 3]


def test_kwargs_generator_coroutines_and_awaitables(go: Callable[..., G]) -> None:
    @types.coroutine
    def gen_based(box: list[str]) -> Any:
        box.append("gen")
        yield from ()

    async def main_() -> list[str]:
        box: list[str] = []
        wg = gosched.WaitGroup()

        async def kw(*, word: str) -> None:
            box.append(word)
            wg.done()

        wg.add(1)
        go(kw, word="kw")
        await wg.wait()
        go(gen_based, box)
        ch = gosched.Chan[int](1)
        go(ch.send, 7)  # a plain def returning an awaitable
        go(ch.recv())  # a coroutine object
        await gosched.sleep(0.01)
        return box

    assert run(main_) == ["kw", "gen"]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 1 required positional argument"),
        ((42,), {}, "needs an async function or a coroutine, not int"),
        ((print,), {}, "returned NoneType, not a coroutine"),
        ((_nothing,), {"fn": 1}, "multiple values for argument 'fn'"),
    ],
)
def test_errors_in_go_words(
    go: Callable[..., G], args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    async def main_() -> None:
        with pytest.raises(TypeError, match=message):
            go(*args, **kwargs)

    run(main_)


def test_bad_arguments_to_the_function_raise_at_go(go: Callable[..., G]) -> None:
    async def one(x: int) -> None:
        pass

    async def main_() -> None:
        with pytest.raises(TypeError, match="positional argument"):
            go(one, 1, 2)
        assert gosched.num_goroutine() == 1

    run(main_)


def test_no_runtime(go: Callable[..., G]) -> None:
    with pytest.raises(RuntimeError, match=r"needs a running runtime"):
        go(_nothing)


def test_from_a_plain_thread_goes_to_the_global_queue(go: Callable[..., G]) -> None:
    """No M: the Python path (newproc with m=None, globrunqput) in both cases."""

    async def main_() -> int:
        done = gosched.Chan[int](1)

        async def child() -> None:
            await done.send(current_g().parentid)

        in_thread(lambda: go(child))
        return await done.recv()

    assert run(main_) == 0  # no creating goroutine


def test_goid_batches_across_ms(go: Callable[..., G]) -> None:
    """Goids stay unique when both Ms refill their batches (newgoid) concurrently."""
    n = 20 * GOID_CACHE_BATCH

    async def main_() -> list[int]:
        wg = gosched.WaitGroup()
        ids: list[int] = []
        lock = gosched.Mutex()

        async def spawner() -> None:
            for _ in range(n):
                wg.add(1)
                ids.append(go(child).id)
            wg.done()

        async def child() -> None:
            await lock.lock()
            lock.unlock()
            wg.done()

        wg.add(2)
        gosched.go(spawner)
        gosched.go(spawner)
        await wg.wait()
        return ids

    with tiny_switch():
        ids = run(main_, maxprocs=2)
    assert len(ids) == len(set(ids)) == 2 * n


def test_spawner_without_its_p_feeds_the_global_queue(go: Callable[..., G]) -> None:
    """A goroutine that never yields loses its P to sysmon; what it starts still runs."""

    async def main_() -> bool:
        ran = threading.Event()

        async def child() -> None:
            ran.set()

        deadline = time.monotonic() + 10
        while not ran.is_set() and time.monotonic() < deadline:  # never reaches the scheduler
            go(child)
        return ran.is_set()

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BlockingWarning: the point of the test
        assert run(main_)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fanout=st.lists(st.integers(0, 6), min_size=1, max_size=6), maxprocs=st.integers(1, 4))
def test_spawn_trees_run_every_goroutine_once(go: Callable[..., G], fanout: list[int], maxprocs: int) -> None:
    """A tree of goroutines (fanout per level): each runs exactly once, none on two Ms."""
    running: set[int] = set()
    seen: list[int] = []
    guard = threading.Lock()
    errors: list[str] = []

    async def node(level: int, wg: gosched.WaitGroup) -> None:
        me = current_g().goid
        with guard:
            if me in running:
                errors.append(f"goroutine {me} on two Ms")
            running.add(me)
            seen.append(me)
        if level < len(fanout):
            for _ in range(fanout[level]):
                wg.add(1)
                go(node, level + 1, wg)
        await gosched.gosched()
        with guard:
            running.discard(me)
        wg.done()

    async def main_() -> int:
        wg = gosched.WaitGroup()
        wg.add(1)
        go(node, 0, wg)
        await wg.wait()
        # The last nodes may still be returning on another M after wg.done().
        await wait_until(lambda: gosched.num_goroutine() == 1)
        return gosched.num_goroutine()

    with tiny_switch():
        left = run(main_, maxprocs=maxprocs)
    expected, width = 1, 1
    for f in fanout:
        width *= f
        expected += width
    assert not errors
    assert len(seen) == len(set(seen)) == expected
    assert left == 1


def test_refcounts_do_not_leak() -> None:
    """The C go() keeps no reference to the function, its arguments or the G."""
    if "c" not in IMPLS:
        pytest.skip("no C extension")
    arg = object()

    async def main_() -> tuple[int, int]:
        before = sys.getrefcount(arg), sys.getrefcount(_nothing)
        for _ in range(100):
            IMPLS["c"](_nothing, arg)
        await gosched.gosched()
        await gosched.gosched()
        return sys.getrefcount(arg) - before[0], sys.getrefcount(_nothing) - before[1]

    assert run(main_) == (0, 0)


@types.coroutine
def _yield(v: Any) -> Any:
    return (yield v)


def test_send_reports_yields_returns_and_raises() -> None:
    send = speedups.send
    if send is None:
        pytest.skip("no C extension")

    async def body(ret: Any) -> Any:
        got = await _yield("first")
        assert got == "resumed"
        if ret == "raise":
            raise KeyError("boom")
        return ret

    c = body(None)
    assert send(c, None) == "first"
    assert send(c, "resumed") is speedups.EXIT  # returned None: no StopIteration
    c = body(5)
    send(c, None)
    r = send(c, "resumed")
    assert type(r) is speedups.Returned and r.value == 5
    c = body("raise")
    send(c, None)
    with pytest.raises(KeyError, match="boom"):
        send(c, "resumed")
    with pytest.raises(TypeError, match="just-started coroutine"):
        send(body(None), 1)
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        send(c, None)

    @types.coroutine
    def gen() -> Any:
        yield 1
        return 2

    g = gen()
    assert send(g, None) == 1
    assert send(g, None).value == 2


def test_goroutines_returning_values_exit(go: Callable[..., G]) -> None:
    """A goroutine's return value is dropped (Go's go statement); main's is run()'s."""

    async def value() -> int:
        await gosched.gosched()
        return 42

    async def main_() -> str:
        for _ in range(10):
            go(value)
        await wait_until(lambda: gosched.num_goroutine() == 1)
        return "main's"

    assert run(main_) == "main's"


def test_pure_python_runtime_passes_the_core_tests() -> None:
    """The runtime without the extension (a free-threaded CPython's) on the core test files."""
    if os.environ.get("GOSCHED_PURE_PYTHON"):
        pytest.skip("already the pure-Python runtime")
    files = ["test_run.py", "test_sched.py", "test_chan.py", "test_stress.py", "test_go_speedups.py"]
    here = os.path.dirname(__file__)
    env = dict(os.environ, GOSCHED_PURE_PYTHON="1")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", *(os.path.join(here, f) for f in files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    failed = "\n".join(ln for ln in r.stdout.splitlines() if ln.startswith("_____"))
    assert r.returncode == 0, failed + "\n" + r.stdout[-6000:] + r.stderr[-2000:]
