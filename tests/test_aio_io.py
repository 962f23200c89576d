"""gosched.aio: asyncio's I/O on the gosched loop (issue 12): sockets, subprocesses, signals, threads."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gosched
import gosched.aio as aio
from _aio_helpers import tls_contexts
from gosched._aio import transport
from gosched._runtime import speedups


def test_sock_methods_over_loopback() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        ln = socket.socket()
        ln.bind(("127.0.0.1", 0))
        ln.listen()
        ln.setblocking(False)
        c = socket.socket()
        c.setblocking(False)
        accept = asyncio.ensure_future(loop.sock_accept(ln))
        await loop.sock_connect(c, ln.getsockname())
        s, _ = await accept
        payload = os.urandom(1 << 20)  # larger than the socket buffers: writers wait for readiness
        send = asyncio.ensure_future(loop.sock_sendall(c, payload))
        buf = bytearray()
        while len(buf) < len(payload):
            chunk = bytearray(65536)
            n = await loop.sock_recv_into(s, chunk)
            buf += chunk[:n]
        await send
        for x in (ln, c, s):
            x.close()
        assert bytes(buf) == payload
        return bytes(buf[:4])

    assert len(aio.run(main())) == 4


@pytest.mark.parametrize("max_size", [None, 1 << 20])
def test_socket_transports_read_into_a_reused_buffer(max_size: int | None) -> None:
    # The loop's socket transport reads with recv_into a buffer kept between reads
    # (transport.py), not asyncio's recv(256 KiB) per read: a protocol still gets
    # bytes, each chunk at most max_size (raised on one transport: a bigger buffer),
    # every byte once and in order, over many connections at once.
    from gosched._aio import transport

    chunks: list[tuple[int, type]] = []

    class Sink(asyncio.Protocol):
        def connection_made(self, tr: Any) -> None:
            self.tr, self.got = tr, bytearray()
            if max_size is not None:
                tr.max_size = max_size

        def data_received(self, data: bytes) -> None:
            chunks.append((len(data), type(data)))
            self.got += data
            self.tr.write(data[-8:])  # an echo of each chunk's tail keeps the writer side busy too

        def eof_received(self) -> None:
            self.tr.write(hashlib.sha256(self.got).digest())
            self.tr.close()

    async def client(port: int, payload: bytes) -> bytes:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(payload)
        w.write_eof()
        return (await r.read())[-32:]

    payloads = [os.urandom(n) for n in (1, 64, 70_000, 3 << 20) for _ in range(4)]
    transport._buffers.clear()

    async def main() -> list[bool]:
        srv = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        digests = await asyncio.gather(*(client(port, p) for p in payloads))
        srv.close()
        return [d == hashlib.sha256(p).digest() for d, p in zip(digests, payloads, strict=True)]

    assert all(aio.run(main()))
    limit = max_size or 256 * 1024
    assert all(t is bytes and 0 < n <= limit for n, t in chunks)
    assert any(n > 65536 for n, _ in chunks), "reads are not capped below max_size"
    if speedups.recvbytes is not None:  # the accelerator reads into a buffer of its own
        assert transport._buffers == []
    else:
        # One loop reads one descriptor at a time (its turn): one buffer, made once (or a second,
        # if a loop left by another test read meanwhile), not one per read.
        assert 1 <= len(transport._buffers) <= 2, "buffers are reused, not made per read"


def test_unix_sockets_and_datagrams() -> None:
    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        path = str(Path(tempfile.mkdtemp()) / "s")

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(await r.readexactly(5))
            await w.drain()
            w.close()

        srv = await asyncio.start_unix_server(handler, path)
        r, w = await asyncio.open_unix_connection(path)
        w.write(b"unix!")
        got = await r.readexactly(5)
        w.close()
        srv.close()
        await srv.wait_closed()

        class P(asyncio.DatagramProtocol):
            def __init__(self) -> None:
                self.got: asyncio.Future[bytes] = loop.create_future()

            def datagram_received(self, data: bytes, addr: object) -> None:
                if not self.got.done():
                    self.got.set_result(data)

        t1, p1 = await loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
        t2, _ = await loop.create_datagram_endpoint(P, remote_addr=t1.get_extra_info("sockname"))
        t2.sendto(b"dgram")
        dg = await asyncio.wait_for(p1.got, 10)
        t1.close()
        t2.close()
        return got, dg

    assert aio.run(main()) == (b"unix!", b"dgram")


def test_subprocess_exec_and_shell() -> None:
    async def main() -> list[bytes]:
        outs = []
        for _ in range(3):  # a child's exit is reported by a watcher: never mistaken for a deadlock
            p = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; print(sys.stdin.read().upper())",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await p.communicate(b"abc")
            assert p.returncode == 0
            outs.append(out.strip())
        sh = await asyncio.create_subprocess_shell("echo shell", stdout=asyncio.subprocess.PIPE)
        outs.append((await sh.communicate())[0].strip())
        return outs

    assert aio.run(main()) == [b"ABC", b"ABC", b"ABC", b"shell"]


def test_executor_to_thread_and_getaddrinfo() -> None:
    def blocking(x: int) -> int:
        import time

        time.sleep(0.05)  # a thread outside the runtime: the wait is not a deadlock
        return x * 2

    async def main() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(None, blocking, 2)
        b = await asyncio.to_thread(blocking, 3)
        gai = await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        return a, b, bool(gai)

    assert aio.run(main()) == (4, 6, True)


@pytest.mark.parametrize("where", ["aio.run", "gosched.run"])
def test_add_signal_handler(where: str) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[str] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            return await asyncio.wait_for(got, 10)
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)

    if where == "aio.run":
        assert aio.run(main()) == "usr1"
    else:
        assert gosched.run(main) == "usr1"
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_ssl_streams_through_asyncios_sslproto(tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_contexts(tmp_path)

    async def main() -> bytes:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write((await r.readline()).upper())
            await w.drain()
            w.close()

        srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        w.write(b"secret\n")
        line = await r.readline()
        w.close()
        srv.close()
        await srv.wait_closed()
        return line

    assert aio.run(main()) == b"SECRET\n"


@pytest.mark.parametrize("loop_handler", [False, True], ids=["plain", "loop-handler"])
def test_sigint_caught_on_another_thread_still_cancels_the_main_task(loop_handler: bool) -> None:
    """The kernel may run Python's C handler on any thread (a CI run lost a Ctrl-C so).

    The main thread, asleep in run_forever while its task sleeps, must still wake
    and run asyncio.Runner's handler: it waits on the signal wakeup fd, not a lock;
    or, once add_signal_handler made the loop's socket the wakeup fd, the loop wakes it.
    """
    add = "asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, print)" if loop_handler else "pass"
    code = (
        "import asyncio, signal, sys, threading, time, gosched.aio as aio\n"
        "main = threading.main_thread().ident\n"
        "def asleep():  # in run_forever's wait (idle, as an M), not running a step or starting a thread\n"
        "    f, names = sys._current_frames()[main], []\n"
        "    while f is not None and len(names) < 12:\n"
        "        names, f = names + [f.f_code.co_name], f.f_back\n"
        "    return names[0] == 'wait' and '_gserve' in names\n"
        "def interrupt():\n"
        "    while not asleep():\n"
        "        time.sleep(0.001)\n"
        "    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # caught here\n"
        "async def main_():\n"
        f"    {add}\n"
        "    threading.Thread(target=interrupt).start()\n"
        "    try:\n"
        "        await asyncio.sleep(60)\n"
        "    except asyncio.CancelledError:\n"
        "        print('cancelled', flush=True)\n"
        "        raise\n"
        "aio.run(main_())\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "cancelled" in p.stdout and "KeyboardInterrupt" in p.stderr, (p.stdout, p.stderr)


def test_sigint_cancels_the_main_task_as_asyncio_run_does() -> None:
    code = (
        "import asyncio, gosched.aio as aio\n"
        "async def main():\n"
        "    print('ready', flush=True)\n"
        "    try:\n"
        "        await asyncio.sleep(60)\n"
        "    except asyncio.CancelledError:\n"
        "        print('cancelled', flush=True)\n"
        "        raise\n"
        "aio.run(main())\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert "cancelled" in out and "KeyboardInterrupt" in err, (out, err)


def test_signal_handler_added_in_one_run_still_serves_the_next() -> None:
    """add_signal_handler makes the loop's socket the wakeup fd while run_forever's own
    pipe is it: the end of that run must leave the loop's in place, not put back the one before."""
    loop = aio.new_event_loop()
    got: list[int] = []
    try:

        async def add() -> None:
            loop.add_signal_handler(signal.SIGUSR1, got.append, 1)

        loop.run_until_complete(add())

        async def deliver() -> None:
            os.kill(os.getpid(), signal.SIGUSR1)
            async with asyncio.timeout(10):
                while not got:
                    await asyncio.sleep(0.005)

        loop.run_until_complete(deliver())
        assert got == [1]
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.close()


