"""The documentation builds without a single warning (what ``tox -e docs`` runs)."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import postmark_kit.api
import postmark_kit.models

DOCS = Path(__file__).resolve().parent.parent / "docs"

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="sphinx and myst-parser are not installed (pip install -e '.[docs]')",
)


@pytest.mark.slow
@needs_sphinx
def test_sphinx_build_is_warning_free(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-E",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (tmp_path / "html" / "reference.html").exists()


def test_reference_covers_every_public_module() -> None:
    """A new API area or model module must not be left out of the reference."""
    reference = (DOCS / "reference.rst").read_text()
    for package in (postmark_kit.api, postmark_kit.models):
        for module in pkgutil.iter_modules(package.__path__):
            if module.name.startswith("_"):
                continue
            name = f"{package.__name__}.{module.name}"
            assert f".. automodule:: {name}\n" in reference, f"{name} missing from reference.rst"
