"""The pytest11 plugin costs nothing until a fixture is used: no Flask, no simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# a user's suite in a fresh pytest subprocess: run by the full suite; skipped by -m "not slow"
pytestmark = pytest.mark.slow

HEAVY = (
    "flask",
    "werkzeug",
    "postmark_kit.testing.app",
    "postmark_kit.testing.server",
    "postmark_kit.testing.hooks",
    "postmark_kit.testing.inprocess",
    "postmark_kit.receiver",
)

USER_SUITE = """
import json, sys

HEAVY = {heavy!r}


def loaded():
    return sorted(m for m in HEAVY if m in sys.modules)


def test_a_plain_test(record_property):
    assert "postmark_kit.testing.pytest_plugin" in sys.modules  # the plugin is active
    with open({out!r}, "a") as f:
        f.write(json.dumps(["plain", loaded()]) + "\\n")


def test_zz_uses_the_fixture(postmark_fake):
    with open({out!r}, "a") as f:
        f.write(json.dumps(["fixture", loaded()]) + "\\n")
"""


def test_plugin_imports_flask_and_the_simulator_only_on_first_use(tmp_path: Path) -> None:
    out = tmp_path / "loaded.jsonl"
    suite = tmp_path / "test_user_suite.py"
    suite.write_text(USER_SUITE.format(heavy=HEAVY, out=str(out)))
    # A fresh interpreter, as in a user's project: only the installed entry point loads us.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = dict(json.loads(line) for line in out.read_text().splitlines())
    assert seen["plain"] == []
    assert {"flask", "postmark_kit.testing.server"} <= set(seen["fixture"])
