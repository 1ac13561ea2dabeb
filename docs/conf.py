"""Sphinx configuration for the postmark-kit documentation.

Pages are Markdown (MyST) or reStructuredText; the API reference is autodoc
over the package's plain docstrings.  Build with ``tox -e docs`` (warnings are
errors).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
# Document the checkout, even when an older postmark-kit is installed.
sys.path.insert(0, str(ROOT))

from postmark_kit import __version__  # noqa: E402

project = "postmark-kit"
author = "postmark-kit contributors"
copyright = "postmark-kit contributors"  # noqa: A001 - Sphinx's name
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Markdown: heading anchors so pages can link to ``page.md#section``.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

#: Pages written alongside other parts of the project (receiver, simulator,
#: benchmarks, ...).  The index lists them; one that does not exist (yet) is
#: left out of the toctree instead of failing the build.  A page that exists
#: but is in no toctree still fails it ("document isn't included").
OPTIONAL_PAGES = frozenset(
    {"receiving", "plugins", "deploying", "testing", "reliability", "performance", "errors"}
)


def _drop_missing_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != root_doc:
        return
    srcdir = Path(app.srcdir)
    kept = []
    for line in source[0].splitlines(keepends=True):
        entry = line.strip()
        if entry in OPTIONAL_PAGES and not any(
            (srcdir / f"{entry}{suffix}").exists() for suffix in source_suffix
        ):
            continue
        kept.append(line)
    source[0] = "".join(kept)


def setup(app: Sphinx) -> None:
    app.connect("source-read", _drop_missing_pages)


autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autoclass_content = "class"

html_theme = "alabaster"
html_title = f"postmark-kit {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Typed client, webhook receiver and plugins for Postmark",
    "fixed_sidebar": True,
}

# ``Webhook`` is two public classes (the webhook configuration model,
# ``postmark_kit.models.webhooks.Webhook``, and the received request,
# ``postmark_kit.webhook.Webhook``); a bare annotation naming one is ambiguous
# to Sphinx.  Missing references still fail the build.
suppress_warnings = ["ref.python"]
