"""``python -m gosched dump``: print the goroutine dump of a running gosched process."""

from __future__ import annotations

import sys

from .._runtime import ctl
from ._flags import fail, parse

HELP = "print the goroutine dump of a running gosched process"

DOC = """\
usage: python -m gosched dump [-timeout seconds] pid

Dump asks the gosched program running as process pid for its goroutine dump,
the one SIGQUIT prints (Go's traceback format, then who blocks whom), and
prints it. The program goes on running.

The request is a file in a directory private to the user and a signal
(GOSCHED_CTLSIG, default SIGRTMIN+2); the program writes its answer to a file.
Only a program that called gosched.run in its main thread answers, and only
to its own user. The -timeout flag (default 5) bounds the wait for the answer.
"""


def main(argv: list[str]) -> int:
    parsed = parse(argv, {"timeout": float}, DOC)
    if isinstance(parsed, int):
        return parsed
    flags, rest = parsed
    if len(rest) != 1 or not rest[0].isdigit():
        return fail("dump", "need one process id\n" + DOC, 2)
    try:
        text = ctl.request(int(rest[0]), "dump", flags.get("timeout", 5.0))
    except (LookupError, TimeoutError, PermissionError) as e:
        return fail("dump", str(e))
    sys.stdout.write(text)
    return 0
