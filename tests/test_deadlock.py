"""checkdead: Go's deadlock family (runtime/crash_test.go, testdata/testprog/deadlock.go)
ported to gosched, plus what gosched does beyond Go (owners, cycles, no timer blind spot).

Programs run in a subprocess like Go's runTestProg: a tiny Go-like ``main`` prints
``fatal error: <Deadlock message>`` to stderr and exits 2, as Go does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gosched
from gosched._runtime import proc
from gosched._runtime import timers as _timers

ASLEEP = "fatal error: all goroutines are asleep - deadlock!\n"
GOEXIT = "fatal error: no goroutines (main called runtime.Goexit) - deadlock!\n"

PRELUDE = '''\
import sys, time, threading
import gosched

def gomain(main, **kw):
    try:
        gosched.run(main, **kw)
    except gosched.Deadlock as e:
        sys.stdout.flush()
        sys.stderr.write(f"fatal error: {e}\\n")
        sys.exit(2)
'''


def runprog(
    tmp_path: Path, body: str, env: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, str]:
    """Run a program; return (exit status, combined stdout+stderr) as Go's runTestProg does."""
    src = tmp_path / "prog.py"
    src.write_text(PRELUDE + textwrap.dedent(body))
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GOTRACEBACK", "GOSCHED_"))}
    e.update(env or {})
    p = subprocess.run(
        [sys.executable, str(src)],
        cwd=tmp_path,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout


# --- 10.1 #1 TestSimpleDeadlock ---------------------------------------------------------


def test_simple_deadlock(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            await gosched.select()
        gomain(main)
        """,
    )
    assert rc == 2
    assert out.startswith(ASLEEP)
    lines = out.splitlines()
    assert lines[1] == ""
    assert lines[2] == "goroutine 1 [select (no cases)]:"
    assert lines[3] == "__main__.main(...)"
    assert lines[4] == f"\t{tmp_path / 'prog.py'}:{PRELUDE.count(chr(10)) + 3}"


# --- 10.1 #2 TestInitDeadlock: deadlock while a module is being imported -------------------


def test_init_deadlock(tmp_path: Path) -> None:
    (tmp_path / "initmod.py").write_text(
        textwrap.dedent(
            """
            import gosched
            async def init():
                await gosched.select()
            gosched.run(init)   # at import time, as Go's package init
            """
        )
    )
    rc, out = runprog(
        tmp_path,
        """
        try:
            import initmod
        except gosched.Deadlock as e:
            sys.stderr.write(f"fatal error: {e}\\n")
            sys.exit(2)
        """,
    )
    assert rc == 2
    assert out.startswith(ASLEEP + "\ngoroutine 1 [select (no cases)]:\ninitmod.init(...)\n")


# --- the captured Go program: main receives, another sends on a nil channel -----------------


def test_deadlock_two_goroutines_dump(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            c = gosched.Chan()
            async def f():
                await gosched.select(gosched.send(None, 1))
            gosched.go(f)
            await c.recv()
        gomain(main)
        """,
    )
    assert rc == 2
    lines = out.splitlines()
    assert out.startswith(ASLEEP)
    assert lines[2] == "goroutine 1 [chan receive]:"
    assert lines[3] == "__main__.main(...)"
    assert lines[5] == ""
    assert lines[6].startswith("goroutine ") and lines[6].endswith(" [select (no cases)]:")
    assert lines[7] == "__main__.main.<locals>.f(...)"
    assert lines[9] == "created by __main__.main in goroutine 1"
    assert lines[10].startswith(f"\t{tmp_path / 'prog.py'}:")


# --- 10.1 #5 TestGoexitDeadlock --------------------------------------------------------------


def test_goexit_deadlock(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def F():
            for i in range(10):
                pass
        async def main():
            gosched.go(F)
            gosched.go(F)
            gosched.goexit()
        gomain(main)
        """,
    )
    assert rc == 2
    assert out == GOEXIT  # Go prints exactly this line, no goroutine dump


# --- 10.1 #6 TestGoexitCrash: Goexit in main while others still run -------------------------


def test_goexit_in_main_with_others_running(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def worker(c, n):
            for i in range(n):
                await c.send(i)
            c.close()
        async def reader(c):
            s = 0
            async for v in c:
                s += v
            print("sum", s, flush=True)
        async def main():
            print("t1", flush=True)
            c = gosched.Chan()
            gosched.go(worker, c, 100)
            gosched.go(reader, c)
            print("t2", flush=True)
            gosched.goexit()
        gomain(main, maxprocs=2)
        """,
    )
    assert rc == 2
    assert out == "t1\nt2\nsum 4950\n" + GOEXIT


def test_goexit_main_then_others_block_is_asleep(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def blocked():
            await gosched.Chan().recv()
        async def main():
            gosched.go(blocked)
            gosched.goexit()
        gomain(main)
        """,
    )
    assert rc == 2
    assert out.startswith(ASLEEP + "\ngoroutine 2 [chan receive]:\n")
    assert "goroutine 1 " not in out


# --- sleeping with pending timers: no deadlock; an unrelated timer does not hide one --------


def test_sleep_with_pending_timers_is_not_deadlock() -> None:
    async def main() -> float:
        c: gosched.Chan[int] = gosched.Chan()

        async def later() -> None:
            await gosched.sleep(0.05)
            await c.send(1)

        gosched.go(later)
        await c.recv()
        t = gosched.Timer(0.05)
        v = await t.c.recv()  # a receive on a timer's channel waits for it
        await gosched.after(0.02).recv()
        return v

    assert gosched.run(main) > 0


def test_unrelated_timer_does_not_hide_deadlock() -> None:
    # Go hangs for an hour here (time.AfterFunc(time.Hour, ...); <-make(chan int)).
    async def main() -> None:
        _t = gosched.Timer(3600)
        _tk = gosched.Ticker(1800)
        await gosched.Chan[int]().recv()

    t0 = time.monotonic()
    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main)
    assert time.monotonic() - t0 < 10
    assert str(ei.value).startswith("all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\n")
    assert isinstance(ei.value, RuntimeError)
    assert ei.value.reason == "all goroutines are asleep - deadlock!"


def test_timer_fires_then_deadlock(tmp_path: Path) -> None:
    # Go's captured timerok: the timer's goroutine prints, then the program deadlocks.
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            t = gosched.Timer(0.1)
            await t.c.recv()
            print(1, flush=True)
            await gosched.Chan().recv()
        gomain(main)
        """,
    )
    assert rc == 2
    assert out.startswith("1\n" + ASLEEP + "\ngoroutine 1 [chan receive]:\n")


# --- 10.1 #16 TestNetpollDeadlock and IO wait ------------------------------------------------


def test_netpoll_dial_failure_does_not_deadlock(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            print("dialing", flush=True)
            try:
                await gosched.net.dial("tcp", "127.0.0.1:1")
            except OSError as e:
                print("error", type(e).__name__, flush=True)
            print("done", flush=True)
        gomain(main)
        """,
    )
    assert rc == 0, out
    assert out.endswith("done\n")


def test_blocked_in_netpoller_is_not_deadlock() -> None:
    import socket
    import threading

    net = gosched.net  # import outside the goroutine (an import is a blocking call)
    a, b = socket.socketpair()
    a.setblocking(False)

    def writer() -> None:
        time.sleep(0.2)
        b.send(b"x")

    async def main() -> bytes:
        threading.Thread(target=writer).start()
        await net.wait_readable(a)  # IO wait: a descriptor may still wake us
        return a.recv(1)

    try:
        assert gosched.run(main) == b"x"
    finally:
        a.close()
        b.close()


# --- blocked in a syscall: no deadlock -------------------------------------------------------


def test_blocked_in_syscall_is_not_deadlock() -> None:
    async def main() -> int:
        c: gosched.Chan[int] = gosched.Chan()

        async def sys_then_send() -> None:
            await gosched.syscall(time.sleep, 0.2)
            await c.send(7)

        gosched.go(sys_then_send)
        return await c.recv()

    assert gosched.run(main) == 7


# --- a lock held by a goroutine that exited ---------------------------------------------------


def test_lock_held_by_exited_goroutine(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            mu = gosched.Mutex()
            wg = gosched.WaitGroup()
            wg.add(1)
            async def take():
                await mu.lock()
                wg.done()
            gosched.go(take)
            await wg.wait()
            await mu.lock()
        gomain(main)
        """,
    )
    assert rc == 2
    lines = out.splitlines()
    assert out.startswith(ASLEEP + "\ngoroutine 1 [sync.Mutex.Lock]:\n__main__.main(...)\n")
    want = r"goroutine 1 waits for mu \(\*Mutex 0x[0-9a-f]+\), held by goroutine 2, which has exited"
    assert any(re.fullmatch(want, ln) for ln in lines), lines


def test_wait_for_cycle_names_owners() -> None:
    ids: list[int] = []

    async def main() -> None:
        mu1, mu2 = gosched.Mutex(), gosched.Mutex()
        ids.extend((id(mu1), id(mu2)))
        ready = gosched.WaitGroup()
        ready.add(2)

        async def a() -> None:
            await mu1.lock()
            ready.done()
            await ready.wait()
            await mu2.lock()

        async def b() -> None:
            await mu2.lock()
            ready.done()
            await ready.wait()
            await mu1.lock()

        ga = gosched.go(a)
        gb = gosched.go(b)
        assert (ga.id, gb.id) == (2, 3)
        await gosched.select()

    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main, maxprocs=2)
    msg = str(ei.value)
    lines = msg.splitlines()
    m1, m2 = (f"*Mutex {i:#x}" for i in ids)
    assert f"goroutine 2 waits for mu2 ({m2}), held by goroutine 3" in lines
    assert f"goroutine 3 waits for mu1 ({m1}), held by goroutine 2" in lines
    assert (
        f"wait-for cycle: goroutine 2 holds mu1 ({m1}) and waits for mu2 ({m2}); "
        f"goroutine 3 holds mu2 ({m2}) and waits for mu1 ({m1})"
    ) in lines


