"""Prometheus metrics at <prefix>/metrics: webhooks by kind and status, failures, backlog."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from postmark_kit import hookimpl
from postmark_kit.receiver import PostmarkReceiver
from tests.conftest import load_webhook

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

AUTH = ("postmark", "hook-secret-1")


class FailsOpens:
    plugin_name = "open-tracker"

    @hookimpl
    def postmark_open(self, event: Any) -> None:
        raise RuntimeError("tracker down")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _post(client: Any, body: Any, trace: str, url: str = "/postmark/webhook") -> Any:
    return client.post(
        url,
        data=json.dumps(body),
        content_type="application/json",
        auth=AUTH,
        headers={"X-PM-Webhook-Trace-Id": trace},
    )


def _app(**settings: Any) -> Flask:
    app = Flask("metrics-host")
    app.config.update(
        POSTMARK_WEBHOOK_USERNAME=AUTH[0],
        POSTMARK_WEBHOOK_PASSWORD=AUTH[1],
        POSTMARK_LOAD_ENTRYPOINTS=False,
        POSTMARK_METRICS=True,
        **settings,
    )
    return app


def test_metrics_off_by_default() -> None:
    app = Flask("plain")
    app.config.update(POSTMARK_LOAD_ENTRYPOINTS=False)
    PostmarkReceiver(app)
    assert app.test_client().get("/postmark/metrics").status_code == 404
    PostmarkReceiver.shutdown(app)


def test_inline_counts_kinds_statuses_duplicates_failures_latency() -> None:
    app = _app()
    PostmarkReceiver(app, plugins=[FailsOpens()])
    client = app.test_client()
    assert _post(client, load_webhook("bounce"), "t1").status_code == 200
    assert _post(client, load_webhook("delivery"), "t2").status_code == 200
    assert _post(client, load_webhook("open"), "t3").status_code == 503
    assert (
        client.post(
            "/postmark/webhook", data="{", content_type="application/json", auth=AUTH
        ).status_code
        == 400
    )
    assert (
        _post(client, load_webhook("bounce"), "t4", "/postmark/webhook/nonsense").status_code == 404
    )
    answer = client.get("/postmark/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    got = _samples(answer.get_data(as_text=True))
    received = "postmark_webhooks_received_total"
    assert got[(received, (("kind", "bounce"), ("status", "200")))] == 1
    assert got[(received, (("kind", "delivery"), ("status", "200")))] == 1
    assert got[(received, (("kind", "unknown"), ("status", "503")))] == 1
    assert got[(received, (("kind", "unknown"), ("status", "400")))] == 1
    assert got[(received, (("kind", "unknown"), ("status", "404")))] == 1  # not "nonsense"
    assert got[("postmark_plugin_failures_total", (("plugin", "open-tracker"),))] == 1
    assert got[("postmark_webhook_dispatch_seconds_count", (("kind", "bounce"),))] == 1
    assert "postmark_journal_pending" not in answer.get_data(as_text=True)  # inline: no journal
    PostmarkReceiver.shutdown(app)


def test_journal_backlog_and_duplicates(tmp_path: Path) -> None:
    app = _app(
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "j.sqlite3"),
        POSTMARK_JOURNAL_MAX_ATTEMPTS=1,
        POSTMARK_JOURNAL_POLL=0.02,
    )
    PostmarkReceiver(app, plugins=[FailsOpens()])
    client = app.test_client()
    assert _post(client, load_webhook("open"), "o1").status_code == 200
    assert _post(client, load_webhook("open"), "o1").status_code == 200  # Postmark's retry
    deadline = time.monotonic() + 30  # the worker runs it: a loaded host can be slow
    delay = 0.0005  # from half a millisecond up to 5 ms: done about when it settles
    while True:
        got = _samples(client.get("/postmark/metrics").get_data(as_text=True))
        settled = got.get(("postmark_journal_dead_letters", ())) == 1 and not got.get(
            ("postmark_journal_pending", ())
        )
        if settled or time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.005)
    assert got[("postmark_journal_dead_letters", ())] == 1
    assert got[("postmark_journal_pending", ())] == 0
    assert got[("postmark_journal_oldest_pending_seconds", ())] == 0
    assert got[("postmark_webhooks_duplicates_total", (("kind", "open"),))] == 1
    assert got[("postmark_webhooks_received_total", (("kind", "open"), ("status", "200")))] == 2
    assert (
        got[("postmark_plugin_failing_deliveries", (("plugin", "open-tracker"), ("state", "dead")))]
        == 1
    )
    PostmarkReceiver.shutdown(app)


def test_two_receivers_have_their_own_registries(tmp_path: Path) -> None:
    app = _app()
    PostmarkReceiver(app)
    PostmarkReceiver(app, name="billing", url_prefix="/billing")
    client = app.test_client()
    _post(client, load_webhook("bounce"), "b1")
    first = client.get("/postmark/metrics").get_data(as_text=True)
    second = client.get("/billing/metrics").get_data(as_text=True)
    assert 'kind="bounce"' in first and 'kind="bounce"' not in second
    PostmarkReceiver.shutdown(app)
