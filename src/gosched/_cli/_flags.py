"""Flag parsing in the style of Go's ``flag`` package: ``-name value``, ``-name=value``,
``--name`` alike, flags before the positional arguments, ``-help`` prints the usage."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Usage(Exception):
    """A bad command line: the message, then the usage, exit status 2."""


def parse(
    argv: list[str], flags: dict[str, Callable[[str], Any] | None], doc: str
) -> tuple[dict[str, Any], list[str]] | int:
    """Split ``argv`` into flag values and the rest; an int is the exit status to return now.

    ``flags`` maps a name to a converter for its value, or to None for a boolean flag.
    Parsing stops at the first argument that is not a flag, or after ``--``.
    """
    values: dict[str, Any] = {}
    i = 0
    try:
        while i < len(argv):
            a = argv[i]
            if a == "--":
                i += 1
                break
            if not a.startswith("-") or a == "-":
                break
            name, eq, val = a.lstrip("-").partition("=")
            if name in ("h", "help"):
                sys.stdout.write(doc)
                return 0
            if name not in flags:
                raise Usage(f"flag provided but not defined: -{name}")
            conv = flags[name]
            if conv is None:
                values[name] = val.lower() not in ("0", "false") if eq else True
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise Usage(f"flag needs an argument: -{name}")
                    val = argv[i]
                try:
                    values[name] = conv(val)
                except ValueError:
                    raise Usage(f"invalid value {val!r} for flag -{name}") from None
            i += 1
    except Usage as e:
        sys.stderr.write(f"{e}\n{doc}")
        return 2
    return values, argv[i:]


def fail(cmd: str, msg: str, status: int = 1) -> int:
    sys.stderr.write(f"gosched {cmd}: {msg}\n")
    return status
