"""gosched.signal (Go's os/signal): real signals sent to the test process and to children.

Ideas from Go's signal_test.go (TestStop, TestNotifyContext*). ``gosched.run`` is
called in the main thread (Python runs handlers there only), with a watchdog
that ends a hung run so that a failure cannot hang the suite.
"""

from __future__ import annotations

import os
import signal as S
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

import gosched
from _proc_helpers import runprog, signal_when_ready
from gosched import context, signal
from gosched._runtime import panic, proc, sigqueue

pytestmark = [pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")]


def mainrun(main: Callable[[], Coroutine[Any, Any, Any]], maxprocs: int = 4, timeout: float = 30.0) -> Any:
    """``gosched.run(main)`` in the main thread; a run still going after ``timeout`` s is ended."""

    def hung() -> None:
        s = proc.current
        if s is not None:
            panic.fatal(s, RuntimeError("test timeout"))

    dog = threading.Timer(timeout, hung)
    dog.start()
    try:
        return gosched.run(main, maxprocs=maxprocs)
    finally:
        dog.cancel()


@pytest.fixture(autouse=True)
def _handlers() -> Iterator[None]:
    """No handler of gosched's is left after a test; the test's own ones are undone."""
    before = {s: S.getsignal(s) for s in (S.SIGUSR1, S.SIGUSR2, S.SIGWINCH, S.SIGINT, S.SIGTERM)}
    yield
    left = [s for s in S.valid_signals() if S.getsignal(s) is sigqueue._handler]
    for s, h in before.items():
        S.signal(s, h)
    assert left == []


def kill(sig: int) -> None:
    os.kill(os.getpid(), sig)


async def killer(sig: int, n: int = 1) -> None:
    for _ in range(n):
        kill(sig)


def test_notify_from_goroutines_on_several_ms() -> None:
    async def main() -> list[int]:
        ch = gosched.Chan[S.Signals](1)
        signal.notify(ch, S.SIGUSR1)
        assert S.getsignal(S.SIGUSR1) not in (S.SIG_DFL, S.SIG_IGN)  # installed when notify returns
        got = []
        for _ in range(20):
            wg = gosched.WaitGroup()
            wg.add(4)

            async def one(wg: gosched.WaitGroup) -> None:
                try:
                    await killer(S.SIGUSR1)
                finally:
                    wg.done()

            for _ in range(4):
                gosched.go(one, wg)
            got.append(await ch.recv())
            await wg.wait()
            while ch.tryrecv()[2]:  # coalesced or not, drain what was delivered
                pass
        signal.stop(ch)
        return got

    got = mainrun(main)
    assert got == [S.SIGUSR1] * 20 and all(type(s) is S.Signals for s in got)


def test_stop_restores_previous_handler() -> None:
    """TestStop: after stop, a signal takes its earlier action (here a counting handler)."""
    seen: list[int] = []
    S.signal(S.SIGUSR1, lambda n, f: seen.append(n))

    async def main() -> None:
        c = gosched.Chan[S.Signals](1)
        signal.notify(c, S.SIGUSR1)
        kill(S.SIGUSR1)
        assert await c.recv() == S.SIGUSR1
        assert seen == []
        signal.stop(c)
        signal.stop(c)  # a no-op, as in Go
        kill(S.SIGUSR1)
        while not seen:  # the earlier handler runs in the main thread
            await gosched.sleep(0.01)
        _, _, got = c.tryrecv()
        assert not got

    mainrun(main)
    assert seen == [S.SIGUSR1]


def test_signal_waiter_is_not_a_deadlock() -> None:
    """A program waiting only for a signal is not reported as deadlocked (Go: #21576)."""

    async def main() -> S.Signals:
        ch = gosched.Chan[S.Signals](1)
        signal.notify(ch, S.SIGUSR2)
        threading.Timer(0.3, kill, (S.SIGUSR2,)).start()  # a plain thread that uses no gosched API
        return await ch.recv()

    assert mainrun(main) == S.SIGUSR2


def test_signal_waiter_in_select_is_not_a_deadlock() -> None:
    async def main() -> int:
        ch = gosched.Chan[S.Signals](1)
        other = gosched.Chan[int]()
        signal.notify(ch, S.SIGUSR2)
        threading.Timer(0.3, kill, (S.SIGUSR2,)).start()
        i, _, _ = await gosched.select(gosched.recv(other), gosched.recv(ch))
        return i

    assert mainrun(main) == 1


def test_after_stop_the_wait_is_a_deadlock() -> None:
    async def main() -> None:
        ch = gosched.Chan[S.Signals](1)
        signal.notify(ch, S.SIGUSR2)
        signal.stop(ch)
        await ch.recv()

    with pytest.raises(gosched.Deadlock, match="all goroutines are asleep"):
        mainrun(main)


def test_full_channel_drops_the_signal() -> None:
    """Go's non-blocking send: a channel not ready does not get the signal, others do."""

    async def main() -> None:
        full = gosched.Chan[Any](1)
        full.trysend("x")
        unbuffered = gosched.Chan[S.Signals]()
        ch = gosched.Chan[S.Signals](1)
        for c in (full, unbuffered, ch):
            signal.notify(c, S.SIGUSR1)
        kill(S.SIGUSR1)
        assert await ch.recv() == S.SIGUSR1
        signal.stop(ch)  # waits for the main thread's next pass: the delivery is over
        assert full.tryrecv() == ("x", True, True)
        assert full.tryrecv()[2] is False
        assert unbuffered.tryrecv()[2] is False
        signal.stop(full)
        signal.stop(unbuffered)

    mainrun(main)


def test_closed_channel_is_skipped() -> None:
    async def main() -> None:
        closed = gosched.Chan[S.Signals](1)
        ch = gosched.Chan[S.Signals](1)
        signal.notify(closed, S.SIGUSR1)
        signal.notify(ch, S.SIGUSR1)
        closed.close()
        kill(S.SIGUSR1)
        assert await ch.recv() == S.SIGUSR1
        signal.reset(S.SIGUSR1)

    mainrun(main)


def test_no_handler_outlives_run() -> None:
    """A program that never calls stop: run() puts every handler back."""
    before = {s: S.getsignal(s) for s in S.valid_signals() if s not in (S.SIGKILL, S.SIGSTOP)}

    async def main() -> None:
        signal.notify(gosched.Chan[S.Signals](1))  # every signal
        signal.notify(gosched.Chan[S.Signals](1), S.SIGUSR1)
        signal.ignore(S.SIGUSR2)
        assert signal.ignored(S.SIGUSR2)
        assert S.getsignal(S.SIGTERM) not in (S.SIG_DFL, S.SIG_IGN)

    mainrun(main)
    assert {s: S.getsignal(s) for s in before} == before


def test_ignore_and_reset() -> None:
    seen: list[int] = []
    S.signal(S.SIGUSR1, lambda n, f: seen.append(n))

    async def main() -> None:
        c = gosched.Chan[S.Signals](1)
        signal.notify(c, S.SIGUSR1)
        signal.ignore(S.SIGUSR1)  # also stops the relay to c
        assert signal.ignored(S.SIGUSR1)
        kill(S.SIGUSR1)
        kill(S.SIGUSR1)
        signal.notify(c, S.SIGUSR2)  # its sync waits for a pass: SIGUSR1 has been dropped
        assert not c.tryrecv()[2] and seen == []
        signal.reset(S.SIGUSR1)
        assert not signal.ignored(S.SIGUSR1)
        kill(S.SIGUSR1)
        while not seen:
            await gosched.sleep(0.01)
        signal.reset()

    mainrun(main)
    assert seen == [S.SIGUSR1]


def test_bad_input() -> None:
    with pytest.raises(RuntimeError, match=r"needs gosched\.run"):
        signal.notify(gosched.Chan[S.Signals](1), S.SIGUSR1)

    async def main() -> None:
        with pytest.raises(TypeError, match="os/signal: Notify using nil channel"):
            signal.notify(None, S.SIGUSR1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="SIGKILL cannot be caught"):
            signal.notify(gosched.Chan[S.Signals](1), S.SIGKILL)
        with pytest.raises(ValueError, match="SIGSTOP cannot be caught"):
            signal.ignore(S.SIGSTOP)
        with pytest.raises(ValueError, match="not a signal"):
            signal.notify(gosched.Chan[S.Signals](1), 1000)

    mainrun(main)


def test_run_off_the_main_thread_cannot_notify() -> None:
    async def main() -> None:
        signal.notify(gosched.Chan[S.Signals](1), S.SIGUSR1)

    box: list[BaseException] = []

    def target() -> None:
        try:
            gosched.run(main)
        except BaseException as e:
            box.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    assert len(box) == 1 and isinstance(box[0], RuntimeError)
    assert "main thread" in str(box[0])


# --- notify_context (Go's TestNotifyContext*) ----------------------------------------------------


def test_notify_context_notifications() -> None:
    async def main() -> None:
        ctx, stop = signal.notify_context(context.background(), S.SIGUSR1)
        try:
            gosched.go(killer, S.SIGUSR1)
            await ctx.wait_done()
            assert isinstance(ctx.err(), context.Canceled)
        finally:
            stop()

    mainrun(main)


def test_notify_context_stop() -> None:
    async def main() -> None:
        ctx, stop = signal.notify_context(context.background(), S.SIGUSR1)
        assert ctx.err() is None
        stop()
        stop()  # twice: a no-op
        assert isinstance(ctx.err(), context.Canceled)
        assert S.getsignal(S.SIGUSR1) == S.SIG_DFL
        while gosched.num_goroutine() > 1:  # the watcher goroutine ends
            await gosched.sleep(0.001)

    mainrun(main)


def test_notify_context_cancel_parent() -> None:
    async def main() -> None:
        parent, cancel = context.with_cancel(context.background())
        ctx, stop = signal.notify_context(parent, S.SIGUSR1)
        try:
            cancel()
            await ctx.wait_done()
            assert isinstance(ctx.err(), context.Canceled)
        finally:
            stop()

    mainrun(main)


def test_notify_context_premature_cancel_parent() -> None:
    async def main() -> None:
        parent, cancel = context.with_cancel(context.background())
        cancel()
        ctx, stop = signal.notify_context(parent, S.SIGUSR1)
        try:
            assert isinstance(ctx.err(), context.Canceled)
            assert gosched.num_goroutine() == 1  # no watcher started
        finally:
            stop()

    mainrun(main)


def test_notify_context_simultaneous_stop() -> None:
    async def main() -> None:
        ctx, stop = signal.notify_context(context.background(), S.SIGUSR1)
        wg = gosched.WaitGroup()
        wg.add(10)

        async def stopper() -> None:
            try:
                stop()
            finally:
                wg.done()

        for _ in range(10):
            gosched.go(stopper)
        await wg.wait()
        await ctx.wait_done()
        assert S.getsignal(S.SIGUSR1) == S.SIG_DFL

    mainrun(main)


def test_notify_context_nil_parent() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="cannot create context from nil parent"):
            signal.notify_context(None, S.SIGUSR1)  # type: ignore[arg-type]

    mainrun(main)


