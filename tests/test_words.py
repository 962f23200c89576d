"""Bad input is refused at the API boundary, in Go's (or plain) words (issue 14, item 9)."""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import warnings
from typing import Any

import pytest

import gosched
from _core_helpers import run
from gosched import net

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::gosched.BlockingWarning"),
]


# --- NaN and infinite durations -----------------------------------------------------------------


def test_nan_durations_say_nan_is_not_a_duration() -> None:
    async def main() -> list[str]:
        out = []
        for what, call in [
            ("sleep", lambda: gosched.sleep(math.nan)),
            ("Timer", lambda: gosched.Timer(math.nan)),
            ("Timer", lambda: gosched.after(math.nan)),
            ("Ticker", lambda: gosched.Ticker(math.nan)),
        ]:
            with pytest.raises(ValueError) as ei:
                r = call()
                if hasattr(r, "__await__"):
                    await r
            out.append(str(ei.value))
            assert str(ei.value) == f"{what}: NaN is not a duration"
        with pytest.raises(ValueError, match="non-positive interval for NewTicker"):
            gosched.Ticker(-math.inf)
        t = gosched.Timer(math.inf)  # never fires: the far end of Go's Duration range
        assert t.stop()
        return out

    assert len(run(main)) == 4


def test_blocking_api_nan_timeout_is_refused_before_anything_is_queued() -> None:
    """A NaN timeout used to fail deep in threading after the thread's value was queued:
    the next receiver got a value whose send had raised."""

    def thread(ch: gosched.Chan[int], mu: gosched.Mutex, wg: gosched.WaitGroup) -> list[str]:
        out = []
        calls: list[Any] = [
            lambda: ch.send_blocking(1, timeout=math.nan),
            lambda: ch.recv_blocking(timeout=math.nan),
            lambda: mu.lock_blocking(timeout=math.nan),
            lambda: wg.wait_blocking(timeout=math.nan),
            lambda: ch.send_blocking(1, timeout=-math.inf),
        ]
        for call in calls:
            try:
                call()
                out.append("ok")
            except ValueError as e:
                out.append(str(e))
        with pytest.raises(TimeoutError):
            ch.recv_blocking(timeout=0)  # no sender was left queued
        return out

    async def main() -> list[str]:
        ch: gosched.Chan[int] = gosched.Chan()
        mu = gosched.Mutex()
        await mu.lock()
        wg = gosched.WaitGroup()
        wg.add(1)
        return await gosched.syscall(thread, ch, mu, wg)

    assert run(main, maxprocs=2) == [
        "Chan.send_blocking timeout: NaN is not a duration",
        "Chan.recv_blocking timeout: NaN is not a duration",
        "Mutex.lock_blocking timeout: NaN is not a duration",
        "WaitGroup.wait_blocking timeout: NaN is not a duration",
        "Chan.send_blocking: timeout must be >= 0",
    ]


def test_blocking_api_infinite_timeout_waits() -> None:
    async def main() -> bool:
        mu = gosched.Mutex()
        await mu.lock()
        got: list[bool] = []
        t = threading.Thread(target=lambda: got.append(mu.lock_blocking(timeout=math.inf)))
        t.start()
        while not mu.waiters():
            await gosched.sleep(0.001)
        mu.unlock()
        await gosched.syscall(t.join)
        return got[0]

    assert run(main, maxprocs=2) is True


def test_net_nan_and_infinite_deadlines() -> None:
    async def main() -> list[str]:
        out = []
        ln = await net.listen("tcp", "127.0.0.1:0")
        with pytest.raises(ValueError) as ei:
            await net.dial("tcp", ln.addr, timeout=math.nan)
        out.append(str(ei.value))
        c = await net.dial("tcp", ln.addr, timeout=math.inf)  # no limit
        s = await ln.accept()
        with pytest.raises(ValueError) as ei:
            c.set_deadline(math.nan)
        out.append(str(ei.value))
        c.set_read_deadline(math.inf)  # never
        await s.write(b"x")
        assert await c.read(1) == b"x"
        c.set_read_deadline(-math.inf)  # long passed
        with pytest.raises(TimeoutError, match="i/o timeout"):
            await c.read(1)
        with pytest.raises(TimeoutError, match="i/o timeout"):
            await net.dial("tcp", ln.addr, timeout=-math.inf)
        for x in (c, s, ln):
            x.close()
        return out

    assert run(main) == ["dial timeout: NaN is not a duration", "set deadline: NaN is not a time"]


