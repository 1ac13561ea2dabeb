"""Driving the simulator without Python: the control API and ``postmark-kit fake ...``.

The events triggered follow the same Postmark pages as test_events_contract.py; the
control API itself is postmark-kit's (documented in postmark_kit/testing/control.py
and docs/testing.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from postmark_kit import ServerClient
from postmark_kit.cli import main
from postmark_kit.models.email import Email
from postmark_kit.models.webhooks import (
    BounceTrigger,
    OpenTrigger,
    SpamComplaintTrigger,
    Trigger,
    WebhookTriggers,
)
from postmark_kit.testing import FakePostmark
from postmark_kit.testing.control import create_control_app

from .conftest import Sink

LINK = "https://example.org/go"


@pytest.fixture
def controlled(sink: Sink) -> Iterator[tuple[FakePostmark, ServerClient]]:
    with FakePostmark(control_port=0, auto_deliver=False) as fake:
        client = ServerClient(fake.server_token, base_url=fake.base_url, retries=0)
        with client:
            client.webhooks.create(
                url=sink.url,
                triggers=WebhookTriggers(
                    open=OpenTrigger(enabled=True),
                    click=Trigger(enabled=True),
                    delivery=Trigger(enabled=True),
                    bounce=BounceTrigger(enabled=True),
                    spam_complaint=SpamComplaintTrigger(enabled=True),
                    subscription_change=Trigger(enabled=True),
                ),
            )
            client.server.update(inbound_hook_url=sink.url)
            yield fake, client


def _fake(fake: FakePostmark, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["fake", "--control", fake.control_url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_the_cli_triggers_every_event_kind(
    controlled: tuple[FakePostmark, ServerClient], sink: Sink, tmp_path: Path
) -> None:
    fake, client = controlled
    mid = client.email.send(
        Email(
            from_email=fake.sender_email,
            to="a@example.org, b@example.org",
            html_body=f'<a href="{LINK}">go</a>',
            track_opens=True,
            track_links="HtmlOnly",
        )
    ).message_id
    assert mid
    listed = _fake(fake, "messages")
    assert listed["Messages"][0]["MessageID"] == mid  # type: ignore[index]
    assert _fake(fake, "deliver", mid)["RecordType"] == "Delivery"
    bounce = _fake(fake, "bounce", mid, "--recipient", "b@example.org", "--type", "SoftBounce")
    assert bounce["Type"] == "SoftBounce"
    assert _fake(fake, "open", mid, "--platform", "Mobile")["Platform"] == "Mobile"
    assert _fake(fake, "click", mid, LINK)["OriginalLink"] == LINK
    assert _fake(fake, "complain", mid)["RecordType"] == "SpamComplaint"
    assert _fake(fake, "subscription", mid, "--resubscribe")["SuppressSending"] is False
    attachment = tmp_path / "note.txt"
    attachment.write_text("hi")
    inbound = _fake(
        fake,
        "inbound",
        "--from",
        "ann@example.net",
        "--to",
        "box+case-7@inbound.example.com",
        "--subject",
        "Hello",
        "--metadata",
        "k=v",
        "--attach",
        str(attachment),
    )
    assert inbound["MailboxHash"] == "case-7" and inbound["Metadata"] == {"k": "v"}
    webhooks = _fake(fake, "webhooks", "--wait", "10")
    kinds = {w["record_type"] for w in webhooks["Webhooks"]}  # type: ignore[union-attr]
    assert kinds == {
        "Delivery",
        "Bounce",
        "Open",
        "Click",
        "SpamComplaint",
        "SubscriptionChange",
        "Inbound",
    }
    assert all(w["delivered"] for w in webhooks["Webhooks"])  # type: ignore[union-attr]
    assert len(sink.bodies()) == len(webhooks["Webhooks"])  # type: ignore[arg-type]
    assert _fake(fake, "reset")["Message"] == "Reset."
    assert _fake(fake, "messages")["TotalCount"] == 0


def test_impossible_events_are_clear_errors(
    controlled: tuple[FakePostmark, ServerClient],
) -> None:
    fake, client = controlled
    mid = client.email.send(
        Email(from_email=fake.sender_email, to="a@example.org", text_body="no tracking")
    ).message_id
    result = CliRunner().invoke(main, ["fake", "--control", fake.control_url, "open", mid or ""])
    assert result.exit_code != 0 and "409" in result.output and "open tracking" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["fake", "--control", fake.control_url, "open", "nope"])
    assert result.exit_code != 0 and "404" in result.output
    resp = requests.post(f"{fake.control_url}/messages/{mid}/click", json={}, timeout=5)
    assert resp.status_code == 409 and "Link" in resp.json()["Message"]
    resp = requests.post(
        f"{fake.control_url}/inbound",
        json={"Attachments": [{"Name": "a.txt", "Content": "not base64!"}]},
        timeout=5,
    )
    assert resp.status_code == 400 and resp.json()["Message"].startswith("Bad request")
    down = CliRunner().invoke(main, ["fake", "--control", "http://127.0.0.1:9", "messages"])
    assert down.exit_code != 0 and "cannot reach" in down.output


def test_control_api_answers_loopback_only() -> None:
    with FakePostmark() as fake:
        client = create_control_app(fake).test_client()
        assert client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
        assert client.get("/", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
        remote = client.get("/", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert remote.status_code == 403
        with pytest.raises(RuntimeError):
            _ = fake.control_url  # not started without control_port


@pytest.mark.slow  # a CLI subprocess (fake-server), stopped with SIGINT
def test_fake_server_prints_and_serves_its_control_api() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "postmark_kit.cli", "fake-server", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        control = ""
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline and not control:
            line = proc.stdout.readline()
            if line.startswith("  export POSTMARK_FAKE_CONTROL="):
                control = line.split("=", 1)[1].strip()
        assert control.startswith("http://127.0.0.1:")
        assert requests.get(control, timeout=5).json()["Sender"] == "sender@example.com"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
