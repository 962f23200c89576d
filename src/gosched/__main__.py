"""``python -m gosched``: run and inspect gosched programs (Go's ``go`` command, for gosched).

Each subcommand is a module of ``gosched._cli`` with ``main(argv) -> int`` and a
one-line ``HELP``; ``COMMANDS`` lists them.
"""

from __future__ import annotations

import sys
from types import ModuleType

from ._cli import dump, run, top, trace

COMMANDS: dict[str, ModuleType] = {
    "dump": dump,
    "run": run,
    "top": top,
    "trace": trace,
}

USAGE = """\
gosched is a tool for running and inspecting gosched programs.

Usage:

	python -m gosched <command> [arguments]

The commands are:

{commands}

Use "python -m gosched help <command>" for more information about a command.
"""


def usage() -> str:
    lines = [f"\t{name:<11} {mod.HELP}" for name, mod in sorted(COMMANDS.items())]
    return USAGE.format(commands="\n".join(lines))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "-help", "--help"):
        sys.stdout.write(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "help":
        if not rest:
            sys.stdout.write(usage())
            return 0
        name, rest = rest[0], ["-help"]
    mod = COMMANDS.get(name)
    if mod is None:
        sys.stderr.write(f"gosched {name}: unknown command\nRun 'python -m gosched help' for usage.\n")
        return 2
    code: int = mod.main(rest)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
