"""The inner loop's conventions (``pytest -m "not slow"``; see the README)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_fuzz_module_is_slow_as_a_whole() -> None:
    """tests/conftest.py skips ``*_fuzz.py`` in the inner loop: only right if all of it is slow."""
    modules = sorted(TESTS.rglob("*_fuzz.py"))
    assert modules
    for path in modules:
        marks = [
            ast.unparse(node)
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "pytestmark"
        ]
        assert marks == ["pytestmark = pytest.mark.slow"], path
