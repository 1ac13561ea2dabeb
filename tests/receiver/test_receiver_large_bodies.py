"""A large inbound message held once, as text: what plugins, the journal and the store get.

The memory figures are measured by ``python -m bench.inbound_memory`` (never
timed or measured here); these tests pin what the change must keep: the exact
bytes posted reach every plugin, the journal, a replay and the event store,
in every dispatch mode, ASCII or not.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from postmark_kit import hookimpl
from postmark_kit.plugins import EventStore
from postmark_kit.receiver import PostmarkReceiver, Webhook
from postmark_kit.receiver.journal import JournalDispatcher, WebhookJournal
from tests.conftest import load_webhook
from tests.receiver import _receiver_support
from tests.receiver._receiver_support import Recorder, post, serve_wsgi

clean_env = _receiver_support.clean_env
make_app = _receiver_support.make_app
store_path = _receiver_support.store_path

INBOUND = load_webhook("inbound")


#: Over every size where the handling of a body changes: the store's and the
#: journal's 256 KiB pieces (several, the last one partial) and the 1 MiB
#: pieces of ``Webhook.iter_body``.  Twice that moved 2 MB a dozen times per
#: test for no path more.
LARGE = 1_200_000


def big_body(text: str = "", size: int = LARGE, message_id: str = "big-1") -> bytes:
    """An inbound message of about ``size`` bytes, as Postmark posts it (raw UTF-8)."""
    attachment = {
        "Name": "a.bin",
        "Content": "QUJD" * (size // 4),
        "ContentType": "application/octet-stream",
        "ContentLength": size * 3 // 4,
    }
    payload = {**INBOUND, "MessageID": message_id, "Attachments": [attachment]}
    if text:
        payload["TextBody"] = text
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


#: ASCII; Latin-1 (1 byte per character as text); a BMP character; beyond the BMP.
TEXTS = ["plain", "café", "it\u2019s", "ok 😀"]


class BodyKeeper:
    """Keeps what each plugin call saw of the body (not the Webhook: it is the test's proof)."""

    plugin_name = "body-keeper"

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, str, int, bytes]] = []

    @hookimpl
    def postmark_inbound(self, webhook: Webhook) -> None:
        body = webhook.body
        assert isinstance(body, bytes)
        # Pieces of a prime size, aligned with nothing (7 bytes cost 70 ms a body).
        pieces = b"".join(webhook.iter_body(65_537))
        self.seen.append((body, webhook.text, webhook.body_size, pieces))


@pytest.mark.parametrize("text", TEXTS)
def test_webhook_body_is_bytes_whether_built_from_text_or_bytes(text: str) -> None:
    raw = big_body(text, size=4096)
    common = {"payload": {}, "dedupe_key": "k", "kind": "inbound", "received_at": datetime.now(UTC)}
    from_text = Webhook(body=raw.decode("utf-8"), **common)
    from_bytes = Webhook(body=raw, **common)
    for webhook in (from_text, from_bytes):
        assert webhook.body == raw and isinstance(webhook.body, bytes)
        assert webhook.text == raw.decode("utf-8")
        assert webhook.body_size == len(raw)
        assert b"".join(webhook.iter_body(1000)) == raw
        assert attrs.evolve(webhook, kind="x").body == raw
    assert from_text == from_bytes  # the same body, however it is held
    assert "body" not in repr(from_text)


MODES = ["inline", "journal", "journal-worker"]


def _every_mode_and_text() -> list[Any]:
    """Every mode with every text; the inner loop keeps a diagonal that has each of both.

    Each case moves the body about a dozen times (0.1 s of CPU): the other
    eight run with the slow tests.
    """
    inner = {(text, MODES[min(i, len(MODES) - 1)]) for i, text in enumerate(TEXTS)}
    return [
        pytest.param(text, mode, marks=() if (text, mode) in inner else pytest.mark.slow)
        for mode in MODES
        for text in TEXTS
    ]