def test_no_io_callback_runs_after_the_stop_a_writer_called() -> None:
    """asyncio runs no I/O callback after the iteration that called stop() (docs/aio-bugs.md #15).

    A writable socket stays ready: the loop's poller used to serve the writer again
    before run_forever returned (1 run in 8-10; CPython's test_writer_callback).
    """
    loop = aio.new_event_loop()
    try:
        for _ in range(300):
            r, w = socket.socketpair()
            w.setblocking(False)
            calls: list[int] = []

            def writer(w: socket.socket, calls: list[int]) -> None:
                calls.append(w.send(b"x" * 1024))
                loop.stop()

            loop.add_writer(w.fileno(), writer, w, calls)
            loop.run_forever()
            assert loop.remove_writer(w.fileno())
            w.close()
            assert calls == [1024]
            assert r.recv(4096) == b"x" * 1024
            r.close()
    finally:
        loop.close()


@pytest.mark.parametrize("factory", [aio.new_event_loop, asyncio.SelectorEventLoop],
                         ids=["gosched", "asyncio"])
def test_io_ready_when_the_loop_stops_runs_in_that_iteration(factory: Any) -> None:
    """asyncio selects before each batch: a descriptor ready when the iteration that stops
    the loop begins has its callback run before run_until_complete returns (CPython's
    test_sendfile_close_peer_in_the_middle_of_receiving: the reader that finds the peer gone
    closes the transport). The gosched loop's dispatcher stopped before its poller looked."""
    loop = factory()
    try:
        for i in range(200):
            r, w = socket.socketpair()
            got: list[bytes] = []
            loop.add_reader(r.fileno(), lambda r=r, got=got: got.append(r.recv(100)))
            w.send(b"%d" % i)
            select.select([r], [], [], 10)  # ready before the run starts
            done = loop.create_future()
            done.set_result(None)
            loop.run_until_complete(done)
            assert got == [b"%d" % i]
            assert loop.remove_reader(r.fileno())
            r.close()
            w.close()
    finally:
        loop.close()


