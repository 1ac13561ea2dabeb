"""The SQLite event store: raw JSON kept, Postmark retries deduplicated, queries, the CLI."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit.cli import main
from postmark_kit.events import DeliveryEvent, parse_event
from postmark_kit.plugins import EventStore
from postmark_kit.plugins.store import StoreError
from tests.conftest import load_webhook
from tests.receiver._receiver_support import KINDS, clean_env, make_app, post, store_path  # noqa: F401


def test_every_type_is_stored_with_its_raw_json(make_app: Any, store_path: Path) -> None:
    client = make_app().test_client()
    bodies = {}
    for name in KINDS:
        bodies[name] = json.dumps(load_webhook(name), indent=1)  # exact bytes are kept
        assert post(client, bodies[name]).status_code == 200
    store = EventStore(store_path, create=False)
    rows = store.query(newest_first=False)
    assert [r.kind for r in rows] == list(KINDS)
    for row in rows:
        assert row.raw == bodies[row.kind]
        assert row.event() == parse_event(load_webhook(row.kind))
    inbound = store.query(kind="inbound")[0]
    assert inbound.record_type == "Inbound"
    assert inbound.recipient == "yourhash+SampleHash@inbound.postmarkapp.com"
    bounce = store.query(kind="bounce")[0]
    assert bounce.recipient == "john@example.com" and bounce.record_type == "Bounce"
    store.close()


def test_postmark_retries_are_stored_once(make_app: Any, store_path: Path) -> None:
    client = make_app().test_client()
    trace = {"X-PM-Webhook-Trace-Id": "trace-1"}
    for remaining in ("3", "2"):
        response = post(
            client, load_webhook("open"), headers={**trace, "X-PM-Retries-Remaining": remaining}
        )
        assert response.status_code == 200
    # No trace id: the type-specific key (MessageID + Recipient + DeliveredAt) dedupes.
    for _ in range(2):
        post(client, load_webhook("delivery"))
    # A different delivery to the same message is a different event.
    post(client, {**load_webhook("delivery"), "Recipient": "jane@example.com"})
    store = EventStore(store_path, create=False)
    assert store.count() == 3  # the open once; john's delivery once; jane's delivery
    assert store.count(kind="open") == 1
    assert store.get_by_key("trace:trace-1") is not None
    assert store.count(kind="delivery") == 2
    store.close()


def test_concurrent_writes_from_threads(tmp_path: Path) -> None:
    from postmark_kit.receiver import Webhook

    store = EventStore(tmp_path / "s.sqlite3")
    base = load_webhook("delivery")

    def write(worker: int) -> None:
        for i in range(50):
            payload = {**base, "Recipient": f"r{i}@example.com"}  # workers collide on purpose
            event = parse_event(payload)
            store.add(
                event,
                Webhook(
                    body=json.dumps(payload).encode(),
                    payload=payload,
                    dedupe_key=f"k{i}",
                    kind="delivery",
                    received_at=datetime.now(UTC),
                ),
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 50
    store.close()


def test_query_filters(make_app: Any, store_path: Path) -> None:
    client = make_app().test_client()
    for name in KINDS:
        post(client, load_webhook(name))
    store = EventStore(store_path, create=False)
    assert {r.kind for r in store.query(recipient="JOHN@example.com")} == {
        "bounce",
        "delivery",
        "open",
        "click",
        "spam_complaint",
    }
    assert [r.kind for r in store.query(message_id="73e6d360-66eb-11e1-8e72-a8904824019b")] == [
        "inbound"
    ]
    assert len(store.query(limit=2)) == 2
    assert store.query(limit=1)[0].kind == "inbound"  # newest first
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.count(since=future) == 0
    assert store.count(until=future) == len(KINDS)
    assert isinstance(store.query(kind="delivery")[0].event(), DeliveryEvent)
    store.close()


def test_a_new_store_has_the_schema_an_upgraded_one_gets(tmp_path: Path) -> None:
    """A new file is written in one transaction; an old one is upgraded: the same tables."""
    import sqlite3

    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # the first release's table, without tag/server_id
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, dedupe_key TEXT NOT NULL,"
            " kind TEXT NOT NULL, record_type TEXT, message_id TEXT, recipient TEXT,"
            " trace_id TEXT, received_at TEXT NOT NULL, raw TEXT NOT NULL)"
        )
    schemas = []
    for path in (old, tmp_path / "new.sqlite3"):
        EventStore(path).close()
        with sqlite3.connect(path) as db:
            names = db.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
            columns = db.execute("SELECT name, type FROM pragma_table_info('events')").fetchall()
        schemas.append((sorted(names), sorted(columns)))
    assert schemas[0] == schemas[1]
    assert ("index", "events_tag_server", "events") in schemas[1][0]
    assert ("table", "event_hours", "event_hours") in schemas[1][0]
    again = EventStore(tmp_path / "new.sqlite3")  # opening a store again changes nothing
    again.close()


def test_open_missing_store_for_reading_fails(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        EventStore(tmp_path / "nope.sqlite3", create=False)


def test_store_can_be_disabled(make_app: Any, store_path: Path) -> None:
    app = make_app({"POSTMARK_EVENT_STORE": ""})
    assert post(app.test_client(), load_webhook("bounce")).status_code == 200
    assert not store_path.exists()


def test_cli_events_table_and_json(make_app: Any, store_path: Path) -> None:
    client = make_app().test_client()
    for name in ("bounce", "delivery", "inbound"):
        post(client, load_webhook(name))
    runner = CliRunner()
    result = runner.invoke(main, ["events", "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "STORE", "ID", "RECEIVED", "KIND", "TYPE", "RECIPIENT", "MESSAGE", "ID"
    ]  # fmt: skip
    assert [line.split()[3] for line in lines[1:]] == ["inbound", "delivery", "bounce"]

    result = runner.invoke(
        main, ["events", "--store", str(store_path), "list", "--kind", "bounce", "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["kind"] == "bounce" and row["payload"] == load_webhook("bounce")

    result = runner.invoke(main, ["events", "--store", str(store_path), "show", str(row["id"])])
    assert json.loads(result.output) == load_webhook("bounce")

    missing = runner.invoke(main, ["events", "--store", str(store_path), "show", "999"])
    assert missing.exit_code == 1 and "no event 999" in missing.output


def test_cli_events_without_a_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["events", "--store", str(tmp_path / "x.sqlite3")])
    assert result.exit_code == 1
    assert "no event store" in result.output


def test_cli_events_store_from_environment(
    make_app: Any, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(make_app().test_client(), load_webhook("click"))
    monkeypatch.setenv("POSTMARK_EVENT_STORE", str(store_path))
    result = CliRunner().invoke(
        main, ["events", "list", "--json", "--recipient", "john@example.com"]
    )
    assert result.exit_code == 0
    assert json.loads(result.output)["kind"] == "click"