class _Guard(gosched.Mutex):
    """A program's own lock type built on gosched.Mutex."""


class _Jobs(gosched.Chan[int]):
    """A program's own channel type."""


def test_subclasses_of_primitives_are_described() -> None:
    """The dump asks the object a goroutine waits on to describe itself (waitdesc), so a
    subclass of Mutex or Chan is described like its base: before, dumps matched the class
    name, and a program's own subclasses got no "blocked on" line and no wait-for cycle."""
    ids: list[int] = []

    async def main() -> None:
        mu1, mu2, jobs = _Guard(), _Guard(), _Jobs()
        ids.extend((id(mu1), id(mu2), id(jobs)))
        await mu1.lock()

        async def other() -> None:
            await mu2.lock()
            await jobs.send(0)  # main holds mu1 and waits for mu2 from here on
            await mu1.lock()

        async def idle() -> None:
            await jobs.recv()

        gosched.go(other)
        await jobs.recv()
        gosched.go(idle)
        await mu2.lock()

    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main, maxprocs=2)
    lines = str(ei.value).splitlines()
    m1, m2, c = (f"*{kind} {i:#x}" for kind, i in zip(("_Guard", "_Guard", "_Jobs"), ids, strict=True))
    # idle's goid depends on which M's goid batch it came from (as in Go): read it off its header.
    idle = next(
        ln.split()[1]
        for i, ln in enumerate(lines)
        if ln.endswith("[chan receive]:") and "idle" in lines[i + 1]
    )
    want = f"goroutine {idle} waits on channel jobs ({c}), 0/0 buffered: receivers [{idle}], senders []"
    assert want in lines
    assert f"goroutine 1 waits for mu2 ({m2}), held by goroutine 2" in lines
    assert f"goroutine 2 waits for mu1 ({m1}), held by goroutine 1" in lines
    assert (
        f"wait-for cycle: goroutine 1 holds mu1 ({m1}) and waits for mu2 ({m2}); "
        f"goroutine 2 holds mu2 ({m2}) and waits for mu1 ({m1})"
    ) in lines


