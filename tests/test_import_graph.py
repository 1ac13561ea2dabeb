"""The package's layering: no import cycles, no module reaching into another's private names.

Read from the source (``ast``), so what is checked is every import statement,
top level or inside a function (a lazy import is still a dependency); only
``if TYPE_CHECKING:`` blocks are left out, as they never run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("postmark_kit", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *(node.module.split(".") if node.module else [])])


@functools.cache  # parsed once for both tests of a package
def _imports(package: str) -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported module, name used from it or None)} within ``package``.

    A name is "used from" a module when imported from it (``from .config import
    _bool``) or read as an attribute of it (``from . import config`` then
    ``config._bool``).
    """
    modules = _modules(package)
    out: dict[str, set[tuple[str, str | None]]] = {}
    for module, path in modules.items():
        found: set[tuple[str, str | None]] = set()
        bound: dict[str, str] = {}  # local name -> package module it stands for
        nodes = list(_statements(ast.parse(path.read_text(encoding="utf-8"))))
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == package:
                        found.add((a.name, None))
                        if a.asname:
                            bound[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, path, node)
                if target.split(".")[0] != package:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # "from . import cli": the submodule itself
                        found.add((sub, None))
                        bound[alias.asname or alias.name] = sub
                    else:
                        found.add((target, alias.name))
        for node in nodes:
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
            ):
                found.add((bound[node.value.id], node.attr))
        out[module] = {(m, n) for m, n in found if m != module}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _graph(package: str) -> dict[str, set[str]]:
    """Module -> modules it imports.  A package's ``__init__`` re-exporting its
    submodules is not a dependency of theirs: importing ``a.b`` runs ``a`` first
    anyway, so an edge ``a.b -> a`` is only a cycle when ``a`` imports ``a.b``
    back, which every re-export does; such edges are dropped."""
    graph: dict[str, set[str]] = {}
    for module, imports in _imports(package).items():
        targets = {m for m, _ in imports}
        # importing a name from a package means importing that package's __init__
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    return graph


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package: str) -> None:
    assert _cycles(_graph(package)) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_another_modules_private_names(package: str) -> None:
    offenders = sorted(
        f"{module} imports {target}.{name}"
        for module, imports in _imports(package).items()
        for target, name in imports
        if name is not None and name.startswith("_") and not name.startswith("__")
    )
    assert offenders == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
