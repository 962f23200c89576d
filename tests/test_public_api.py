"""The public surface: every exported name is reported under a public module and documented."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import pickle
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gosched

PUBLIC = ["gosched", "gosched.context", "gosched.debug", "gosched.errgroup", "gosched.net", "gosched.signal",
          "gosched.testing"]


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


def test_version_is_the_installed_metadatas() -> None:
    """``__version__`` is the one place the version is written; pyproject.toml reads it."""
    try:
        installed = importlib.metadata.version("gosched")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("gosched is not installed (only on PYTHONPATH)")
    assert gosched.__version__ == installed
    pyproject = Path(__file__).parent.parent / "pyproject.toml"
    if pyproject.exists():
        text = pyproject.read_text()
        assert 'dynamic = ["version"]' in text and f'"{gosched.__version__}"' not in text


def test_lazy_net_is_typed_for_mypy_strict(tmp_path: Path) -> None:
    """``gosched.net`` is imported on first use; mypy --strict still sees the module."""
    pytest.importorskip("mypy")
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import gosched\n\n\n"
        "async def f() -> None:\n"
        '    c = await gosched.net.dial("tcp", "127.0.0.1:1")\n'
        "    c.close()\n"
    )
    src = Path(gosched.__file__).parent.parent
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(prog)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(src)},
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_api_reference_shows_only_public_api(tmp_path: Path) -> None:
    """docs/api documents every export, under its public name, and no runtime internals."""
    pytest.importorskip("sphinx")
    docs = Path(__file__).parent.parent / "docs" / "api"
    if not docs.exists():
        pytest.skip("docs/api is not in this checkout")
    src = Path(gosched.__file__).parent.parent
    r = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "text", str(docs), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    text = (tmp_path / "index.txt").read_text()
    for name, obj in OBJECTS.items():
        if isinstance(obj, type):
            assert f"class {name}(" in text or f"exception {name}" in text or f"class {name}\n" in text, name
    assert "_runtime" not in text
    internals = ("recvlocked", "sendlocked", "trysend", "recvq", "sendq", "fusers", "rowners", "waiters()")
    for internal in internals:
        assert internal not in text, internal
