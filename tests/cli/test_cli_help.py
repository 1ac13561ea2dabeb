"""Every command's --help shows an example; docs/cli.md shows every command in use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from postmark_kit.cli import main

PAGE = (Path(__file__).resolve().parent.parent.parent / "docs" / "cli.md").read_text()


def _walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(main))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "postmark-kit")
def test_help_shows_an_example_line(path: tuple[str, ...]) -> None:
    env = {"POSTMARK_FAKE_CONTROL": "http://127.0.0.1:1"}  # `fake` requires it before --help
    result = CliRunner(env=env).invoke(main, [*path, "--help"], prog_name="postmark-kit")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    examples = [
        line.strip()
        for line in result.stdout.splitlines()
        if line.strip().startswith(" ".join(("postmark-kit", *path[:1])))
    ]
    assert examples, result.stdout


@pytest.mark.parametrize("path", [p for p in COMMANDS if p], ids=" ".join)
def test_cli_page_shows_every_command(path: tuple[str, ...]) -> None:
    if path[0] in ("fake", "render-template", "fake-server"):
        pytest.skip("the simulator's commands: documented with the simulator (testing.md)")
    assert " ".join(("postmark-kit", *path)) in PAGE, path