# --- addresses ----------------------------------------------------------------------------------


def test_invalid_port_in_gos_words() -> None:
    async def main() -> list[str]:
        out = []
        for call in [
            lambda: net.listen("tcp", "127.0.0.1:-1"),
            lambda: net.listen("tcp", ":-1"),
            lambda: net.listen_packet("udp", "127.0.0.1:65536"),
            lambda: net.dial("tcp", "127.0.0.1:-80"),
        ]:
            with pytest.raises(net.AddrError) as ei:
                await call()
            out.append(str(ei.value))
        ln = await net.listen("tcp", "127.0.0.1:+0")  # Go's parsePort takes a sign
        ln.close()
        with pytest.raises(OSError) as ei:
            await net.listen("tcp4", "127.0.0.1:nosuchservice")
        assert ei.value.errno == socket.EAI_SERVICE
        out.append(ei.value.strerror or "")
        return out

    assert run(main) == [
        "listen tcp: address -1: invalid port",
        "listen tcp: address -1: invalid port",
        "listen udp: address 65536: invalid port",
        "dial tcp: address -80: invalid port",
        "lookup tcp/nosuchservice: unknown port",  # not "Servname not supported for ai_socktype"
    ]


# --- go() of an async generator -----------------------------------------------------------------


async def agen() -> Any:
    yield 1


def test_go_of_an_async_generator_says_so() -> None:
    async def main() -> list[str]:
        out = []
        for fn in (agen, agen()):
            with pytest.raises(TypeError) as ei:
                gosched.go(fn)
            out.append(str(ei.value))
        return out

    msgs = run(main)
    assert msgs[0].startswith("go() needs an async function; test_words.agen is an async generator function")
    assert msgs[1].startswith("go() needs an async function; agen() is an async generator,")
    for m in msgs:
        assert "plain function" not in m and "async for x in gen()" in m
    with pytest.raises(TypeError, match=r"run\(\) needs an async function; .*agen is an async generator"):
        gosched.run(agen)


# --- GOSCHED_SIGQUIT ----------------------------------------------------------------------------


def _sigquit_during_run() -> Any:
    async def main() -> Any:
        return signal.getsignal(signal.SIGQUIT)

    return gosched.run(main)  # on the main thread: run() installs its handlers only there


def test_invalid_gosched_sigquit_warns_and_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGQUIT)
    monkeypatch.setenv("GOSCHED_SIGQUIT", "Quit")
    with pytest.warns(RuntimeWarning) as rec:
        handler = _sigquit_during_run()
    assert [str(w.message) for w in rec] == [
        "GOSCHED_SIGQUIT='quit' is not one of 'exit' (the default), 'dump', 'off'; using 'exit'"
    ]
    assert os.path.basename(rec[0].filename) == "test_words.py"  # points at the run() call
    assert callable(handler) and handler is not before  # the dump handler is installed
    assert signal.getsignal(signal.SIGQUIT) is before


def test_valid_gosched_sigquit_values_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGQUIT)
    for mode, installed in [("exit", True), ("dump", True), (" OFF ", False), ("", True)]:
        monkeypatch.setenv("GOSCHED_SIGQUIT", mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            handler = _sigquit_during_run()
        assert (handler is not before) is installed, mode


def test_invalid_gosched_dumpsig_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSCHED_DUMPSIG", "USR9")
    with pytest.warns(RuntimeWarning, match="GOSCHED_DUMPSIG='USR9' is not a signal name"):
        _sigquit_during_run()
