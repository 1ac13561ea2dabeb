"""docs/integrations.md stays true: every feature postmark-kit claims names tests that exist."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "integrations.md"
COLUMNS = [
    "Feature",
    "postmark-kit",
    "Flask-Mail",
    "postmarker (Django)",
    "django-anymail",
    "Tests",
]
VERDICT = re.compile(r"^(yes|no|partial|n/a)\b")
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def rows() -> list[list[str]]:
    lines = [line for line in PAGE.read_text().splitlines() if line.startswith("|")]
    table = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    assert table[0] == COLUMNS
    assert set(table[1][0]) <= {"-"}
    return table[2:]


@functools.cache  # most rows name tests of the same few files: each is parsed once
def module_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef))


def test_the_table_has_a_row_per_feature_and_a_verdict_per_cell() -> None:
    table = rows()
    assert len(table) >= 15
    for row in table:
        assert len(row) == len(COLUMNS), row
        for cell in row[1:5]:
            assert VERDICT.match(cell), f"{row[0]}: {cell!r} is not yes/no/partial/n/a"


@pytest.mark.parametrize("row", rows(), ids=lambda row: row[0][:60])
def test_every_feature_we_claim_is_exercised_by_a_test_that_exists(row: list[str]) -> None:
    ours, tests = row[1], row[5]
    assert ours.startswith("yes"), f"{row[0]}: postmark-kit is expected to do it"
    found = TEST_ID.findall(tests)
    assert found, f"{row[0]}: no test named"
    assert TEST_ID.sub("", tests).strip(" ,") == "", f"{row[0]}: unreadable tests cell"
    for path, name in found:
        file = ROOT / path
        assert file.exists(), f"{row[0]}: {path} does not exist"
        assert name in module_functions(file), f"{row[0]}: {path}::{name} does not exist"


def _annotated(func: object, where: str) -> None:
    signature = inspect.signature(func)  # type: ignore[arg-type]
    for name, param in signature.parameters.items():
        if name in ("self", "cls"):
            continue
        assert param.annotation is not inspect.Parameter.empty, f"{where}({name})"
    assert signature.return_annotation is not inspect.Signature.empty, f"{where} -> ?"


@pytest.mark.usefixtures("django_configured")
def test_public_api_of_the_integrations_is_annotated() -> None:
    assert (ROOT / "postmark_kit" / "py.typed").exists()
    for module_name in ("flask", "django", "logging", "mime"):
        module = importlib.import_module(f"postmark_kit.{module_name}")
        for name in module.__all__:
            value = getattr(module, name)
            where = f"postmark_kit.{module_name}.{name}"
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    target = getattr(member, "__func__", member)
                    if isinstance(member, property):
                        target = member.fget
                    if inspect.isfunction(target):
                        _annotated(target, f"{where}.{attr}")
            elif inspect.isfunction(value):
                _annotated(value, where)