@pytest.mark.parametrize(("text", "mode"), _every_mode_and_text())
def test_a_large_inbound_reaches_plugins_and_the_store_byte_for_byte(
    make_app: Any, tmp_path: Path, mode: str, text: str
) -> None:
    keeper = BodyKeeper()
    raw = big_body(text)
    app = make_app(
        {
            "POSTMARK_DISPATCH": mode.split("-")[0],
            "POSTMARK_JOURNAL_WORKER": mode == "journal-worker",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_MAX_BODY_BYTES": 4_000_000,
        },
        plugins=[keeper],
    )
    answer = post(app.test_client(), raw)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    dispatcher = PostmarkReceiver.state_for(app).dispatcher
    if isinstance(dispatcher, JournalDispatcher):  # its worker thread, or this one
        deadline, delay = time.monotonic() + 30, 0.0005
        while dispatcher.journal.counts()["done"] < 1:
            assert time.monotonic() < deadline, dispatcher.journal.counts()
            if dispatcher.drain() == 0:  # the worker has it: a short pause, then look again
                time.sleep(delay)
                delay = min(delay * 2, 0.005)
    assert keeper.seen == [(raw, raw.decode("utf-8"), len(raw), raw)]
    store = EventStore(tmp_path / "events.sqlite3", create=False)
    try:
        stored = store.get_by_key(answer.headers["Postmark-Kit-Key"])
        assert stored is not None and stored.raw == raw.decode("utf-8")
        assert stored.payload["TextBody"] == json.loads(raw)["TextBody"]
        # Text for SQL too (json_extract works on it, as on every stored event).
        with sqlite3.connect(tmp_path / "events.sqlite3") as db:
            typ, subject = db.execute(
                "SELECT typeof(raw), json_extract(raw, '$.TextBody') FROM events"
            ).fetchone()
        assert (typ, subject) == ("text", json.loads(raw)["TextBody"])
    finally:
        store.close()


def test_a_large_inbound_through_a_real_server(make_app: Any) -> None:
    """Read off a socket (werkzeug's server), not the test client's in-memory stream."""
    import http.client
    from base64 import b64encode

    keeper = BodyKeeper()
    app = make_app(
        {"POSTMARK_LOAD_ENTRYPOINTS": False, "POSTMARK_MAX_BODY_BYTES": 4_000_000},
        plugins=[keeper],
    )
    raw = big_body("it\u2019s")
    token = b64encode(":".join(_receiver_support.AUTH).encode()).decode()
    with serve_wsgi(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                "/postmark/webhook",
                body=raw,
                headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
            )
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    assert keeper.seen == [(raw, raw.decode("utf-8"), len(raw), raw)]


class FailsOnce:
    plugin_name = "fails-once"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    @hookimpl
    def postmark_inbound(self, webhook: Webhook) -> None:
        self.bodies.append(webhook.body)
        if len(self.bodies) == 1:
            raise RuntimeError("down")


def test_journal_keeps_replays_and_drops_a_large_body_exactly(
    make_app: Any, tmp_path: Path
) -> None:
    plugin = FailsOnce()
    raw = big_body("café \u2019 😀")
    path = tmp_path / "journal.sqlite3"
    app = make_app(
        {
            "POSTMARK_DISPATCH": "journal",
            "POSTMARK_JOURNAL": str(path),
            "POSTMARK_JOURNAL_WORKER": False,
            "POSTMARK_JOURNAL_MAX_ATTEMPTS": 1,
            "POSTMARK_EVENT_STORE": "",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_MAX_BODY_BYTES": 4_000_000,
        },
        plugins=[plugin],
    )
    client = app.test_client()
    assert post(client, raw).status_code == 200
    # A retry of the same message is a duplicate, not a second copy of the body.
    assert post(client, raw).headers["Postmark-Kit-Duplicate"] == "true"
    dispatcher = PostmarkReceiver.state_for(app).dispatcher
    assert isinstance(dispatcher, JournalDispatcher)
    other = WebhookJournal(path, create=False)  # another process reading the file
    try:
        entry = other.get(1)
        assert entry is not None and entry.body == raw
        assert other.find(entry.dedupe_key).body == raw  # type: ignore[union-attr]
    finally:
        other.close()
    dispatcher.drain()
    assert dispatcher.journal.counts()["dead"] == 1
    assert dispatcher.journal.replay([1]) == [1]
    dispatcher.drain()
    assert plugin.bodies == [raw, raw]  # the replay got the very bytes posted
    assert dispatcher.journal.get(1).webhook().body == raw  # type: ignore[union-attr]

    # With an event store the journal lets the body go once done: none left behind.
    keep = make_app(
        {
            "POSTMARK_DISPATCH": "journal",
            "POSTMARK_JOURNAL": str(tmp_path / "kept.sqlite3"),
            "POSTMARK_JOURNAL_WORKER": False,
            "POSTMARK_EVENT_STORE": str(tmp_path / "events.sqlite3"),
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_MAX_BODY_BYTES": 4_000_000,
        }
    )
    assert post(keep.test_client(), raw).status_code == 200
    journal = PostmarkReceiver.state_for(keep).dispatcher.journal  # type: ignore[attr-defined]
    PostmarkReceiver.state_for(keep).dispatcher.drain()  # type: ignore[attr-defined]
    done = journal.get(1)
    assert done is not None and (done.state, done.body) == ("done", b"")
    assert journal.replay([1]) == []  # nothing left to replay from (the store has it)
    assert journal.prune(-1) == 1
    with sqlite3.connect(tmp_path / "kept.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM journal_bodies").fetchone() == (0,)


