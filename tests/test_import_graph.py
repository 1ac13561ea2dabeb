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


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str, root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


#: Where statements nest (imports are statements: no expression holds one).
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(tree: ast.Module) -> Iterator[ast.AST]:
    """Every statement, nested ones too, skipping the bodies of ``if TYPE_CHECKING:``.

    A tenth of the nodes of a full walk: expressions are never entered.
    """
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        yield node
        for field in _BODIES:
            stack.extend(getattr(node, field, ()))


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
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
def _imports(package: str, root: Path = ROOT) -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported module, name used from it or None)} within ``package``.

    A name is "used from" a module when imported from it (``from .config import
    _bool``) or read as an attribute of it (``from . import config`` then
    ``config._bool``).
    """
    modules = _modules(package, root)
    out: dict[str, set[tuple[str, str | None]]] = {}
    for module, path in modules.items():
        found: set[tuple[str, str | None]] = set()
        bound: dict[str, str] = {}  # local name -> package module it stands for
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _statements(tree):
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
        # Attribute reads of a bound module can be anywhere: walk every node, but
        # only in a module that bound one (most import names, not modules).
        for node in _nodes(tree) if bound else ():
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


def test_the_import_reader_finds_nested_imports_and_private_reads(tmp_path: Path) -> None:
    """Imports at any depth of statements, attribute reads in any expression;
    ``if TYPE_CHECKING:`` bodies (not their ``else``) left out."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name in ("__init__", "b", "c", "d", "e", "f", "g", "h"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg import b\n"
        "    from pkg.h import _typing_only\n"
        "else:\n"
        "    from . import f\n"
        "class K:\n"
        "    def m(self, x):\n"
        "        try:\n"
        "            from pkg.c import _hidden\n"
        "        except ImportError:\n"
        "            from .d import name\n"
        "        finally:\n"
        "            pass\n"
        "        with x:\n"
        "            for i in x:\n"
        "                while i:\n"
        "                    import pkg.e as e\n"
        "        match x:\n"
        "            case 1:\n"
        "                from pkg import g\n"
        "        return [lambda: (e._private, f.public, g[0]._not_g) for _ in x]\n"
    )
    (pkg / "c.py").write_text("def late():\n    from pkg import a\n    return a\n")
    imports = _imports("pkg", tmp_path)
    assert imports["pkg.a"] == {
        ("pkg.f", None),
        ("pkg.f", "public"),
        ("pkg.c", "_hidden"),
        ("pkg.d", "name"),
        ("pkg.e", None),
        ("pkg.e", "_private"),
        ("pkg.g", None),
    }
    graph = {m: {t for t, _ in i} for m, i in imports.items()}
    assert _cycles(graph) == [["pkg.a", "pkg.c"]]  # a lazy import closes a cycle too
