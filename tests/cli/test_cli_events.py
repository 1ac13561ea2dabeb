# ruff: noqa: F811
# Fixtures come from _receiver_support; as parameters they "redefine" the imports.
"""``events``: options after every subcommand, and two id spaces each labelled as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit.cli import main
from postmark_kit.receiver import PostmarkReceiver
from tests.conftest import load_webhook
from tests.receiver._receiver_support import clean_env, make_app, post, store_path  # noqa: F401
from tests.receiver.test_receiver_journal import Flaky, drain_all, journaled


def test_store_goes_after_every_subcommand(make_app: Any, store_path: Path) -> None:
    client = make_app().test_client()
    post(client, load_webhook("bounce"))
    post(client, load_webhook("delivery"))
    runner = CliRunner(env={"POSTMARK_EVENT_STORE": None})
    after = runner.invoke(main, ["events", "list", "--store", str(store_path), "--json"])
    assert after.exit_code == 0, after.output
    before = runner.invoke(main, ["events", "--store", str(store_path), "list", "--json"])
    assert after.stdout == before.stdout and len(after.stdout.splitlines()) == 2
    lines = runner.invoke(main, ["events", "list", "--store", str(store_path), "--jsonl"])
    assert lines.stdout == after.stdout
    bounce_id = next(
        json.loads(line)["id"] for line in after.stdout.splitlines() if "bounce" in line
    )
    shown = runner.invoke(main, ["events", "show", str(bounce_id), "--store", str(store_path)])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == load_webhook("bounce")
    # The subcommand's option wins over the group's.
    other = runner.invoke(
        main, ["events", "--store", "elsewhere.db", "list", "--store", str(store_path)]
    )
    assert other.exit_code == 0 and other.stdout.startswith("STORE ID")


def test_store_ids_and_journal_ids_are_labelled(make_app: Any, tmp_path: Path) -> None:
    app = journaled(make_app, tmp_path, plugins=[Flaky("broken", failures=99)],
                    POSTMARK_JOURNAL_MAX_ATTEMPTS=1)  # fmt: skip
    post(app.test_client(), load_webhook("bounce"))
    drain_all(app)
    journal = str(tmp_path / "journal.sqlite3")
    runner = CliRunner()
    failed = runner.invoke(main, ["events", "failed", "--journal", journal])
    assert failed.exit_code == 0, failed.output
    assert failed.stdout.split()[:2] == ["JOURNAL", "ID"]
    assert "--id JOURNAL_ID" in runner.invoke(main, ["events", "replay", "--help"]).stdout
    assert "STORE_ID" in runner.invoke(main, ["events", "show", "--help"]).stdout
    # A journal id given to `events show` says which ids it takes.
    store = tmp_path / "events.sqlite3"
    post(make_app({"POSTMARK_EVENT_STORE": str(store)}).test_client(), load_webhook("open"))
    wrong = runner.invoke(main, ["events", "show", "99", "--store", str(store)])
    assert wrong.exit_code == 1
    assert "no event 99 in the event store" in wrong.stderr and "JOURNAL IDs" in wrong.stderr


def test_replay_now_says_what_happened_when_it_fails_again(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = journaled(make_app, tmp_path, plugins=[Flaky("broken", failures=99)],
                    POSTMARK_JOURNAL_MAX_ATTEMPTS=1)  # fmt: skip
    post(app.test_client(), load_webhook("bounce"))
    drain_all(app)
    PostmarkReceiver.shutdown(app)
    monkeypatch.setenv("POSTMARK_PLUGINS", "tests.cli._replay_plugins:AlwaysFails")
    monkeypatch.setenv("POSTMARK_LOAD_ENTRYPOINTS", "false")
    monkeypatch.setenv("POSTMARK_EVENT_STORE", "")
    monkeypatch.setenv("POSTMARK_JOURNAL_MAX_ATTEMPTS", "1")
    journal = str(tmp_path / "journal.sqlite3")
    result = CliRunner().invoke(main, ["events", "replay", "--journal", journal, "--all", "--now"])
    assert result.exit_code == 0, result.output
    assert "queued 1 event(s) for dispatch" in result.stdout
    assert (
        "dispatched 1 event(s) now: 0 succeeded, 1 failed again; "
        "1 dead letter(s) left (`events failed`)" in result.stdout
    )
    assert "pending (retry due later)" not in result.stdout
