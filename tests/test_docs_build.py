"""The documentation builds without a single warning (what ``tox -e docs`` runs)."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import postmark_kit

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
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (tmp_path / "html" / "reference.html").exists()
    for page in ("client", "receiver", "events", "hookspecs", "plugins", "testing", "payloads"):
        assert (tmp_path / "html" / "reference" / f"{page}.html").exists(), page


#: Modules deliberately not in the API reference, with the reason.
NOT_REFERENCE = {
    "postmark_kit.cli": "the command line, documented in docs/cli.md",
    "postmark_kit.receiver.cli": "the serve/events commands, documented in docs/cli.md",
    "postmark_kit.cli_commands": "templates, bounces, webhooks... commands: docs/cli.md",
    "postmark_kit.testing.cli": "the fake-server command, documented in docs/cli.md",
    "postmark_kit.demo": "the demo command, documented in docs/quickstart.md",
    # FakePostmark wraps it; its public names are documented from postmark_kit.testing.
    "postmark_kit.testing.app": "the simulator's Flask app (internals of FakePostmark)",
    "postmark_kit.testing.server": "FakePostmark, documented from postmark_kit.testing",
    "postmark_kit.testing.simulator": "the simulator's state, rules and blueprints "
    "(internals of FakePostmark; its public names are documented from postmark_kit.testing)",
}


def _public_modules() -> list[str]:
    found = [postmark_kit.__name__]
    for module in pkgutil.walk_packages(postmark_kit.__path__, "postmark_kit."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            found.append(module.name)
    return found


def test_reference_covers_every_public_module() -> None:
    """A new module (an API area, a receiver part, an integration) must not be left out."""
    pages = [DOCS / "reference.rst", *sorted((DOCS / "reference").glob("*.rst"))]
    reference = "".join(page.read_text() for page in pages)
    missing = []
    for name in _public_modules():
        exempt = any(name == n or name.startswith(n + ".") for n in NOT_REFERENCE)
        if not exempt and f".. automodule:: {name}\n" not in reference:
            missing.append(name)
    assert not missing, f"modules missing from docs/reference/*.rst: {missing}"
    assert "postmark_kit.api.bounces" in _public_modules()  # the walk found the areas


def test_reference_is_one_page_per_area() -> None:
    """No single giant page: each module is documented on exactly one page."""
    seen: dict[str, str] = {}
    for page in sorted((DOCS / "reference").glob("*.rst")):
        for line in page.read_text().splitlines():
            if line.startswith(".. automodule:: "):
                name = line.split(":: ", 1)[1].strip()
                assert name not in seen, f"{name} on both {seen[name]} and {page.name}"
                seen[name] = page.name
    assert ".. automodule::" not in (DOCS / "reference.rst").read_text()
    assert len({*seen.values()}) >= 20
