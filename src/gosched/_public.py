"""The public modules' names reported under their public home (trio's fixup_module_metadata).

A class or function defined in a private module (``gosched._runtime.errors``)
and exported by a public one (``gosched``) has its ``__module__`` set to the
public module, so reprs, tracebacks, ``help()``, pickling and the API reference
say ``gosched.Deadlock``. Each public module calls :func:`fixup_module_metadata`
once, at the end of its import; the first public home an object gets is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _private(modname: object) -> bool:
    return isinstance(modname, str) and any(part.startswith("_") for part in modname.split("."))


def _fix(obj: Any, modname: str, name: str | None, seen: set[int]) -> None:
    if id(obj) in seen or not _private(getattr(obj, "__module__", None)):
        return
    seen.add(id(obj))
    try:
        obj.__module__ = modname
    except (AttributeError, TypeError):  # a builtin whose __module__ is read-only
        return
    if name is not None and getattr(obj, "__name__", name) != name:  # exported as another name
        obj.__name__ = obj.__qualname__ = name  # (dump = dump_program): as pickle and help() find it
    if isinstance(obj, type):  # its methods too, as trio does (their names stay theirs)
        for attr, value in vars(obj).items():
            if not attr.startswith("_"):
                _fix(getattr(value, "__func__", value), modname, None, seen)


def fixup_module_metadata(modname: str, namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Report every object ``names`` lists in ``namespace`` as ``modname``'s."""
    seen: set[int] = set()
    for name in names:
        _fix(namespace[name], modname, name, seen)
