"""What the docs promise about the command line is what it does."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from postmark_kit.cli import main
from tests.cli.test_cli_query import run

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def test_quickstart_dry_run_prints_the_documented_json() -> None:
    page = (DOCS / "quickstart.md").read_text()
    command = re.search(r"\.venv/bin/postmark-kit (send --dry-run [^\n]+)", page)
    assert command is not None
    shown = re.search(r"```json\n(.*?)```", page, re.S)
    assert shown is not None
    result = run(*shlex.split(command.group(1)))
    assert result.exit_code == 0, result.output
    assert result.stdout == shown.group(1)
    assert json.loads(result.stdout)["TextBody"] == "Hi there"


def test_documented_bash_completion_script_is_generated() -> None:
    assert "_POSTMARK_KIT_COMPLETE=bash_source postmark-kit" in (DOCS / "cli.md").read_text()
    runner = CliRunner(env={"_POSTMARK_KIT_COMPLETE": "bash_source"})
    result = runner.invoke(main, [], prog_name="postmark-kit")
    assert result.exit_code == 0
    assert "_postmark_kit_completion()" in result.stdout
    assert "complete -o nosort -F _postmark_kit_completion postmark-kit" in result.stdout


def test_the_query_commands_are_documented() -> None:
    page = (DOCS / "cli.md").read_text()
    for name in ("send", "messages", "export", "stats"):
        assert name in main.commands
        assert f"\n## {name}\n" in page, name
