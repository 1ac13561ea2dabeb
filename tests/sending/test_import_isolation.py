"""``import postmark_kit`` stays free of Flask and Django: the integrations load only when asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

# fresh interpreters (subprocesses): run by the full suite; skipped by -m "not slow"
# (tests/test_imports.py keeps one such check in the inner loop)
pytestmark = pytest.mark.slow


def imported_after(statement: str) -> set[str]:
    code = (
        f"import sys; {statement}; "
        "print(','.join(m for m in ('flask', 'django') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(filter(None, out.stdout.strip().split(",")))


def test_the_package_imports_neither_flask_nor_django() -> None:
    assert imported_after("import postmark_kit; from postmark_kit import Email") == set()
    assert imported_after("import postmark_kit.mime, postmark_kit.logging") == set()


def test_each_integration_imports_only_its_framework() -> None:
    assert "django" not in imported_after("import postmark_kit.flask")
    assert "flask" not in imported_after("import postmark_kit.django")