def test_pruning_takes_a_large_body_with_its_event(make_app: Any, tmp_path: Path) -> None:
    raw = big_body()
    app = make_app(
        {
            "POSTMARK_DISPATCH": "journal",
            "POSTMARK_JOURNAL": str(tmp_path / "journal.sqlite3"),
            "POSTMARK_JOURNAL_WORKER": False,
            "POSTMARK_EVENT_STORE": "",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_MAX_BODY_BYTES": 4_000_000,
        }
    )
    assert post(app.test_client(), raw).status_code == 200
    dispatcher = PostmarkReceiver.state_for(app).dispatcher
    assert isinstance(dispatcher, JournalDispatcher)
    dispatcher.drain()
    assert dispatcher.journal.get(1).body == raw  # type: ignore[union-attr]  # kept: no store
    assert dispatcher.journal.prune(-1) == 1
    assert dispatcher.journal.get(1) is None
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM journal_bodies").fetchone() == (0,)


def test_a_journal_from_before_the_bodies_table_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = WebhookJournal(path)
    raw = big_body(size=4096)
    webhook = Webhook(
        body=raw,
        payload=json.loads(raw),
        dedupe_key="k",
        kind="inbound",
        received_at=datetime.now(UTC),
    )
    assert journal.append(webhook) == 1
    journal.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE journal_bodies")  # as an older version wrote it
    old = WebhookJournal(path, create=False)  # the CLI opens journals this way
    try:
        assert old.get(1).body == raw  # type: ignore[union-attr]
        assert old.replay([1]) == [1]
    finally:
        old.close()
    again = WebhookJournal(path)  # a receiver opening it adds the table
    try:
        assert again.get(1).body == raw  # type: ignore[union-attr]
    finally:
        again.close()


@pytest.mark.parametrize("text", TEXTS)
def test_celery_task_message_carries_the_body_exactly(text: str) -> None:
    celery_dispatch = pytest.importorskip("postmark_kit.receiver.celery_dispatch")
    raw = big_body(text)
    webhook = Webhook(
        body=raw.decode("utf-8"),
        payload=json.loads(raw),
        dedupe_key="inbound:big-1",
        kind="inbound",
        received_at=datetime.now(UTC),
    )
    message = json.loads(json.dumps(celery_dispatch.webhook_message(webhook)))  # over the wire
    _event, again = celery_dispatch.message_webhook(message)
    assert again.body == raw and again.text == raw.decode("utf-8")
    assert again.payload == json.loads(raw)


def test_recorder_plugins_still_get_bytes(make_app: Any) -> None:
    """An existing plugin that keeps ``webhook.body`` (bytes) works unchanged."""
    recorder = Recorder()
    app = make_app({"POSTMARK_LOAD_ENTRYPOINTS": False}, plugins=[recorder])
    raw = json.dumps(INBOUND).encode()
    assert post(app.test_client(), raw).status_code == 200
    webhook = recorder.calls[0][3]
    assert webhook.body == raw and webhook.body.decode("utf-8") == webhook.text