@pytest.mark.parametrize("factory", [aio.new_event_loop, asyncio.SelectorEventLoop],
                         ids=["gosched", "asyncio"])
def test_the_first_step_of_a_run_comes_before_the_io_ready_at_its_start(factory: Any) -> None:
    """asyncio queues a task's first step at create_task, before the run's first select: a
    reader that hands data to a future the task makes in that step always finds it (CPython's
    test_datagram_send_to_non_listening_address). A poller left parked by the last run, woken
    by data sent between runs, served it before the new run's task had started."""
    loop = factory()
    r, w = socket.socketpair()
    box: list[asyncio.Future[bytes]] = []
    early: list[bytes] = []

    def reader() -> None:
        data = r.recv(100)
        if box:
            box.pop().set_result(data)
        else:
            early.append(data)

    async def receive() -> bytes:
        box.append(loop.create_future())
        return await asyncio.wait_for(box[0], 10)

    try:
        loop.add_reader(r.fileno(), reader)
        for i in range(300):
            w.send(b"%d" % i)
            assert loop.run_until_complete(receive()) == b"%d" % i, early
        assert not early
        assert loop.remove_reader(r.fileno())
    finally:
        loop.close()
        r.close()
        w.close()


def test_a_reader_kept_across_stop_is_served_when_the_loop_runs_again() -> None:
    """The poller leaves while the loop is stopped and run_forever starts it again."""
    loop = aio.new_event_loop()
    r, w = socket.socketpair()
    got: list[bytes] = []
    try:
        def reader() -> None:
            got.append(r.recv(100))
            loop.stop()

        loop.add_reader(r.fileno(), reader)
        for i in range(50):
            w.send(b"%d" % i)  # ready before run_forever: served in its run, not while stopped
            loop.run_forever()
            assert got[-1] == b"%d" % i and len(got) == i + 1
        assert loop.remove_reader(r.fileno())
    finally:
        loop.close()
        r.close()
        w.close()


def test_a_key_registered_while_the_poller_leaves_is_still_watched() -> None:
    """The poller leaves in one locked step: it finds no key (or the loop stopped) and clears
    ``_gpolling``. A register racing with that step must wait for it and start a new poller;
    it read ``_gpolling`` outside the lock before, saw it still set, and nobody watched the new
    descriptor (CPython's test_events: a false ``all goroutines are asleep`` 1 run in ~6)."""
    import threading

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        r, w = socket.socketpair()
        got: asyncio.Future[bytes] = loop.create_future()
        loop._glock.acquire()  # type: ignore[attr-defined]  # the leaving poller's locked step
        loop._gpolling = True  # type: ignore[attr-defined]
        t = threading.Thread(target=loop.add_reader, args=(r.fileno(), lambda: got.set_result(r.recv(10))))
        t.start()
        while t.is_alive():  # until add_reader has either returned or reached _gpollstart's lock
            f = sys._current_frames().get(t.ident or 0)
            if f is not None and f.f_code.co_name == "_gpollstart":
                break
        loop._gpolling = False  # type: ignore[attr-defined]  # the poller leaves
        loop._glock.release()  # type: ignore[attr-defined]
        t.join()
        w.send(b"ping")
        try:
            return await asyncio.wait_for(got, 5)
        finally:
            loop.remove_reader(r.fileno())
            r.close()
            w.close()

    assert aio.run(main()) == b"ping"