# --- from outside the process ----------------------------------------------------------------------


PROG = """
import signal as S
import gosched
from gosched import signal

async def main():
    ch = gosched.Chan(1)
    signal.notify(ch, S.SIGTERM)
    print("ready", flush=True)
    sig = await ch.recv()
    print("got", sig.name, flush=True)

gosched.run(main, maxprocs=2)
"""


def test_sigterm_from_parent(tmp_path: Path) -> None:
    """A signal from another process reaches the channel; the program ends normally."""
    path = tmp_path / "prog.py"
    path.write_text(PROG)
    rc, out, err = signal_when_ready([sys.executable, str(path)], S.SIGTERM)
    assert (rc, out) == (0, "got SIGTERM\n"), err


CTRL_C = """
import gosched
from gosched import signal

async def worker(started):
    try:
        started.close()
        await gosched.sleep(60)
    finally:
        print("worker finally", flush=True)

async def main():
    started = gosched.Chan()
    gosched.go(worker, started)
    await started.wait_closed()
    try:
        print("ready", flush=True)
        await gosched.sleep(60)
    finally:
        print("main finally", flush=True)

gosched.run(main, maxprocs=2)
"""


def test_ctrl_c_runs_main_finally(tmp_path: Path) -> None:
    """Ctrl-C with no gosched.signal: main's and the other goroutines' finally blocks run
    (their coroutines are closed at the run's end), and the program ends with one
    KeyboardInterrupt."""
    path = tmp_path / "prog.py"
    path.write_text(CTRL_C)
    rc, out, err = signal_when_ready([sys.executable, str(path)], S.SIGINT)
    assert rc == -S.SIGINT, err  # Python re-raises SIGINT to die by it
    assert out == "main finally\nworker finally\n"
    assert err.count("Traceback") == 1 and err.rstrip().endswith("KeyboardInterrupt"), err


FORKED = """
import os, signal as S
import gosched
from gosched import signal

async def main():
    ch = gosched.Chan(1)
    signal.notify(ch, S.SIGTERM)
    pid = os.fork()
    if pid == 0:  # the child: its SIGTERM kills it, as if gosched had never caught it
        os.kill(os.getpid(), S.SIGTERM)
        os._exit(0)
    _, status = await gosched.syscall(os.waitpid, pid, 0)
    print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == S.SIGTERM, flush=True)
    signal.stop(ch)

gosched.run(main, maxprocs=2)
"""


def test_forked_child_gets_default_handlers(tmp_path: Path) -> None:
    r = runprog(tmp_path, FORKED, timeout=60)
    assert (r.returncode, r.stdout) == (0, "True\n"), r.stderr