def test_channel_sides_are_named() -> None:
    async def main() -> None:
        jobs: gosched.Chan[int] = gosched.Chan(1)
        await jobs.send(1)

        async def producer() -> None:
            await jobs.send(2)

        gosched.go(producer)
        gosched.go(producer)
        wg = gosched.WaitGroup()
        wg.add(1)
        await wg.wait()

    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main)
    lines = [re.sub(r" 0x[0-9a-f]+\)", " 0x?)", ln) for ln in str(ei.value).splitlines()]
    assert "blocked on:" in lines
    assert "goroutine 1 waits for wg (*WaitGroup 0x?), counter 1" in lines
    assert any(
        ln in ("goroutine 2 waits on channel jobs (*Chan 0x?), 1/1 buffered: receivers [], senders [2, 3]",
               "goroutine 2 waits on channel jobs (*Chan 0x?), 1/1 buffered: receivers [], senders [3, 2]")
        for ln in lines
    ), lines


# --- GOTRACEBACK ----------------------------------------------------------------------------


def test_gotraceback_none_prints_only_the_line(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            await gosched.Chan().recv()
        gomain(main)
        """,
        env={"GOTRACEBACK": "none"},
    )
    assert rc == 2
    assert out == ASLEEP


def test_gotraceback_system_shows_runtime_frames(tmp_path: Path) -> None:
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            await gosched.Chan().recv()
        gomain(main)
        """,
        env={"GOTRACEBACK": "system"},
    )
    assert rc == 2
    assert "gosched._runtime.chan.Chan.recv(...)" in out


