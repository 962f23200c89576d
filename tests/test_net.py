"""gosched.net: sockets that park goroutines in the netpoller (issue 4).

Every test runs ``gosched.run`` in a thread with a join timeout, so a lost
wakeup fails the test instead of hanging the suite. Only loopback addresses.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gosched
import gosched.net as net
from _core_helpers import pollwaiters, run


async def echo_conn(c: net.Conn) -> None:
    with c:
        while True:
            d = await c.read(65536)
            if not d:
                return
            await c.write(d)


async def serve(ln: net.Listener) -> None:
    async for c in ln:  # ends when the listener is closed
        gosched.go(echo_conn, c)


async def wait_parked(pd: Any, attr: str = "rg") -> None:
    """Until a goroutine is parked on ``pd`` (bounded)."""
    for _ in range(2000):
        if getattr(pd, attr) is not None:
            return
        await gosched.sleep(0.001)
    raise AssertionError("the goroutine never parked in the poller")


# --- basics ------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_echo_client_server(procs: int) -> None:
    async def main() -> list[bytes]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        assert ln.addr.startswith("127.0.0.1:") and not ln.addr.endswith(":0")
        gosched.go(serve, ln)
        c = await net.dial("tcp", ln.addr)
        assert c.remote_addr == ln.addr
        assert c.local_addr.startswith("127.0.0.1:")
        got = []
        for msg in (b"hello", b"x" * 100_000, b"bye"):
            await c.write(msg)
            got.append(await c.read_exactly(len(msg)))
        c.close()
        ln.close()
        return got

    assert run(main, maxprocs=procs) == [b"hello", b"x" * 100_000, b"bye"]


def test_many_concurrent_connections() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n = min(1000, (max(soft, want) - 200) // 2)
    threads_before = threading.active_count()

    async def client(addr: str, i: int, ready: gosched.WaitGroup, go: gosched.Chan[None],
                     out: gosched.Chan[bool]) -> None:
        c = await net.dial("tcp", addr)
        ready.done()
        await go.recv_ok()  # all n connections are open at once before anyone talks
        msg = f"conn {i} ".encode() * 10
        await c.write(msg)
        ok = await c.read_exactly(len(msg)) == msg
        c.close()
        await out.send(ok)

    async def main() -> tuple[int, int]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        gosched.go(serve, ln)
        ready = gosched.WaitGroup()
        go: gosched.Chan[None] = gosched.Chan()
        out: gosched.Chan[bool] = gosched.Chan(n)
        ready.add(n)
        for i in range(n):
            gosched.go(client, ln.addr, i, ready, go, out)
        await ready.wait()
        threads = threading.active_count()
        go.close()
        good = 0
        for _ in range(n):
            good += await out.recv()
        ln.close()
        return good, threads

    good, threads = run(main, timeout=50)
    assert good == n
    # Thousands of blocked connections on a handful of Ms, not a thread each.
    assert threads - threads_before < 10


def test_half_close() -> None:
    async def server(ln: net.Listener) -> None:
        c = await ln.accept()
        data = b""
        while True:
            d = await c.read(1000)
            if not d:
                break
            data += d
        await c.write(b"got " + str(len(data)).encode())  # our side is still open
        c.close()

    async def main() -> tuple[bytes, bytes]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        gosched.go(server, ln)
        c = await net.dial("tcp", ln.addr)
        await c.write(b"a" * 5000)
        c.close_write()
        reply = await c.read_exactly(8)
        eof = await c.read(10)
        c.close()
        ln.close()
        return reply, eof

    assert run(main) == (b"got 5000", b"")


def test_read_exactly_unexpected_eof() -> None:
    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()
        await s.write(b"abc")
        s.close()
        try:
            await c.read_exactly(10)
        except EOFError as e:
            assert e.partial == b"abc"  # type: ignore[attr-defined]
            return str(e)
        finally:
            c.close()
            ln.close()
        return "no error"

    assert "unexpected EOF" in run(main)


# --- deadlines ------------------------------------------------------------------------------


def test_read_deadline() -> None:
    async def main() -> tuple[str, float, bytes]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()
        t0 = time.monotonic()
        c.set_read_deadline(gosched.now() + 0.1)
        try:
            await c.read(10)
            msg = "no timeout"
        except TimeoutError as e:
            msg = str(e)
        took = time.monotonic() - t0
        # An expired deadline fails at once; clearing it lets reads work again.
        with pytest.raises(TimeoutError):
            await c.read(10)
        c.set_read_deadline(None)
        await s.write(b"ok")
        data = await c.read(10)
        for x in (c, s, ln):
            x.close()
        return msg, took, data

    msg, took, data = run(main)
    assert msg.endswith(": i/o timeout") and msg.startswith("read tcp 127.0.0.1:")
    assert 0.09 <= took < 5
    assert data == b"ok"


def test_deadline_moved_while_blocked() -> None:
    async def reader(c: net.Conn, out: gosched.Chan[str]) -> None:
        try:
            await c.read(10)
            await out.send("read")
        except TimeoutError:
            await out.send("timeout")

    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()
        c.set_read_deadline(gosched.now() + 3600)
        out: gosched.Chan[str] = gosched.Chan()
        gosched.go(reader, c, out)
        await wait_parked(c.pd)
        c.set_read_deadline(gosched.now() - 1)  # in the past: wakes the blocked reader now
        r = await out.recv()
        for x in (c, s, ln):
            x.close()
        return r

    assert run(main) == "timeout"


def test_write_deadline() -> None:
    async def main() -> tuple[str, int]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()  # never reads: c's send buffer fills up
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        c.set_write_deadline(gosched.now() + 0.2)
        sent = 0
        try:
            for _ in range(10_000):
                await c.write(b"x" * 65536)
                sent += 1
            msg = "no timeout"
        except TimeoutError as e:
            msg = str(e)
        for x in (c, s, ln):
            x.close()
        return msg, sent

    msg, sent = run(main)
    assert msg.startswith("write tcp") and msg.endswith("i/o timeout")
    assert sent < 10_000


def test_accept_deadline() -> None:
    async def main() -> tuple[str, float]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        ln.set_deadline(gosched.now() + 0.1)
        t0 = time.monotonic()
        try:
            await ln.accept()
            msg = "accepted"
        except TimeoutError as e:
            msg = str(e)
        ln.close()
        return msg, time.monotonic() - t0

    msg, took = run(main)
    assert msg.startswith("accept tcp 127.0.0.1:") and msg.endswith("i/o timeout")
    assert 0.09 <= took < 5


def test_dial_timeout() -> None:
    # A listener that never accepts, with a full backlog: Linux then drops the
    # SYNs of further connects, so a dial hangs until its timeout.
    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0", backlog=0)
        held = []
        try:
            for _ in range(20):
                try:
                    held.append(await net.dial("tcp", ln.addr, timeout=0.3))
                except TimeoutError as e:
                    return str(e)
            return "never timed out"
        finally:
            for c in held:
                c.close()
            ln.close()

    msg = run(main)
    if msg == "never timed out":
        pytest.skip("this kernel accepts beyond the backlog")
    assert msg.startswith("dial tcp 127.0.0.1:") and msg.endswith("i/o timeout")


# --- errors ----------------------------------------------------------------------------------


def test_connection_refused() -> None:
    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        addr = ln.addr
        ln.close()  # nobody listens there now
        try:
            await net.dial("tcp", addr)
        except ConnectionRefusedError as e:
            return str(e)
        return "connected"

    msg = run(main)
    assert msg.startswith("dial tcp 127.0.0.1:") and msg.endswith("connect: connection refused")


def test_bad_addresses() -> None:
    async def main() -> list[str]:
        out = []
        cases = [("tcp", "127.0.0.1"), ("tcp", "1:2:3"), ("tcp", "[::1"), ("tcp", "127.0.0.1:99999"),
                 ("tcp4", "[::1]:80"), ("tcpx", "127.0.0.1:80")]
        for network, addr in cases:
            try:
                await net.dial(network, addr)
                out.append("ok")
            except ValueError as e:
                out.append(str(e))
        return out

    msgs = run(main)
    assert msgs[0] == "dial tcp: address 127.0.0.1: missing port in address"
    assert msgs[1] == "dial tcp: address 1:2:3: too many colons in address"
    assert msgs[2] == "dial tcp: address [::1: missing ']' in address"
    assert msgs[3] == "dial tcp: address 99999: invalid port"
    assert "no suitable address" in msgs[4]
    assert msgs[5].startswith("unknown network 'tcpx'")


def test_listen_address_in_use() -> None:
    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        try:
            await net.listen("tcp", ln.addr)
        except OSError as e:
            return str(e)
        finally:
            ln.close()
        return "listened twice"

    msg = run(main)
    assert msg.startswith("listen tcp 127.0.0.1:") and "address already in use" in msg


def test_name_resolution_runs_as_syscall() -> None:
    async def main() -> str:
        ln = await net.listen("tcp4", "localhost:0")
        port = ln.addr.rsplit(":", 1)[1]
        c = await net.dial("tcp4", f"localhost:{port}")
        r = c.remote_addr
        c.close()
        ln.close()
        return r

    assert run(main).startswith("127.")


def test_outside_goroutine() -> None:
    import asyncio

    with pytest.raises(RuntimeError, match="outside a goroutine"):
        asyncio.run(net.dial("tcp", "127.0.0.1:1"))


# --- closing --------------------------------------------------------------------------------


def test_close_wakes_blocked_reader() -> None:
    async def reader(c: net.Conn, out: gosched.Chan[str]) -> None:
        try:
            await c.read(10)
            await out.send("read returned")
        except net.ClosedError as e:
            await out.send(str(e))

    async def main() -> tuple[str, int]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        c = await net.dial("tcp", ln.addr)
        s = await ln.accept()
        out: gosched.Chan[str] = gosched.Chan()
        gosched.go(reader, c, out)
        await wait_parked(c.pd)
        c.close()
        msg = await out.recv()
        with pytest.raises(net.ClosedError):
            await c.write(b"x")
        s.close()
        ln.close()
        sched = gosched._runtime.proc.current
        assert sched is not None and sched.poller is not None
        return msg, await pollwaiters(sched.poller)

    msg, waiters = run(main)
    assert msg.startswith("read tcp") and msg.endswith("use of closed network connection")
    assert waiters == 0


def test_close_wakes_blocked_accept() -> None:
    async def acceptor(ln: net.Listener, out: gosched.Chan[str]) -> None:
        try:
            await ln.accept()
        except net.ClosedError as e:
            await out.send(str(e))

    async def main() -> str:
        ln = await net.listen("tcp", "127.0.0.1:0")
        out: gosched.Chan[str] = gosched.Chan()
        gosched.go(acceptor, ln, out)
        await wait_parked(ln.pd)
        ln.close()
        return await out.recv()

    assert run(main).endswith("use of closed network connection")


# --- UDP, Unix, IPv6 -------------------------------------------------------------------------


def test_udp_round_trip() -> None:
    async def main() -> tuple[bytes, str, bytes, bytes]:
        a = await net.listen_packet("udp", "127.0.0.1:0")
        b = await net.listen_packet("udp", "127.0.0.1:0")
        await a.write_to(b"ping", b.local_addr)
        data, frm = await b.read_from()
        await b.write_to(data.upper(), frm)
        reply, _ = await a.read_from()
        # A connected UDP Conn reads one datagram per read.
        c = await net.dial("udp", b.local_addr)
        await c.write(b"dgram")
        d2, frm2 = await b.read_from()
        assert frm2 == c.local_addr
        for x in (a, b, c):
            x.close()
        return data, ("yes" if frm == a.local_addr else frm), reply, d2

    assert run(main) == (b"ping", "yes", b"PING", b"dgram")


def test_udp_read_deadline() -> None:
    async def main() -> str:
        a = await net.listen_packet("udp4", "127.0.0.1:0")
        a.set_read_deadline(gosched.now() + 0.05)
        try:
            await a.read_from()
        except TimeoutError as e:
            return str(e)
        finally:
            a.close()
        return "no timeout"

    assert run(main).endswith("i/o timeout")


def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")

    async def main() -> tuple[bytes, str, bool]:
        ln = await net.listen("unix", path)
        assert ln.addr == path
        gosched.go(serve, ln)
        c = await net.dial("unix", path)
        await c.write(b"over unix")
        got = await c.read_exactly(9)
        r = c.remote_addr
        c.close()
        ln.close()
        return got, r, os.path.exists(path)

    got, r, exists = run(main)
    assert got == b"over unix" and r == path
    assert not exists  # Listener.close removes the socket file, as Go's does


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    async def main() -> tuple[str, bytes]:
        ln = await net.listen("tcp6", "[::1]:0")
        gosched.go(serve, ln)
        c = await net.dial("tcp", ln.addr)
        await c.write(b"v6")
        got = await c.read_exactly(2)
        r = c.remote_addr
        c.close()
        ln.close()
        return r, got

    r, got = run(main)
    assert r.startswith("[::1]:") and got == b"v6"


# --- runtime integration -------------------------------------------------------------------


def test_io_wait_in_dump_and_no_false_deadlock() -> None:
    """A goroutine blocked on the network is 'IO wait' and keeps checkdead quiet.

    No timer is pending: only the netpoller can wake main, when a plain thread
    writes to the socket 0.3 s later.
    """
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    addr = f"127.0.0.1:{lsock.getsockname()[1]}"

    def peer() -> None:
        s, _ = lsock.accept()
        time.sleep(0.3)
        s.sendall(b"late")
        s.close()

    th = threading.Thread(target=peer, daemon=True)
    th.start()

    async def watcher(c: net.Conn, out: gosched.Chan[str]) -> None:
        from gosched._runtime import dump, proc

        await wait_parked(c.pd)
        assert proc.current is not None
        await out.send(dump.dump(proc.current))

    async def main() -> tuple[bytes, str]:
        c = await net.dial("tcp", addr)
        out: gosched.Chan[str] = gosched.Chan(1)
        gosched.go(watcher, c, out)
        data = await c.read_exactly(4)
        c.close()
        return data, await out.recv()

    data, dump = run(main)
    th.join(5)
    lsock.close()
    assert data == b"late"
    assert "[IO wait]" in dump


def test_wait_readable_writable_interop() -> None:
    """Another library's non-blocking socket, driven through wait_readable/wait_writable."""

    async def pinger(s: socket.socket, n: int) -> None:
        for i in range(n):
            await net.wait_writable(s)
            s.send(b"%d;" % i)
            await net.wait_readable(s)
            assert s.recv(100) == b"ack"

    async def main() -> int:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        gosched.go(pinger, a, 50)
        got = 0
        for _ in range(50):
            await net.wait_readable(b.fileno())
            got += len(b.recv(100))
            b.send(b"ack")
        # A pipe, and notify_closing for a waiter whose descriptor goes away.
        r, w = os.pipe()
        os.set_blocking(r, False)
        done: gosched.Chan[str] = gosched.Chan()

        async def waiter() -> None:
            try:
                await net.wait_readable(r)
                await done.send("readable")
            except OSError as e:
                await done.send("closed: " + str(e))

        gosched.go(waiter)
        os.write(w, b"x")
        assert await done.recv() == "readable"
        os.read(r, 1)
        gosched.go(waiter)
        sched = gosched._runtime.proc.current
        assert sched is not None and sched.poller is not None
        pd = None
        for _ in range(2000):
            pd = sched.poller.descs.get(r)
            if pd is not None and pd.rg is not None:
                break
            await gosched.sleep(0.001)
        net.notify_closing(r)
        msg = await done.recv()
        assert msg.startswith("closed:"), msg
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()
        assert await pollwaiters(sched.poller) == 0
        assert not any(d.oneshot for d in sched.poller.descs.values())  # nothing left registered
        return got

    assert run(main) > 50 * 2


