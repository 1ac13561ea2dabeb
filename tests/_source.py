"""The library's modules parsed once per test process.

Several rule tests walk the AST of every module (import cycles, interpreter-wide
state, where a type is defined); parsing the package is most of their cost, so
they share the trees.  Read them only: a tree is the same object in every test.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


def parsed(path: Path) -> ast.Module:
    """The AST of the Python file at ``path`` (shared: never change it)."""
    return _parsed(path.resolve())


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))
