"""The public surface: every exported name is reported under a public module and documented."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pickle
import types
from collections.abc import Iterator
from typing import Any

import pytest

import gosched

PUBLIC = ["gosched", "gosched.context", "gosched.debug", "gosched.errgroup", "gosched.net", "gosched.testing"]


def _exports() -> Iterator[tuple[str, Any]]:
    for modname in PUBLIC:
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            yield f"{modname}.{name}", getattr(mod, name)


EXPORTS = dict(_exports())
OBJECTS = {k: v for k, v in EXPORTS.items() if not isinstance(v, types.ModuleType)}


def _private(modname: str) -> bool:
    return any(part.startswith("_") for part in modname.split("."))


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_exported_name_is_reported_under_a_public_module(name: str) -> None:
    obj = OBJECTS[name]
    assert not _private(obj.__module__), f"{name}.__module__ is {obj.__module__}"
    home = importlib.import_module(obj.__module__)
    assert getattr(home, obj.__qualname__) is obj  # what pickle and help() look up
    if isinstance(obj, type):
        for attr, value in vars(obj).items():
            fn = getattr(value, "__func__", value)
            if not attr.startswith("_") and callable(fn) and hasattr(fn, "__module__"):
                assert not _private(fn.__module__), f"{name}.{attr}.__module__ is {fn.__module__}"


def test_reprs_and_pickles_say_the_public_name() -> None:
    assert repr(gosched.Deadlock) == "<class 'gosched.Deadlock'>"
    assert repr(gosched.Chan) == "<class 'gosched.Chan'>"
    assert gosched.dump.__name__ == "dump"
    e = pickle.loads(pickle.dumps(gosched.Deadlock("all goroutines are asleep")))
    assert type(e) is gosched.Deadlock and str(e) == "all goroutines are asleep"
    assert pickle.loads(pickle.dumps(gosched.dump)) is gosched.dump


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_exported_name_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(EXPORTS[name])
    assert doc and len(doc.split()) >= 3, f"{name} has no real docstring: {doc!r}"