def test_eof_right_behind_data_is_seen() -> None:
    """Data and FIN in one epoll event: the read after the (short) data read sees EOF.

    After a short read, Conn.read waits for the next edge instead of trying recv;
    an EOF that arrived with the data brings no new edge, so it must not wait.
    """
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    addr = f"127.0.0.1:{lsock.getsockname()[1]}"
    rounds = 30
    go_ahead = [threading.Semaphore(0) for _ in range(rounds)]

    def peer() -> None:
        for i in range(rounds):
            s, _ = lsock.accept()
            go_ahead[i].acquire(timeout=10)
            s.sendall(b"abc")
            s.close()  # right behind the data

    th = threading.Thread(target=peer, daemon=True)
    th.start()

    async def main() -> list[tuple[bytes, bytes]]:
        out = []
        for i in range(rounds):
            c = await net.dial("tcp", addr)
            c.set_read_deadline(gosched.now() + 5)
            if i % 2:
                go_ahead[i].release()  # sometimes the data is there before we read
            else:
                gosched.go(_release_when_parked, c, go_ahead[i])
            a = await c.read(100)
            b = await c.read(100)
            out.append((a, b))
            c.close()
        return out

    got = run(main)
    th.join(5)
    lsock.close()
    assert got == [(b"abc", b"")] * rounds


