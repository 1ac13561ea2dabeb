"""An installed wheel carries the webhook payloads the factories are built from."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from postmark_kit.testing import payloads
from tests.conftest import ROOT


@pytest.mark.slow  # builds a wheel (pip subprocess)
def test_the_wheel_ships_every_documented_payload(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "postmark_kit", source / "postmark_kit", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("postmark_kit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "postmark_kit/py.typed" in names
    for kind in payloads.KINDS:
        assert f"postmark_kit/testing/payloads/{kind}.json" in names, kind
    # The console's templates and stylesheet (package data too).
    assert "postmark_kit/receiver/static/console.css" in names
    for page in ("base", "login", "overview", "events", "event", "failures", "replay"):
        assert f"postmark_kit/receiver/templates/console/{page}.html" in names, page