# --- the example ----------------------------------------------------------------------------


def test_example_deadlock_exit_status_2() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "gosched.examples.deadlock"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2
    assert p.stderr.startswith(ASLEEP + "\ngoroutine 1 [sync.WaitGroup.Wait]:\n")


# --- the foreign rule ------------------------------------------------------------------------


def test_foreign_channel_is_never_a_false_deadlock() -> None:
    import threading

    async def main() -> int:
        ch: gosched.Chan[int] = gosched.Chan()
        ch.foreign = True  # a plain thread will send on it later (docs/checkdead.md)
        threading.Thread(target=lambda: (time.sleep(0.2), ch.send_blocking(42))).start()
        return await ch.recv()

    assert gosched.run(main) == 42


def test_unmarked_channel_used_later_by_a_thread_is_reported() -> None:
    # The other side of the rule: nothing tells checkdead that a thread will use
    # this channel, so a program blocked on it is reported as deadlocked.
    import threading

    stop = threading.Event()

    async def main() -> int:
        ch: gosched.Chan[int] = gosched.Chan()

        def late() -> None:
            if not stop.wait(5):
                ch.send_blocking(1)

        threading.Thread(target=late, daemon=True).start()
        return await ch.recv()

    with pytest.raises(gosched.Deadlock):
        gosched.run(main)
    stop.set()


def test_thread_that_used_a_channel_and_ended_no_longer_hides_a_deadlock(tmp_path: Path) -> None:
    # issue 14, item 10: send_blocking marked the channel foreign for good, so a
    # program whose goroutines all waited on it after the thread ended hung
    # silently. Now the thread counts only while it lives; its end makes
    # checkdead look again. Both orders: the thread ends before main blocks
    # again, and after (the thread waits until main is queued on the channel).
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            ch = gosched.Chan(1)
            t = threading.Thread(target=ch.send_blocking, args=(1,))
            t.start()
            await gosched.syscall(t.join)  # it used the channel (and ended) before main waits
            assert await ch.recv() == 1
            await ch.recv()
        gomain(main)
        """,
        timeout=20,
    )
    assert rc == 2 and out.startswith(ASLEEP + "\ngoroutine 1 [chan receive]:"), out
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            ch = gosched.Chan(1)
            sent = threading.Event()
            def thread():
                ch.send_blocking(1)
                sent.set()
                while not ch.waiters()[0]:
                    time.sleep(0.005)
            threading.Thread(target=thread).start()
            await gosched.syscall(sent.wait)
            assert await ch.recv() == 1
            await ch.recv()  # the thread still lives here, then ends
        gomain(main, maxprocs=2)
        """,
        timeout=20,
    )
    assert rc == 2 and out.startswith(ASLEEP + "\ngoroutine 1 [chan receive]:"), out


def test_blocking_api_inside_syscall_does_not_make_an_object_foreign(tmp_path: Path) -> None:
    # A goroutine in gosched.syscall is counted as a goroutine; its M's thread is
    # not a foreign user, so the channel does not silence checkdead afterwards.
    rc, out = runprog(
        tmp_path,
        """
        async def main():
            ch = gosched.Chan(1)
            await gosched.syscall(ch.send_blocking, 1)
            mu = gosched.Mutex()
            assert await gosched.syscall(mu.lock_blocking)
            assert await ch.recv() == 1
            await ch.recv()
        gomain(main)
        """,
        timeout=20,
    )
    assert rc == 2 and out.startswith(ASLEEP + "\ngoroutine 1 [chan receive]:"), out


