"""Goroutine dumps: Go's format line by line, wait reasons, durations, SIGQUIT."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import gosched
from gosched import testing as gtesting
from gosched._runtime import dump, proc

HERE = Path(__file__)


def lineof(marker: str) -> int:
    for i, ln in enumerate(HERE.read_text().splitlines(), 1):
        if ln.rstrip().endswith(f"# <{marker}>"):
            return i
    raise AssertionError(marker)


def blocks(text: str) -> dict[int, list[str]]:
    """goid → the lines of its block (header first)."""
    out: dict[int, list[str]] = {}
    for b in text.rstrip("\n").split("\n\n"):
        lines = b.splitlines()
        if lines and lines[0].startswith("goroutine "):
            out[int(lines[0].split()[1])] = lines
    return out


async def inner(c: gosched.Chan[int]) -> int:
    return await c.recv()  # <inner>


async def outer(c: gosched.Chan[int]) -> int:
    return await inner(c)  # <outer>


def test_format_line_by_line() -> None:
    async def main() -> tuple[str, int]:
        c: gosched.Chan[int] = gosched.Chan()
        gosched.go(outer, c)  # <go>
        await gtesting.wait()
        text = gosched.dump()  # <dump>
        await c.send(1)
        return text, id(c)

    text, cid = gosched.run(main)
    b = blocks(text)
    assert b[1] == [
        "goroutine 1 [running]:",
        "test_dump.test_format_line_by_line.<locals>.main(...)",
        f"\t{HERE}:{lineof('dump')}",
    ]
    assert b[2] == [
        "goroutine 2 [chan receive]:",
        "test_dump.inner(...)",
        f"\t{HERE}:{lineof('inner')}",
        "test_dump.outer(...)",
        f"\t{HERE}:{lineof('outer')}",
        "created by test_dump.test_format_line_by_line.<locals>.main in goroutine 1",
        f"\t{HERE}:{lineof('go')}",
    ]
    assert text.split("\n\n")[0] == "\n".join(b[1])  # goroutines in goid order, blank-line separated
    assert (f"blocked on:\ngoroutine 2 waits on channel c (*Chan {cid:#x}), 0/0 buffered: "
            "receivers [2], senders []") in text


def test_wait_reasons() -> None:
    async def main() -> dict[int, list[str]]:
        c: gosched.Chan[int] = gosched.Chan()
        full: gosched.Chan[int] = gosched.Chan(1)
        await full.send(0)
        mu, rw, rw2 = gosched.Mutex(), gosched.RWMutex(), gosched.RWMutex()
        wg = gosched.WaitGroup()
        wg.add(1)
        sem = gosched.Semaphore(0)
        await mu.lock()
        await rw.lock()
        await rw2.rlock()
        ids = {}
        async def recv(ch: gosched.Chan[int]) -> None:
            await ch.recv()

        ids["chan receive"] = gosched.go(recv, c).id
        ids["chan send"] = gosched.go(full.send, 1).id
        ids["select"] = gosched.go(gosched.select, gosched.recv(c), gosched.send(full, 2)).id
        ids["select (no cases)"] = gosched.go(gosched.select).id
        ids["sleep"] = gosched.go(gosched.sleep, 3600).id
        ids["sync.Mutex.Lock"] = gosched.go(mu.lock).id
        ids["sync.RWMutex.RLock"] = gosched.go(rw.rlock).id
        ids["sync.RWMutex.Lock"] = gosched.go(rw2.lock).id
        ids["sync.WaitGroup.Wait"] = gosched.go(wg.wait).id
        ids["semacquire"] = gosched.go(sem.acquire).id
        await gtesting.wait()
        b = blocks(gosched.dump())
        for reason, gid in ids.items():
            assert b[gid][0] == f"goroutine {gid} [{reason}]:", (reason, b[gid])
        return b

    gosched.run(main)


def test_runnable_syscall_and_io_wait() -> None:
    net = gosched.net
    a, s = socket.socketpair()
    a.setblocking(False)
    ev = threading.Event()

    async def main() -> None:
        async def sys_() -> None:
            await gosched.syscall(ev.wait, 10)

        async def io() -> None:
            await net.wait_readable(a)

        gs = gosched.go(sys_)
        gi = gosched.go(io)
        b = blocks(gosched.dump())  # nothing has run yet (GOMAXPROCS=1)
        assert b[gs.id][0] == f"goroutine {gs.id} [runnable]:"
        deadline = time.monotonic() + 10
        while True:
            await gosched.gosched()
            b = blocks(gosched.dump())
            if b[gs.id][0].endswith("[syscall]:") and b[gi.id][0].endswith("[IO wait]:"):
                break
            assert time.monotonic() < deadline, b
        # A goroutine in a syscall shows its coroutine frames and the blocking call.
        assert "test_dump.test_runnable_syscall_and_io_wait.<locals>.main.<locals>.sys_(...)" in b[gs.id]
        assert any(ln.startswith("threading.Event.wait(") for ln in b[gs.id])
        ev.set()
        s.send(b"x")

    try:
        gosched.run(main, maxprocs=1)
    finally:
        a.close()
        s.close()


def test_durations_real_clock() -> None:
    async def main() -> tuple[str, str, str]:
        c: gosched.Chan[int] = gosched.Chan()

        async def recv() -> None:
            await c.recv()

        g = gosched.go(recv)
        await gtesting.wait()
        sched = proc.current
        assert sched is not None
        first = dump.dump(sched)  # stamps waitsince, as Go's GC does
        now = proc.nanotime()
        two = dump.dump(sched, now_ns=now + 125 * 10**9)
        sixtyone = dump.dump(sched, now_ns=now + 61 * 60 * 10**9)
        await c.send(1)
        return blocks(first)[g.id][0], blocks(two)[g.id][0], blocks(sixtyone)[g.id][0]

    h0, h2, h61 = gosched.run(main)
    assert h0 == "goroutine 2 [chan receive]:"
    assert h2 == "goroutine 2 [chan receive, 2 minutes]:"
    assert h61 == "goroutine 2 [chan receive, 61 minutes]:"


def test_durations_fake_clock() -> None:
    async def main() -> list[str]:
        c: gosched.Chan[int] = gosched.Chan()

        async def recv() -> None:
            await c.recv()

        g = gosched.go(recv)
        await gosched.sleep(125)
        b = blocks(gosched.dump())
        await c.send(1)
        return b[g.id]

    header = gosched.run(main, clock="fake")[0]
    assert header == "goroutine 2 [chan receive (durable), 2 minutes, synctest bubble 1]:"


def test_dump_from_a_plain_thread_and_outside() -> None:
    got: list[str] = []

    async def main() -> None:
        c: gosched.Chan[str] = gosched.Chan()
        c.foreign = True

        def th() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until main has parked in c.recv()
                text = gosched.dump()
                if text.startswith("goroutine 1 [chan receive]:"):
                    break
                time.sleep(0.001)
            got.append(text)
            c.send_blocking("done")

        threading.Thread(target=th).start()
        assert await c.recv() == "done"

    gosched.run(main)
    assert got[0].startswith("goroutine 1 [chan receive]:\n")
    with pytest.raises(RuntimeError, match="needs a running"):
        gosched.dump()


# --- SIGQUIT ----------------------------------------------------------------------------------

SIGPROG = textwrap.dedent(
    """
    import sys, gosched
    def readline():
        print("ready", flush=True)  # from inside the syscall: goroutine 1 is [syscall] now
        return sys.stdin.readline()
    async def main():
        c = gosched.Chan()
        async def waiter():
            await c.recv()
        gosched.go(waiter)
        line = await gosched.syscall(readline)
        await c.send(1)
        print("exited normally", flush=True)
    gosched.run(main)
    """
)


def _sigrun(tmp_path: Path, env: dict[str, str], sig: int, finish: bool) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "sig.py"
    src.write_text(SIGPROG)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GOTRACEBACK", "GOSCHED_"))}
    e.update(env)
    p = subprocess.Popen(
        [sys.executable, str(src)], env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline() == "ready\n"
        p.send_signal(sig)
        head = ""
        if finish:
            assert p.stderr is not None
            deadline = time.monotonic() + 30
            while "\ngoroutine 2 [" not in head:  # the handler has printed the dump
                left = deadline - time.monotonic()
                assert left > 0 and select.select([p.stderr], [], [], left)[0], head
                chunk = os.read(p.stderr.fileno(), 65536).decode()  # unbuffered: select sees it all
                assert chunk, head
                head += chunk
            p.stdin.write("go\n")
            p.stdin.flush()
        else:
            p.wait(timeout=30)  # communicate() would close stdin: main's readline would return
        out, err = p.communicate(timeout=30)
        err = head + err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return subprocess.CompletedProcess(p.args, p.returncode, "ready\n" + out, err)


def test_sigquit_default_dumps_and_exits_2(tmp_path: Path) -> None:
    r = _sigrun(tmp_path, {}, signal.SIGQUIT, finish=False)
    assert r.returncode == 2
    assert r.stderr.startswith("SIGQUIT: quit\n\ngoroutine 1 [syscall]:\n")
    assert "\ngoroutine 2 [" in r.stderr  # [runnable] or [chan receive]
    assert "exited normally" not in r.stdout


def test_sigquit_dump_mode_continues(tmp_path: Path) -> None:
    r = _sigrun(tmp_path, {"GOSCHED_SIGQUIT": "dump"}, signal.SIGQUIT, finish=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("SIGQUIT: quit\n\ngoroutine 1 [syscall]:\n")
    assert "\ngoroutine 2 [" in r.stderr
    assert r.stdout.endswith("exited normally\n")


def test_configurable_dump_signal(tmp_path: Path) -> None:
    r = _sigrun(tmp_path, {"GOSCHED_DUMPSIG": "USR1"}, signal.SIGUSR1, finish=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("SIGUSR1: dump\n\ngoroutine 1 [syscall]:\n")
    assert "\ngoroutine 2 [" in r.stderr
    assert r.stdout.endswith("exited normally\n")


def test_frames_of_a_goroutine_another_m_resumes_stay_valid() -> None:
    """A goroutine's frames are read (dumps, leak checks) while another M may resume it. On
    3.11 making a frame object can start a collection whose finalizers pass the GIL on; the
    goroutine's inner coroutine then ended meanwhile, and the frame object was left pointing
    into the freed coroutine: a later ``f_code`` read garbage (an ``int``) or crashed, in 1 of
    2-4 runs of this program before the reads held the collector off (nogc.py).

    The garbage is bounded: on 3.12+ a collection runs at some thread's eval breaker and
    ``gc.collect()`` returns at once while another thread collects, so unbounded garbage
    piled up faster than the sleeping finalizers drained it (250,000 objects pending, counted
    with gdb), and the run took minutes, not seconds (session 16)."""
    code = textwrap.dedent(
        """
        import faulthandler, gc, time, warnings
        import gosched
        from gosched._runtime import traceback as tb
        faulthandler.dump_traceback_later(60, exit=True)
        warnings.simplefilter("ignore")  # the finalizers' time.sleep(0) under the P

        made = [0, 0]  # created (by main), finalized (one collection at a time)

        class Cyc:  # cyclic garbage whose finalizer lets another thread run mid-collection
            def __init__(self): self.me = self; made[0] += 1
            def __del__(self): made[1] += 1; time.sleep(0)

        def garbage():
            if made[0] - made[1] < 1000:
                Cyc()

        async def inner():
            await gosched.sleep(1e-6)

        async def worker(stop):
            while not (await gosched.select(gosched.recv(stop), default=True))[2]:
                await inner()

        async def main():
            stop = gosched.Chan[int](1)
            g = gosched.go(worker, stop)._g
            gc.set_threshold(3, 1, 1)
            end, rounds = time.monotonic() + 4, 0
            while time.monotonic() < end:
                fs = []
                for _ in range(100):
                    garbage()
                    fs.extend(tb.coro_frames(g.coro))
                await gosched.sleep(1e-4)  # the worker goes on: inner coroutines end and are freed
                gc.collect()
                for _ in range(100):
                    garbage()  # their memory is reused
                for f in fs:
                    assert isinstance(f.f_code.co_filename, str) and f.f_lineno > 0
                rounds += 1
            await stop.send(0)
            return rounds

        print(gosched.run(main, maxprocs=2))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout) > 0


def test_nogc_is_shared_by_nested_and_concurrent_readers() -> None:
    """The collector is off while any reader is inside, back on after the last one only if it
    was on before the first (nogc.py): 8 threads entering and leaving at random, nested too."""
    import gc
    import random

    from gosched._runtime.nogc import nogc

    errors: list[str] = []

    def reader(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(2000):
            with nogc():
                if gc.isenabled():
                    errors.append("on inside")
                if rnd.random() < 0.3:
                    with nogc():
                        if gc.isenabled():
                            errors.append("on inside, nested")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        ts = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == [] and gc.isenabled()
    gc.disable()
    try:
        with nogc():
            pass
        assert not gc.isenabled()  # the program's own choice stands
    finally:
        gc.enable()
