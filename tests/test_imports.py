"""What importing costs: the client never loads Flask, pluggy or click.

Each check runs in a fresh interpreter (``sys.modules`` of the test process
already holds everything) and lists the heavy packages it found loaded.
"""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from postmark_kit.cli import LAZY_COMMANDS, main

HEAVY = ("flask", "werkzeug", "pluggy", "click", "jinja2", "celery")


def _loaded_after(code: str) -> set[str]:
    found = f"{{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}"
    probe = f"{code}\nimport sys\nprint('\\n' + ' '.join(sorted({found})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    )
    return set(out.stdout.splitlines()[-1].split()) if out.stdout.strip() else set()


def test_import_postmark_kit_loads_no_flask_pluggy_or_click() -> None:
    assert _loaded_after("import postmark_kit") == set()


@pytest.mark.slow  # a fresh interpreter; the first test stays in the inner loop
def test_the_client_and_its_models_load_no_flask_pluggy_or_click() -> None:
    code = (
        "from postmark_kit import ServerClient, Email, events\n"
        "ServerClient('t').close()\n"
        "from postmark_kit.events import parse_event"
    )
    assert _loaded_after(code) == set()


@pytest.mark.slow  # a fresh interpreter; the first test stays in the inner loop
def test_hookimpl_is_still_importable_from_the_package() -> None:
    assert _loaded_after("from postmark_kit import hookimpl") == {"pluggy"}


@pytest.mark.slow  # a fresh interpreter; the first test stays in the inner loop
def test_the_pytest_plugin_loads_no_flask_until_a_fixture_is_used() -> None:
    # pytest itself brings pluggy.
    assert _loaded_after("import postmark_kit.testing.pytest_plugin") <= {"pluggy"}
    assert "flask" in _loaded_after("from postmark_kit.testing import FakePostmark")


@pytest.mark.slow  # a fresh interpreter; the first test stays in the inner loop
def test_a_cli_command_that_needs_no_receiver_loads_no_flask() -> None:
    code = (
        "from postmark_kit.cli import main\n"
        "try:\n"
        "    main(['send', '--dry-run', '--from', 'a@example.com', '--to', 'b@example.com',"
        " '--subject', 's', '--text', 't'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code"
    )
    assert _loaded_after(code) == {"click"}


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_every_lazy_command_resolves_to_a_click_command(name: str) -> None:
    ctx = click.Context(main)
    assert name in main.list_commands(ctx)
    command = main.get_command(ctx, name)
    assert isinstance(command, click.Command)
    assert command.name == name