def test_run_forever_slow_to_start_its_poller_is_not_a_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_forever's thread readies the loop's poller (a runtime helper, unseen by checkdead until
    it reaches a run queue) before it stops counting as a thread that may add work; it stopped
    first, and a checkdead in between ended the run with a false deadlock (1 run in ~15 of this
    file's stop tests). The window is widened here: the poller starts 50 ms late."""
    loop = aio.new_event_loop()
    r, w = socket.socketpair()
    start = type(loop)._gpollstart
    got: list[bytes] = []

    def slowstart(self: Any) -> None:
        time.sleep(0.05)  # every M of the runtime goes idle meanwhile (checkdead runs)
        start(self)

    try:
        def reader() -> None:
            got.append(r.recv(100))
            loop.stop()

        loop.add_reader(r.fileno(), reader)
        monkeypatch.setattr(type(loop), "_gpollstart", slowstart)
        for i in range(3):
            w.send(b"%d" % i)
            loop.run_forever()
        assert got == [b"0", b"1", b"2"]
        assert loop.remove_reader(r.fileno())
    finally:
        loop.close()
        r.close()
        w.close()


@pytest.mark.parametrize("rounds", [300])
def test_a_loop_restarted_around_io_and_timers_loses_no_wakeup(rounds: int) -> None:
    """CPython's test_events.test_read_pipe, whose steps these are, found two lost wake-ups.

    A false deadlock (7 rounds in 300): an M that polls the netpoller as an idle M took the
    goroutines it readied out of the poller's waiter count before it queued them, and another
    M going idle in between saw no work and no I/O waiter (here the loop's poller goroutine,
    readied by an EOF that arrives while the loop is stopped).

    A hang until forcegc's 2-minute wake-up (~1 run of this test in 5, pure Python): the timer
    of ``asyncio.sleep(0.001)``, added by the main task on the borrowed main thread, was waited
    for by nobody: the M that claimed the poller had read the timers before it was added, and
    the main thread, which never polls, broke no poll when it went idle; or the M told not to
    poll again stopped although it was the last active one. Each round here is bounded.
    """

    class Reader(asyncio.Protocol):
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.n, self.eof, self.done = 0, False, loop.create_future()

        def data_received(self, data: bytes) -> None:
            self.n += len(data)

        def eof_received(self) -> None:
            self.eof = True

        def connection_lost(self, exc: BaseException | None) -> None:
            self.done.set_result(None)

    for i in range(rounds):
        t0 = time.monotonic()
        loop = aio.new_event_loop()
        try:
            proto = Reader(loop)
            rfd, wfd = os.pipe()
            pipe = open(rfd, "rb", 1024)  # the transport closes it
            loop.run_until_complete(loop.connect_read_pipe(lambda: proto, pipe))  # noqa: B023
            for chunk, want in ((b"1", 1), (b"2345", 5)):
                os.write(wfd, chunk)
                while proto.n < want:
                    loop.run_until_complete(asyncio.sleep(0.001))
            os.close(wfd)  # the EOF: most often while the loop is stopped
            loop.run_until_complete(proto.done)
            assert proto.eof
        finally:
            loop.close()
        took = time.monotonic() - t0
        assert took < 10, f"round {i} took {took:.1f} s: a wake-up was lost (found only by forcegc's)"


_RECVS = {"python": transport._recvbuf}
if speedups.recvbytes is not None:
    _RECVS["c"] = speedups.recvbytes


@pytest.mark.parametrize("how", list(_RECVS))
def test_the_transports_read_is_socket_recv(how: str) -> None:
    # The socket transport reads with its own recv (a buffer it keeps: the C accelerator's
    # recvbytes, or recv_into a reused buffer): what arrived, b"" at EOF, and the errors
    # socket.recv raises, for sizes under and over the kept buffer's 256 KiB.
    recv = _RECVS[how]
    a, b = socket.socketpair()
    a.setblocking(False)
    with a, b:
        with pytest.raises(BlockingIOError):
            recv(a, 1024)
        b.sendall(b"hello")
        assert recv(a, 262144) == b"hello"
        big = bytes(range(256)) * 1500  # 384,000 bytes: over the kept buffer
        writer = threading.Thread(target=b.sendall, args=(big,))
        writer.start()
        got = b""
        while len(got) < len(big):
            try:
                got += recv(a, 1 << 20)
            except BlockingIOError:
                select.select([a], [], [], 5)
        writer.join()
        assert got == big
        b.sendall(b"abcdef")
        assert recv(a, 4) == b"abcd" and recv(a, 4) == b"ef"
        b.shutdown(socket.SHUT_WR)
        assert recv(a, 10) == b""
    with pytest.raises(OSError) as e:
        recv(a, 10)  # closed
    assert e.value.errno == errno.EBADF
