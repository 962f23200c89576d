"""Address parsing and resolution for gosched.net (Go's net/ipsock.go, lookup.go).

Go's address strings: ``host:port``, ``[v6host]:port``, ``:port`` (any host),
and a path for ``unix``. An IP literal never reaches the resolver; a name goes
through ``getaddrinfo``, which blocks, so it runs as ``gosched.syscall`` (Go's
cgo resolver also runs on a thread of its own).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ._runtime.api import syscall

if TYPE_CHECKING:
    from .context import Context

STREAM_NETS = ("tcp", "tcp4", "tcp6", "unix")
PACKET_NETS = ("udp", "udp4", "udp6")

Sockaddr = tuple[int, object]  # (family, sockaddr as the socket module wants it)


class AddrError(ValueError):
    """A malformed address (Go's net.AddrError): ``address X: missing port in address``."""


class UnknownNetworkError(ValueError):
    """Go's net.UnknownNetworkError: ``unknown network X``."""


def check_network(network: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(network, str):
        raise TypeError(f"network must be a str like 'tcp', not {type(network).__name__}")
    if network not in allowed:
        raise UnknownNetworkError(f"unknown network {network!r} (want one of {', '.join(allowed)})")


def splithostport(addr: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, with its error strings."""
    if not isinstance(addr, str):
        raise TypeError(f"address must be a str like '127.0.0.1:80', not {type(addr).__name__}")
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise AddrError(f"address {addr}: missing ']' in address")
        host, rest = addr[1:end], addr[end + 1 :]
        if not rest.startswith(":"):
            raise AddrError(f"address {addr}: missing port in address")
        port = rest[1:]
    else:
        i = addr.rfind(":")
        if i < 0:
            raise AddrError(f"address {addr}: missing port in address")
        host, port = addr[:i], addr[i + 1 :]
        if ":" in host:
            raise AddrError(f"address {addr}: too many colons in address")
    if "[" in host or "]" in host or "]" in port:
        raise AddrError(f"address {addr}: unexpected bracket in address")
    return host, port


def joinhostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def fmtaddr(family: int, sa: object) -> str:
    """A sockaddr as Go prints a net.Addr."""
    if family == socket.AF_UNIX:
        return sa.decode(errors="replace") if isinstance(sa, bytes) else str(sa or "")
    if isinstance(sa, tuple) and len(sa) >= 2:
        return joinhostport(str(sa[0]), int(sa[1]))
    return str(sa)


def _families(network: str) -> tuple[int, ...]:
    if network.endswith("4"):
        return (socket.AF_INET,)
    if network.endswith("6"):
        return (socket.AF_INET6,)
    return (socket.AF_INET, socket.AF_INET6)


def _literal(host: str) -> int:
    """The family of an IP literal, or 0 for a name."""
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, host)
        except (OSError, ValueError):
            continue
        return fam
    return 0


def _port(port: str) -> int | None:
    """Go's parsePort and LookupPort's range check: a signed decimal, or None for a service name."""
    digits = port[1:] if port[:1] in ("+", "-") else port
    if digits and not (digits.isascii() and digits.isdigit()):
        return None  # a service name: getaddrinfo knows it
    p = int(digits or "0")  # Go accepts "host:" (and a bare sign) as port 0
    if port[:1] == "-":
        p = -p
    if not 0 <= p <= 65535:
        raise AddrError(f"address {port}: invalid port")
    return p


async def resolve(network: str, addr: str, passive: bool, ctx: Context | None = None) -> list[Sockaddr]:
    """Addresses to dial (or bind, with ``passive``) for ``network``/``addr``, in order.

    With ``ctx``, a ``getaddrinfo`` still running when the context is done is
    left to finish in the background (``syscall(ctx=)``) and ``ctx.err()`` raised."""
    if network == "unix":
        if not isinstance(addr, str) or not addr:
            raise AddrError(f"address {addr!r}: a unix socket needs a path")
        return [(socket.AF_UNIX, addr)]
    host, portstr = splithostport(addr)
    fams = _families(network)
    port = _port(portstr)
    socktype = socket.SOCK_DGRAM if network.startswith("udp") else socket.SOCK_STREAM
    if host == "" and port is not None:
        if passive:
            # ":port" binds every address: dual-stack "::" for "tcp"/"udp" where the
            # machine has IPv6, else (or if that fails, listen tries on) 0.0.0.0.
            any4: Sockaddr = (socket.AF_INET, ("0.0.0.0", port))
            any6: Sockaddr = (socket.AF_INET6, ("::", port, 0, 0))
            if fams == (socket.AF_INET,):
                return [any4]
            if fams == (socket.AF_INET6,):
                return [any6]
            return [any6, any4] if socket.has_ipv6 else [any4]
        host = "127.0.0.1" if fams[0] == socket.AF_INET else "::1"  # Go dials the local system
    fam = _literal(host)
    if fam and port is not None:
        if fam not in fams:
            raise AddrError(f"address {addr}: no suitable address found for {network}")
        return [(fam, (host, port) if fam == socket.AF_INET else (host, port, 0, 0))]
    want = fams[0] if len(fams) == 1 else socket.AF_UNSPEC
    try:
        infos = await syscall(socket.getaddrinfo, host, portstr or "0", want, socktype, 0,
                              socket.AI_PASSIVE if passive else 0, ctx=ctx)
    except socket.gaierror as e:
        what = f"lookup {host}: {e.strerror}"
        if e.errno == socket.EAI_SERVICE:  # Go's goLookupPort words
            what = f"lookup {network.rstrip('46')}/{portstr}: unknown port"
        err = socket.gaierror(e.errno, what)
        err.errno = e.errno
        raise err from None
    out: list[Sockaddr] = []
    for family, _, _, _, sa in infos:
        if family in fams and (family, sa) not in out:
            out.append((family, sa))
    if not out:
        raise AddrError(f"address {addr}: no suitable address found for {network}")
    if passive and network in ("tcp", "udp"):
        out.sort(key=lambda a: a[0] != socket.AF_INET)  # listen on IPv4 first, as Go
    return out
