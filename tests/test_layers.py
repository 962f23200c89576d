"""The import graph among gosched's modules is one-way (issue 15).

Layers, lowest first: data structures (runtime2, lock, traps, timers) <- the
scheduler (proc, and the modules split from it: panic <- runq <- mgr <- syscall,
runend <- proc) <- monitors (sysmon, blame, gc, deadlock) and primitives (chan,
select, sync, time, blocking) <- the public API. A lower layer that must call up
does it through a hook the upper one installs (Go's ``mp.mstartfn``), never
through an import, so an import inside a function body - the usual way to hide a
cycle from Python's import machinery - is counted here like any other.

Imports under ``if TYPE_CHECKING:`` are left out: they never run, and only name
types for annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import gosched

SRC = Path(gosched.__file__).resolve().parent  # .../src/gosched
ROOT = SRC.parent

# Imports of a gosched module inside a function body that are allowed, with why.
INNER_ALLOWED: dict[tuple[str, str], str] = {
    # The optional C accelerator is loaded only when GOSCHED_PURE_PYTHON is unset
    # and may be missing; it is an extension module, not part of the graph.
    ("gosched._runtime.speedups", "gosched._runtime._speedups"): "optional C extension",
}


def modname(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {modname(p): p for p in SRC.rglob("*.py") if "examples" not in p.parts}


def is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def walk(node: ast.AST, infunc: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import under node, with whether it sits inside a function body."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and is_type_checking(child):
            for orelse in child.orelse:
                yield from walk(orelse, infunc)
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, infunc
        inner = infunc or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from walk(child, inner)


def targets(mod: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The gosched modules an import statement loads."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "gosched":
                yield alias.name
        return
    if node.level:
        pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        base = pkg[: len(pkg) - (node.level - 1)]
        full = ".".join(base + ([node.module] if node.module else []))
    else:
        full = node.module or ""
    if full.split(".")[0] != "gosched":
        return
    for alias in node.names:  # `from . import proc` imports a module; `from .chan import Chan` a name
        sub = f"{full}.{alias.name}"
        yield sub if sub in MODULES or alias.name.startswith("_speedups") else full


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    inner: list[tuple[str, str, int]] = []
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, infunc in walk(tree, False):
            for target in targets(mod, path, node):
                if infunc:
                    inner.append((mod, target, node.lineno))
                if target in MODULES and target != mod:
                    edges[mod].add(target)
    return edges, inner


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(edges, WHITE)
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        color[m] = GREY
        stack.append(m)
        for n in sorted(edges[m]):
            if color[n] == GREY:
                return [*stack[stack.index(n) :], n]
            if color[n] == WHITE and (cyc := visit(n)) is not None:
                return cyc
        stack.pop()
        color[m] = BLACK
        return None

    for m in sorted(edges):
        if color[m] == WHITE and (cyc := visit(m)) is not None:
            return cyc
    return None


def test_graph_sees_the_runtime() -> None:
    edges, _ = graph()
    assert "gosched._runtime.proc" in edges["gosched._runtime.sysmon"]
    assert "gosched._runtime.runtime2" in edges["gosched._runtime.proc"]


def test_no_import_cycle() -> None:
    edges, _ = graph()
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_no_import_inside_a_function() -> None:
    _, inner = graph()
    bad = [f"{m}:{line} imports {t}" for m, t, line in inner if (m, t) not in INNER_ALLOWED]
    assert bad == []


def test_wait_reasons_are_a_table_not_free_strings() -> None:
    """Every park reason and every ``waitreason`` written is a WaitReason, never a str literal."""
    bad = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "trap":
                items = node.args
            elif isinstance(node, ast.Tuple):
                items = node.elts
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "waitreason" for t in node.targets
            ):
                items = [ast.Name("PARK"), node.value, node.value]
            else:
                continue
            if len(items) == 3 and getattr(items[0], "id", None) == "PARK":
                reason = items[2]
                if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                    bad.append(f"{mod}:{node.lineno} {reason.value!r}")
    assert bad == []


def test_wait_reason_table() -> None:
    from gosched._runtime.runtime2 import WaitReason
    from gosched._runtime.traps import GOSCHED, PARK, SLEEP, SYSCALL, TrapKind

    assert [PARK, GOSCHED, SLEEP, SYSCALL] == [0, 1, 2, 3]  # ints, as the protocol was
    assert all(isinstance(k, TrapKind) for k in (PARK, GOSCHED, SLEEP, SYSCALL))
    assert f"{WaitReason.CHAN_RECEIVE}" == str(WaitReason.CHAN_RECEIVE) == "chan receive"
    assert [r.value for r in WaitReason if not r.durable] == ["IO wait", "syscall"]
