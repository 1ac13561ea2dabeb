"""Write the settings tables of the docs from ``postmark_kit.settings``.

A page marks where a table goes::

    <!-- settings-table: journal -->
    ...generated table...
    <!-- end settings-table -->

The marker names the components whose settings are listed (``all``: every
setting, with a "Read by" column).  Run ``python docs/settings_tables.py`` after
changing a declaration; ``--check`` only reports stale pages (exit status 1),
as tests/test_settings.py does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from postmark_kit.settings import markdown_table  # noqa: E402

BLOCK = re.compile(
    r"(?P<open><!-- settings-table: (?P<components>[a-z ]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end settings-table -->)",
    re.DOTALL,
)


def render(text: str) -> str:
    """``text`` with every marked table regenerated."""

    def table(match: re.Match[str]) -> str:
        components = match["components"].split()
        if components == ["all"]:
            body = markdown_table(readers=True)
        else:
            body = markdown_table(*components)
        return match["open"] + body + match["close"]

    return BLOCK.sub(table, text)


def pages(docs: Path = DOCS) -> dict[Path, str]:
    """Every page with a marked table -> its text as generated."""
    found = {}
    for path in sorted(docs.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if BLOCK.search(text):
            found[path] = render(text)
    return found


def stale(docs: Path = DOCS) -> list[Path]:
    """Pages whose tables differ from the declarations."""
    return [p for p, text in pages(docs).items() if p.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        old = stale()
        for path in old:
            print(f"{path.name}: settings table out of date (run python docs/settings_tables.py)")
        return 1 if old else 0
    for path, text in pages().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