async def _release_when_parked(c: net.Conn, sem: threading.Semaphore) -> None:
    await wait_parked(c.pd)
    sem.release()


def test_close_races_with_io_on_two_ps() -> None:
    """Readers and closers on different Ms: every reader ends (data, EOF or
    ClosedError), none hangs, and the poller's waiter count returns to zero."""
    rounds = 200

    async def reader(c: net.Conn, out: gosched.Chan[str]) -> None:
        try:
            await c.read(10)
            await out.send("data")
        except net.ClosedError:
            await out.send("closed")

    async def closer(c: net.Conn) -> None:
        c.close()

    async def main() -> tuple[set[str], int]:
        ln = await net.listen("tcp", "127.0.0.1:0")
        seen: set[str] = set()
        out: gosched.Chan[str] = gosched.Chan(rounds)
        peers = []
        for i in range(rounds):
            c = await net.dial("tcp", ln.addr)
            peers.append(await ln.accept())
            gosched.go(reader, c, out)
            if i % 3 == 0:
                await gosched.gosched()  # sometimes let the reader park first
            gosched.go(closer, c)
        for _ in range(rounds):
            seen.add(await out.recv())
        for s in peers:
            s.close()
        ln.close()
        sched = gosched._runtime.proc.current
        assert sched is not None and sched.poller is not None
        return seen, await pollwaiters(sched.poller)

    seen, waiters = run(main, maxprocs=2, timeout=30)
    assert seen <= {"closed", "data"} and "closed" in seen
    assert waiters == 0


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_dual_stack_listen_any() -> None:
    async def main() -> list[bytes]:
        ln = await net.listen("tcp", ":0")  # every address, IPv4 and IPv6
        gosched.go(serve, ln)
        port = ln.addr.rsplit(":", 1)[1]
        got = []
        for host in ("127.0.0.1", "[::1]"):
            c = await net.dial("tcp", f"{host}:{port}")
            await c.write(host.encode())
            got.append(await c.read_exactly(len(host)))
            c.close()
        ln.close()
        return got

    assert run(main) == [b"127.0.0.1", b"[::1]"]


def test_dial_missing_unix_socket(tmp_path: Path) -> None:
    async def main() -> str:
        try:
            await net.dial("unix", str(tmp_path / "nobody.sock"))
        except FileNotFoundError as e:
            return str(e)
        return "connected"

    msg = run(main)
    assert msg.startswith("dial unix ") and msg.endswith("connect: no such file or directory")
