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


def test_only_a_module_marked_slow_at_top_level_is_left_out(tmp_path: Path) -> None:
    """The inner loop skips importing a module only on its own top-level ``pytestmark`` line."""
    from tests.conftest import _slow_as_a_whole

    cases = {
        "whole": ("import pytest\npytestmark = pytest.mark.slow  # a reason\n", True),
        "listed": ("import pytest\npytestmark = [pytest.mark.slow]\n", False),
        "per_test": ("import pytest\n@pytest.mark.slow\ndef test_x(): pass\n", False),
        "in_a_string": ('SOURCE = """\npytestmark = pytest.mark.slow\n"""\n', False),
        "in_a_function": ("def f():\n    pytestmark = pytest.mark.slow\n", False),
        "broken": ("pytestmark = pytest.mark.slow\ndef (:\n", False),
    }
    for name, (source, expected) in cases.items():
        path = tmp_path / f"test_{name}.py"
        path.write_text(source, encoding="utf-8")
        assert _slow_as_a_whole(path) is expected, name
    assert _slow_as_a_whole(TESTS / "receiver" / "test_receiver_celery.py")
    assert not _slow_as_a_whole(TESTS / "receiver" / "test_receiver_journal.py")