def test_live_foreign_user_is_counted_and_named_in_the_dump() -> None:
    import threading

    dumps: list[str] = []

    async def main() -> list[int]:
        ch: gosched.Chan[int] = gosched.Chan(1)
        sent = threading.Event()

        def thread() -> None:
            ch.send_blocking(1)
            sent.set()
            while not ch.waiters()[0]:  # main waits again: the thread still lives
                time.sleep(0.005)
            dumps.append(gosched.dump())
            ch.send_blocking(2)

        t = threading.Thread(target=thread)
        t.start()
        await gosched.syscall(sent.wait)
        got = [await ch.recv(), await ch.recv()]
        await gosched.syscall(t.join)
        return got

    assert gosched.run(main, maxprocs=2) == [1, 2]
    want = "0/1 buffered: receivers [1], senders []; foreign: used by 1 live plain thread, never reported"
    assert want + " as deadlocked" in dumps[0], dumps


def test_goroutine_stuck_in_user_code_is_not_deadlock() -> None:
    # main blocks; the only other goroutine spins without reaching the scheduler
    # (sysmon takes its P away). Its M is still running: no report.
    async def main() -> str:
        c: gosched.Chan[str] = gosched.Chan()

        async def spin() -> None:
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                pass
            await c.send("done")

        gosched.go(spin)
        return await c.recv()

    assert gosched.run(main, maxprocs=1) == "done"


def test_same_local_name_different_objects_read_apart() -> None:
    # issue 14, item 10: both goroutines call the lock they hold ``x`` and the one
    # they want ``y``, so the dump read "holds x and waits for y" twice; the
    # type and identity tell the two mutexes apart, and each object reads the
    # same on every line.
    ids: list[int] = []

    async def worker(x: gosched.Mutex, y: gosched.Mutex, ready: gosched.WaitGroup) -> None:
        await x.lock()
        ready.done()
        await ready.wait()
        await y.lock()

    async def main() -> None:
        a, b = gosched.Mutex(), gosched.Mutex()
        ids.extend((id(a), id(b)))
        ready = gosched.WaitGroup()
        ready.add(2)
        gosched.go(worker, a, b, ready)
        gosched.go(worker, b, a, ready)
        await gosched.select()

    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main, maxprocs=2)
    lines = str(ei.value).splitlines()
    ra, rb = (f"*Mutex {i:#x}" for i in ids)
    assert ra != rb
    # Goroutine 2 names b ``y`` first; goroutine 3's ``y`` is a: the same word, two objects.
    assert f"goroutine 2 waits for y ({rb}), held by goroutine 3" in lines, lines
    assert f"goroutine 3 waits for y ({ra}), held by goroutine 2" in lines, lines
    assert (
        f"wait-for cycle: goroutine 2 holds y ({ra}) and waits for y ({rb}); "
        f"goroutine 3 holds y ({rb}) and waits for y ({ra})"
    ) in lines, lines


@pytest.mark.parametrize("period", ["default", "zero"])
def test_idle_while_a_timer_will_wake_someone_does_not_walk_the_goroutines(
    monkeypatch: pytest.MonkeyPatch, period: str
) -> None:
    """Each sleep of main idles the last M. While a timer will ready a goroutine the verdict
    is "go on" whatever the goroutines do, so checkdead does not walk them (10,000 parked
    goroutines cost ~10 ms of CPU per sleep when it did); it still walks once per STAMP_PERIOD
    (forced here with 0), which stamps how long each has waited."""
    if period == "zero":
        monkeypatch.setattr(_timers, "STAMP_PERIOD", 0)

    async def parked(ch: gosched.Chan[None]) -> None:
        await ch.recv()

    async def main() -> tuple[int, int]:
        ch: gosched.Chan[None] = gosched.Chan()
        for _ in range(100):
            gosched.go(parked, ch)
        sched = proc.current
        assert sched is not None
        while not sched.lastwalk:  # the first idle with all parked walks (lastwalk starts at 0)
            await gosched.sleep(0.001)
        before = sched.lastwalk
        for _ in range(10):
            await gosched.sleep(0.001)
        after = sched.lastwalk
        ch.close()
        return before, after

    before, after = gosched.run(main, maxprocs=1)
    assert (after == before) == (period == "default")
