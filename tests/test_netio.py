"""gosched.net.Reader (buffered reads on real sockets) and gosched.net.pipe() (Go's net.Pipe)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gosched
import gosched.net as net
from _core_helpers import tiny_switch

pytestmark = pytest.mark.filterwarnings("ignore::gosched.BlockingWarning")


# --- Reader on real sockets ---------------------------------------------------------------


def serve(pieces: list[bytes], then: Callable[[net.Conn], Awaitable[Any]] | None = None) -> Any:
    """A server on 127.0.0.1 that writes ``pieces`` one by one (each its own segment, as far
    as TCP_NODELAY and a short pause make it) and then half-closes; returns main's result."""

    def deco(client: Callable[[net.Conn], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            ln = await net.listen("tcp", "127.0.0.1:0")

            async def server() -> None:
                c = await ln.accept()
                for p in pieces:
                    await c.write(p)
                    await gosched.sleep(0.005)
                if then is not None:
                    await then(c)
                c.close_write()
                await c.read(1)  # until the client closes
                c.close()

            gosched.go(server)
            c = await net.dial("tcp", ln.addr)
            try:
                return await client(c)
            finally:
                c.close()
                ln.close()

        return gosched.run(main, maxprocs=2)

    return deco


def test_readline_readuntil_readexactly_across_segments() -> None:
    @serve([b"GET / HT", b"TP/1.1\r", b"\nHost: x\r\n\r\n", b"12345", b"67890", b"tail"])
    async def got(c: net.Conn) -> list[bytes]:
        r = net.Reader(c)
        out = [await r.readuntil(b"\r\n"), await r.readuntil(b"\r\n"), await r.readuntil(b"\r\n")]
        out.append(await r.readexactly(7))  # spans two writes
        out.append(await r.readline())  # no newline before EOF: the rest
        out.append(await r.readline())  # drained
        assert r.at_eof()
        return out

    assert got == [b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n", b"1234567", b"890tail", b""]


def test_readexactly_and_readuntil_at_eof() -> None:
    @serve([b"abc"])
    async def got(c: net.Conn) -> list[Any]:
        r = net.Reader(c)
        out: list[Any] = []
        with pytest.raises(net.IncompleteReadError) as ei:
            await r.readexactly(10)
        e = ei.value
        out += [isinstance(e, EOFError), e.partial, e.expected, str(e)]
        with pytest.raises(net.IncompleteReadError) as ei:
            await r.readexactly(1)  # nothing at all: Go's io.ReadFull says EOF, not unexpected EOF
        out.append(str(ei.value))
        return out

    assert got[:3] == [True, b"abc", 10]
    assert got[3].startswith("unexpected EOF: read 3 bytes from tcp 127.0.0.1:"), got[3]
    assert got[3].endswith(", expected 10 bytes")
    assert got[4].startswith("EOF: read 0 bytes"), got[4]

    @serve([b"no separator"])
    async def got2(c: net.Conn) -> tuple[bytes, Any]:
        r = net.Reader(c)
        with pytest.raises(net.IncompleteReadError) as ei:
            await r.readuntil(b"\n")
        return ei.value.partial, ei.value.expected

    assert got2 == (b"no separator", None)


def test_conn_read_exactly_raises_the_same_error() -> None:
    @serve([b"abc"])
    async def got(c: net.Conn) -> net.IncompleteReadError:
        with pytest.raises(net.IncompleteReadError) as ei:
            await c.read_exactly(10)
        return ei.value

    assert got.partial == b"abc" and "unexpected EOF" in str(got)


def test_limit_overrun_keeps_the_data() -> None:
    @serve([b"x" * 40, b"\nshort\n"])
    async def got(c: net.Conn) -> list[Any]:
        r = net.Reader(c, limit=16)
        with pytest.raises(net.LimitOverrunError) as ei:
            await r.readline()
        e = ei.value
        out: list[Any] = [isinstance(e, ValueError), str(e).startswith("bufio: buffer full"), e.consumed > 16]
        # Nothing was consumed: the caller can take the long line some other way.
        out.append(await r.readexactly(41))
        out.append(await r.readline())
        return out

    assert got == [True, True, True, b"x" * 40 + b"\n", b"short\n"]

    @serve([b"y" * 20 + b"\n"])
    async def found_too_late(c: net.Conn) -> int:
        r = net.Reader(c, limit=8)
        with pytest.raises(net.LimitOverrunError) as ei:
            await r.readuntil(b"\n")
        return ei.value.consumed

    assert found_too_late == 20


def test_deadline_passes_through_and_keeps_buffered_bytes() -> None:
    async def rest(c: net.Conn) -> None:
        await gosched.sleep(0.3)
        await c.write(b"-end\n")

    @serve([b"partial"], then=rest)
    async def got(c: net.Conn) -> list[Any]:
        r = net.Reader(c)
        c.set_read_deadline(gosched.now() + 0.1)
        with pytest.raises(TimeoutError) as ei:
            await r.readline()
        out: list[Any] = [str(ei.value).endswith("i/o timeout"), r.buffered]
        c.set_read_deadline(None)
        out.append(await r.readline())
        out.append(await r.read())  # -1: to EOF
        return out

    assert got == [True, 7, b"partial-end\n", b""]


def test_reader_rejects_bad_arguments() -> None:
    a, _ = net.pipe()
    with pytest.raises(ValueError):
        net.Reader(a, limit=0)
    with pytest.raises(TypeError):
        net.Reader(object())  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(ValueError):
            await net.Reader(a).readuntil(b"")

    gosched.run(main)


# --- pipe ------------------------------------------------------------------------------------


def fake(main: Callable[[], Awaitable[Any]]) -> Any:
    return gosched.run(main, clock="fake")


def test_pipe_write_is_synchronous_and_split_across_reads() -> None:
    async def main() -> list[Any]:
        a, b = net.pipe()
        log: list[Any] = []
        t0 = gosched.now()

        async def writer() -> None:
            n = await a.write(b"0123456789")
            log.append(("wrote", n, gosched.now() - t0))

        gosched.go(writer)
        while True:
            chunk = await b.read(3)
            log.append(chunk)
            if chunk == b"9":
                break
            await gosched.sleep(1)  # the writer stays blocked meanwhile
        await gosched.testing.wait()
        return log

    log = fake(main)
    # write() returned only once the fourth read (at virtual t=3) took the last byte.
    assert [x for x in log if isinstance(x, bytes)] == [b"012", b"345", b"678", b"9"]
    assert ("wrote", 10, 3.0) in log


def test_pipe_is_full_duplex_and_reads_via_reader() -> None:
    async def main() -> list[bytes]:
        a, b = net.pipe()

        async def echo() -> None:
            r = net.Reader(b)
            while line := await r.readline():
                await b.write(line.upper())
            b.close()

        gosched.go(echo)
        ra = net.Reader(a)
        out = []
        for word in (b"ping\n", b"pong\n"):
            await a.write(word)
            out.append(await ra.readline())
        a.close()
        return out

    assert fake(main) == [b"PING\n", b"PONG\n"]


def test_pipe_close_semantics() -> None:
    async def main() -> list[Any]:
        a, b = net.pipe()
        out: list[Any] = []

        async def blocked_read() -> None:
            out.append(await b.read())  # the peer closes: EOF

        gosched.go(blocked_read)
        await gosched.testing.wait()
        a.close()
        a.close()  # idempotent, as Go's
        await gosched.testing.wait()
        for op in (lambda: a.write(b"x"), lambda: a.read(), lambda: b.write(b"x")):
            try:
                await op()
            except net.ClosedPipeError as e:
                out.append(str(e))
        out.append(await b.read())  # still EOF
        with pytest.raises(net.ClosedPipeError):
            a.set_deadline(gosched.now() + 1)

        # Closing our own end wakes our blocked reader with the error.
        c, _d = net.pipe()

        async def reader() -> None:
            try:
                await c.read()
            except net.ClosedPipeError as e:
                out.append(("woken", str(e)))

        gosched.go(reader)
        await gosched.testing.wait()
        c.close()
        await gosched.testing.wait()
        out.append(c.closed)
        return out

    closed = "io: read/write on closed pipe"
    assert fake(main) == [b"", closed, closed, closed, b"", ("woken", closed), True]


def test_pipe_deadlines_under_the_fake_clock() -> None:
    async def main() -> list[Any]:
        a, b = net.pipe()
        out: list[Any] = []
        t0 = gosched.now()
        a.set_read_deadline(t0 + 10)
        try:
            await a.read()
        except TimeoutError as e:
            out.append((str(e), gosched.now() - t0))
        try:
            await a.read()  # still past it
        except TimeoutError:
            out.append("again")
        a.set_read_deadline(None)  # cleared: reads work again

        async def later() -> None:
            await gosched.sleep(5)
            await b.write(b"hi")

        gosched.go(later)
        out.append(await a.read())

        # Moving the deadline while a read waits applies to it (Go's pipeDeadline).
        t1 = gosched.now()
        a.set_read_deadline(t1 + 1)

        async def extend() -> None:
            await gosched.sleep(0.5)
            a.set_read_deadline(t1 + 30)

        gosched.go(extend)
        try:
            await a.read()
        except TimeoutError:
            out.append(("moved", gosched.now() - t1))

        # A write nobody reads times out; a deadline in the past fails at once.
        t2 = gosched.now()
        a.set_write_deadline(t2 + 3)
        try:
            await a.write(b"nobody reads")
        except TimeoutError as e:
            out.append((str(e), gosched.now() - t2))
        a.set_deadline(t2 - 1)
        for op in (lambda: a.read(), lambda: a.write(b"x")):
            try:
                await op()
            except TimeoutError as e:
                out.append(str(e))
        return out

    assert fake(main) == [
        ("read pipe: i/o timeout", 10.0),
        "again",
        b"hi",
        ("moved", 30.0),
        ("write pipe: i/o timeout", 3.0),
        "read pipe: i/o timeout",
        "write pipe: i/o timeout",
    ]


def test_pipe_empty_write_is_not_an_eof_and_bad_deadlines_are_errors() -> None:
    async def main() -> list[Any]:
        a, b = net.pipe()
        out: list[Any] = [await a.write(b"")]

        async def later() -> None:
            await a.write(b"x")

        gosched.go(later)
        out.append(await b.read())  # the empty write did not reach the reader as b"" (EOF)
        for bad in (float("nan"), "soon"):
            try:
                a.set_deadline(bad)  # type: ignore[arg-type]
            except (ValueError, TypeError) as e:
                out.append(type(e).__name__)
        a.set_deadline(float("inf"))  # far away: no deadline in practice
        a.set_deadline(None)
        return out

    assert fake(main) == [0, b"x", "ValueError", "TypeError"]


def test_pipe_deadline_on_the_real_clock() -> None:
    async def main() -> float:
        a, _b = net.pipe()
        a.set_deadline(gosched.now() + 0.05)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await a.read()
        return time.monotonic() - t0

    assert 0.04 < gosched.run(main) < 5


def test_pipe_writes_stay_whole_with_concurrent_writers() -> None:
    async def main() -> bytes:
        a, b = net.pipe()
        wg = gosched.WaitGroup()
        wg.add(2)

        async def writer(ch: bytes) -> None:
            await a.write(ch * 1000)
            wg.done()

        gosched.go(writer, b"a")
        gosched.go(writer, b"b")
        got = bytearray()
        while len(got) < 2000:
            got += await b.read(7)
        await wg.wait()
        return bytes(got)

    got = gosched.run(main, maxprocs=2)
    assert got in (b"a" * 1000 + b"b" * 1000, b"b" * 1000 + b"a" * 1000)


def test_pipe_nobody_writes_is_a_deadlock() -> None:
    async def main() -> None:
        a, _b = net.pipe()
        await a.read()

    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main)
    assert ei.value.reason == "all goroutines are asleep - deadlock!"
    assert "goroutine 1 [select]:" in ei.value.dump
    assert "self._rdrx (*Chan 0x" in ei.value.dump  # a __slots__ attribute names the channel
    with pytest.raises(gosched.Deadlock) as ei:
        gosched.run(main, clock="fake")
    assert ei.value.reason == "deadlock: all goroutines in bubble are blocked"


# --- properties and stress ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"")), max_size=8),
    tail=st.binary(max_size=6).map(lambda b: b.replace(b"\r", b"")),
    cuts=st.lists(st.integers(min_value=1, max_value=7), max_size=40),
)
def test_readuntil_splits_any_chunking(lines: list[bytes], tail: bytes, cuts: list[int]) -> None:
    # Whatever sizes the peer's writes have (a two-byte separator split across
    # writes included), readuntil returns the records, then the tail as the partial.
    sep = b"\r\n"
    data = b"".join(x + sep for x in lines) + tail

    async def main() -> tuple[list[bytes], bytes]:
        a, b = net.pipe()

        async def writer() -> None:
            i = 0
            for k in cuts:
                if i >= len(data):
                    break
                await a.write(data[i:i + k])
                i += k
            if i < len(data):
                await a.write(data[i:])
            a.close()

        gosched.go(writer)
        r = net.Reader(b, limit=64)
        got = []
        while True:
            try:
                got.append(await r.readuntil(sep))
            except net.IncompleteReadError as e:
                return got, e.partial

    assert gosched.run(main, clock="fake") == ([x + sep for x in lines], tail)


def test_pipe_stress_several_ms_tiny_switch_interval() -> None:
    # 4 writers and 2 readers on one pipe across 4 Ms, threads switching every
    # microsecond: no byte is lost or duplicated, and closing ends the readers.
    async def main() -> dict[bytes, int]:
        a, b = net.pipe()
        wg = gosched.WaitGroup()
        wg.add(4)
        done = gosched.Chan[dict[bytes, int]](2)

        async def writer(tag: bytes) -> None:
            for i in range(150):
                await a.write(tag * (1 + i % 13))
            wg.done()

        async def reader() -> None:
            counts: dict[bytes, int] = {}  # one per reader: they run on different Ms
            while chunk := await b.read(5):
                for t in set(chunk):
                    k = bytes([t])
                    counts[k] = counts.get(k, 0) + chunk.count(t)
            await done.send(counts)

        for tag in (b"a", b"b", b"c", b"d"):
            gosched.go(writer, tag)
        gosched.go(reader)
        gosched.go(reader)
        await wg.wait()
        a.close()
        c1, c2 = await done.recv(), await done.recv()
        return {k: c1.get(k, 0) + c2.get(k, 0) for k in c1.keys() | c2.keys()}

    per = sum(1 + i % 13 for i in range(150))
    with tiny_switch():
        got = gosched.run(main, maxprocs=4)
    assert got == {b"a": per, b"b": per, b"c": per, b"d": per}
