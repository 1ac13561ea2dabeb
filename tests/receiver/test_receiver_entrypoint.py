"""A third-party plugin distribution, pip-installed, is discovered through its entry point."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

import csv
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postmark_kit.receiver import PostmarkReceiver
from tests.conftest import ROOT, load_webhook
from tests.receiver._receiver_support import clean_env, make_app, post, store_path  # noqa: F401

DIST = ROOT / "plugins" / "postmark-kit-csv-export"

# pip-installs the plugin (a subprocess, seconds): run by the full suite; skipped by -m "not slow"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-install the example plugin into a private directory and put it on sys.path."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(DIST, source)  # build in a copy: no build/ or egg-info in the repo
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("postmark_kit_csv_export")]:
            del sys.modules[name]


def test_entry_point_is_visible(installed_plugin: Path) -> None:
    eps = importlib.metadata.entry_points(group="postmark_kit")
    assert "postmark_kit_csv_export.plugin" in {ep.value for ep in eps}


def test_installed_plugin_is_discovered_and_called(
    installed_plugin: Path, make_app: Any, tmp_path: Path
) -> None:
    out = tmp_path / "suppressed.csv"
    app = make_app({"POSTMARK_CSV_EXPORT_PATH": str(out)})
    pm = PostmarkReceiver.plugin_manager(app)
    assert any(
        getattr(p, "__name__", "") == "postmark_kit_csv_export.plugin" for p in pm.get_plugins()
    )
    client = app.test_client()
    for name in ("bounce", "delivery", "spam_complaint", "subscription_change"):
        assert post(client, load_webhook(name)).status_code == 200
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["email"], r["reason"]) for r in rows] == [
        ("john@example.com", "HardBounce"),
        ("john@example.com", "SpamComplaint"),
        ("bounced-address@wildbit.com", "HardBounce"),
    ]


def test_entry_points_can_be_turned_off(
    installed_plugin: Path, make_app: Any, tmp_path: Path
) -> None:
    out = tmp_path / "suppressed.csv"
    app = make_app({"POSTMARK_CSV_EXPORT_PATH": str(out), "POSTMARK_LOAD_ENTRYPOINTS": "false"})
    post(app.test_client(), load_webhook("bounce"))
    assert not out.exists()
