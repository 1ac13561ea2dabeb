"""Hostile peers (issue 14): forged forwarding headers, absurd headers, huge keys, open receivers.

The gunicorn cases (slow bodies, broken chunked framing) are in
``test_receiver_gunicorn_peers.py``.  Each test failed before this round.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit.cli import main
from postmark_kit.events import MAX_DEDUPE_KEY, dedupe_key, parse_event
from postmark_kit.receiver import ConfigError, PostmarkReceiver, Webhook, create_app
from postmark_kit.receiver.journal import WebhookJournal
from tests.conftest import load_webhook
from tests.receiver import _receiver_support
from tests.receiver._receiver_support import Recorder, post
from tests.receiver.test_receiver_journal import dispatcher_of, drain_all, journaled

clean_env = _receiver_support.clean_env
make_app = _receiver_support.make_app
recorder = _receiver_support.recorder
shared_app = _receiver_support.shared_app
shared_recorder = _receiver_support.shared_recorder
store_path = _receiver_support.store_path

BOUNCE = load_webhook("bounce")
DELIVERY = load_webhook("delivery")
POSTMARK_IP = "3.134.147.250"


def _from(client: Any, peer: str, xff: str | None) -> Any:
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    return post(client, BOUNCE, environ_base={"REMOTE_ADDR": peer}, headers=headers)


# -- X-Forwarded-For only from a trusted proxy ---------------------------------


def test_a_forwarded_header_from_a_peer_that_is_not_a_proxy_is_ignored(
    shared_app: Any, recorder: Recorder
) -> None:
    # Before: with POSTMARK_TRUSTED_PROXIES=1 anyone could send X-Forwarded-For
    # with one of Postmark's addresses and pass the allowlist.
    client = shared_app(
        {"POSTMARK_ALLOWED_IPS": "postmark", "POSTMARK_TRUSTED_PROXIES": "1"}, recorded=True
    ).test_client()
    assert _from(client, "198.51.100.7", POSTMARK_IP).status_code == 403
    assert _from(client, "10.1.2.3", POSTMARK_IP).status_code == 403
    assert recorder.calls == []
    # Through the proxy on this host: the header counts.
    assert _from(client, "127.0.0.1", POSTMARK_IP).status_code == 200
    # Postmark straight to us (no proxy in the way): its own address counts.
    assert _from(client, POSTMARK_IP, None).status_code == 200


def test_trusted_proxies_by_address(shared_app: Any, recorder: Recorder) -> None:
    client = shared_app(
        {"POSTMARK_ALLOWED_IPS": "postmark", "POSTMARK_TRUSTED_PROXIES": "10.0.0.2, 10.9.0.0/16"},
        recorded=True,
    ).test_client()
    assert _from(client, "10.0.0.2", POSTMARK_IP).status_code == 200
    assert recorder.calls[-1][3].remote_addr == POSTMARK_IP
    # Through two trusted proxies: their own entries are skipped.
    assert _from(client, "10.0.0.2", f"{POSTMARK_IP}, 10.9.4.4").status_code == 200
    # A forged entry left of an untrusted one: the untrusted one is the sender.
    assert _from(client, "10.0.0.2", f"{POSTMARK_IP}, 198.51.100.7").status_code == 403
    # Not from a listed proxy: the header is ignored, even from loopback.
    assert _from(client, "10.0.0.3", POSTMARK_IP).status_code == 403
    assert _from(client, "127.0.0.1", POSTMARK_IP).status_code == 403
    assert _from(client, "10.0.0.2", None).status_code == 403


@pytest.mark.parametrize("value", ["two", "10.0.0.300", "-1", "33"])
def test_bad_trusted_proxies_fail_at_startup(make_app: Any, value: str) -> None:
    with pytest.raises(ConfigError, match="POSTMARK_TRUSTED_PROXIES"):
        make_app({"POSTMARK_TRUSTED_PROXIES": value})


# -- absurd headers, bad rows --------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999999999", "1" * 5000])
def test_a_huge_retries_remaining_header_is_treated_as_absent(
    make_app: Any, shared_app: Any, recorder: Recorder, tmp_path: Path, value: str
) -> None:
    # Before: int() took it, SQLite could not store it: a 503, and every other
    # request sharing its group commit failed with it.
    journaled_recorder = Recorder()
    app = journaled(make_app, tmp_path, plugins=[journaled_recorder])
    answer = post(app.test_client(), BOUNCE, headers={"X-PM-Retries-Remaining": value})
    assert answer.status_code == 200
    drain_all(app)
    assert journaled_recorder.calls[0][3].retries_remaining is None
    inline = shared_app(recorded=True)
    answer = post(inline.test_client(), DELIVERY, headers={"X-PM-Retries-Remaining": value})
    assert answer.status_code == 200
    assert recorder.calls[-1][3].retries_remaining is None
    ok = post(inline.test_client(), DELIVERY, headers={"X-PM-Retries-Remaining": " 7 "})
    assert ok.status_code == 200 and recorder.calls[-1][3].retries_remaining == 7


def _webhook(key: str, **changes: Any) -> Webhook:
    values: dict[str, Any] = {
        "body": b"{}",
        "payload": {},
        "dedupe_key": key,
        "kind": "bounce",
        "received_at": datetime.now(UTC),
        **changes,
    }
    return Webhook(**values)


def test_one_bad_row_never_fails_the_rest_of_its_group_commit(tmp_path: Path) -> None:
    # Before: 31 of 56 concurrent good appends failed along with one bad one.
    journal = WebhookJournal(tmp_path / "j.sqlite3")
    results: dict[str, Any] = {}
    start = threading.Barrier(57)

    def append(webhook: Webhook) -> None:
        start.wait()
        try:
            results[webhook.dedupe_key] = journal.append(webhook)
        except Exception as exc:
            results[webhook.dedupe_key] = exc

    webhooks = [_webhook(f"good-{n}") for n in range(56)]
    # A value SQLite cannot bind (a caller's bug): it fails, alone.
    webhooks.insert(20, _webhook("bad", remote_addr=object()))
    # A retries count past SQLite's integers is stored as unknown, not an error.
    webhooks[5] = _webhook("huge", retries_remaining=10**20)
    threads = [threading.Thread(target=append, args=(w,)) for w in webhooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert isinstance(results.pop("bad"), Exception)
        assert all(isinstance(v, int) for v in results.values()), results
        assert journal.counts()["pending"] == 56
    finally:
        journal.close()


# -- bounded dedupe keys --------------------------------------------------------


def test_long_dedupe_keys_are_hashed(make_app: Any, tmp_path: Path) -> None:
    # Before: a delivery with a megabyte recipient made a megabyte key: an
    # index entry in the journal and the store, and a response header.
    huge = {**DELIVERY, "Recipient": "x" * 1_000_000 + "@example.com"}
    key = dedupe_key(parse_event(huge))
    assert len(key) <= MAX_DEDUPE_KEY and key.startswith("delivery:sha256:")
    assert dedupe_key(parse_event(huge)) == key  # stable: retries still dedupe
    other = {**huge, "Recipient": "y" + huge["Recipient"][1:]}
    assert dedupe_key(parse_event(other)) != key
    normal = dedupe_key(parse_event(DELIVERY))
    assert normal.startswith("delivery:") and DELIVERY["MessageID"] in normal
    assert len(dedupe_key(parse_event(BOUNCE), "t" * 10_000)) <= MAX_DEDUPE_KEY

    app = journaled(make_app, tmp_path)
    client = app.test_client()
    first = post(client, huge)
    assert first.status_code == 200 and first.headers["Postmark-Kit-Key"] == key
    again = post(client, huge)
    assert again.headers["Postmark-Kit-Duplicate"] == "true"
    assert dispatcher_of(app).journal.counts()["pending"] == 1


# -- secret header names, open receivers -----------------------------------------


@pytest.mark.parametrize("name", ["X_Webhook_Secret", "X-Webhook Secret", "X-Secret:", "Ä-Secret"])
def test_a_secret_header_name_proxies_would_drop_is_refused(make_app: Any, name: str) -> None:
    # Before: accepted; nginx and gunicorn drop headers with underscores, so
    # every webhook was a 401.
    with pytest.raises(ConfigError, match="POSTMARK_WEBHOOK_SECRET_HEADER") as failure:
        make_app(
            {
                "POSTMARK_WEBHOOK_SECRET_HEADER": name,
                "POSTMARK_WEBHOOK_SECRET_VALUE": "the-secret-value",
            }
        )
    assert "the-secret-value" not in str(failure.value)
    if "_" in name:
        assert "X-Webhook-Secret" in str(failure.value)


def test_the_standalone_receiver_refuses_to_run_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: it started, logged a warning, and took events from anyone.
    monkeypatch.setenv("POSTMARK_EVENT_STORE", "")
    with pytest.raises(ConfigError, match=r"no authentication.*POSTMARK_INSECURE_NO_AUTH"):
        create_app()
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "no authentication" in result.output and "Traceback" not in result.output
    # Told so explicitly, it runs (and warns once).
    settings = {"POSTMARK_INSECURE_NO_AUTH": "true", "POSTMARK_URL_PREFIX": "/open-standalone"}
    with caplog.at_level(logging.WARNING, "postmark_kit.receiver"):
        app = create_app(settings)
        PostmarkReceiver.shutdown(app)
        app = create_app(settings)
    answer = post(app.test_client(), BOUNCE, url="/open-standalone/webhook", auth=None)
    assert answer.status_code == 200
    PostmarkReceiver.shutdown(app)
    warnings = [r for r in caplog.records if "NO AUTHENTICATION" in r.getMessage()]
    assert len(warnings) == 1


def test_drop_in_use_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    from flask import Flask

    apps = []
    with caplog.at_level(logging.WARNING, "postmark_kit.receiver"):
        for _ in range(3):
            app = Flask("drop-in")
            app.config.update(
                POSTMARK_URL_PREFIX="/drop-in-warned",
                POSTMARK_LOAD_ENTRYPOINTS=False,
            )
            PostmarkReceiver().init_app(app)
            apps.append(app)
    warnings = [r for r in caplog.records if "NO AUTHENTICATION" in r.getMessage()]
    assert len(warnings) == 1
    for app in apps:
        answer = post(app.test_client(), BOUNCE, url="/drop-in-warned/webhook", auth=None)
        assert answer.status_code == 200
        PostmarkReceiver.shutdown(app)
