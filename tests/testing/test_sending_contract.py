"""What Postmark accepts and refuses on a send, in the client and in the simulator.

Doc pages followed:
- https://postmarkapp.com/developer/api/overview (415 without a JSON Content-Type;
  error codes 402, 403, 406, 409, 411; 413 beyond 10 MB; the POSTMARK_API_TEST token)
- https://postmarkapp.com/developer/api/email-api (field types, 50 recipients, Tag,
  Metadata, attachments, "Message OK, but will not deliver to these inactive addresses")
- https://postmarkapp.com/developer/user-guide/sending-email/sandbox-mode (bounce testing)
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
import requests_mock

from postmark_kit import ServerClient
from postmark_kit.errors import ClientValidationError, InactiveRecipientError
from postmark_kit.models.email import BulkEmail, BulkRecipient, Email
from postmark_kit.testing import FakePostmark
from postmark_kit.testing.simulator import rules


def _post(fake: FakePostmark, body: Any, path: str = "/email", **headers: str) -> Any:
    return requests.post(
        fake.base_url + path,
        json=body,
        headers={"X-Postmark-Server-Token": fake.server_token, **headers},
        timeout=5,
    )


def _msg(fake: FakePostmark, **fields: Any) -> dict[str, Any]:
    return {"From": fake.sender_email, "To": "a@example.org", "TextBody": "b", **fields}


def test_missing_or_wrong_content_type_is_415(postmark_fake: FakePostmark) -> None:
    url = f"{postmark_fake.base_url}/email"
    token = {"X-Postmark-Server-Token": postmark_fake.server_token}
    data = '{"From": "x@example.com"}'
    for extra in (
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
    ):
        resp = requests.post(url, data=data, headers={**token, **extra}, timeout=5)
        assert resp.status_code == 415, extra
        assert resp.json()["ErrorCode"] == 409


@pytest.mark.parametrize(
    "fields",
    [
        {"Metadata": {"order": 42}},
        {"Metadata": {"flags": ["a"]}},
        {"TrackOpens": "true"},
        {"Headers": {"X-A": "1"}},
        {"TrackLinks": "Yes"},
        {"Tag": 7},
    ],
)
def test_wrongly_typed_fields_are_422(postmark_fake: FakePostmark, fields: dict[str, Any]) -> None:
    resp = _post(postmark_fake, _msg(postmark_fake, **fields))
    assert resp.status_code == 422 and resp.json()["ErrorCode"] == 403, resp.json()
    assert postmark_fake.state.outbound == []


def test_client_refuses_non_string_metadata_before_sending() -> None:
    with requests_mock.Mocker() as m, ServerClient("t", retries=0) as client:
        with pytest.raises(ClientValidationError, match="metadata"):
            client.email.send(
                Email(from_email="a@x.com", to="b@x.com", text_body="b", metadata={"n": 1})  # type: ignore[dict-item]
            )
        with pytest.raises(ClientValidationError):
            client.email.send_bulk(
                BulkEmail(
                    from_email="a@x.com",
                    text_body="b",
                    messages=[BulkRecipient("b@x.com", metadata={"n": True})],  # type: ignore[dict-item]
                )
            )
        assert m.call_count == 0


def test_recipient_count_parses_quoted_names() -> None:
    thirty = ", ".join(f'"Doe, Jane{i}" <j{i}@example.com>' for i in range(30))
    email = Email(from_email="a@x.com", to=thirty, text_body="b")
    assert email.recipient_count() == 30
    with requests_mock.Mocker() as m, ServerClient("t", retries=0) as client:
        m.post("https://api.postmarkapp.com/email", json={"ErrorCode": 0, "Message": "OK"})
        client.email.send(email)  # 30 recipients, not 60
        assert m.call_count == 1
        many = ", ".join(f'"Doe, J{i}" <j{i}@example.com>' for i in range(51))
        with pytest.raises(ClientValidationError):
            client.email.send(Email(from_email="a@x.com", to=many, text_body="b"))


def _attachment(name: str, size: int = 3) -> dict[str, str]:
    return {
        "Name": name,
        "Content": base64.b64encode(b"x" * size).decode(),
        "ContentType": "application/octet-stream",
    }


def test_attachments_forbidden_types_and_size(
    postmark_fake: FakePostmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    resp = _post(postmark_fake, _msg(postmark_fake, Attachments=[_attachment("setup.EXE")]))
    assert resp.status_code == 422 and resp.json()["ErrorCode"] == 411
    assert _post(postmark_fake, _msg(postmark_fake, Attachments=[_attachment("a.pdf")])).ok
    # the limit is Postmark's 10 MB; the inner loop checks the rule with a 10 KB one
    # (test_attachments_over_10_mb_are_413 sends the real size)
    assert rules.MAX_MESSAGE_BYTES == 10 * 1024 * 1024
    monkeypatch.setattr(rules, "MAX_MESSAGE_BYTES", 10 * 1024)
    big = [_attachment("a.bin.pdf", 6 * 1024), _attachment("b.pdf", 5 * 1024)]
    assert _post(postmark_fake, _msg(postmark_fake, Attachments=big)).status_code == 413
    small = [_attachment("a.bin.pdf", 5 * 1024), _attachment("b.pdf", 5 * 1024 - 100)]
    assert _post(postmark_fake, _msg(postmark_fake, Attachments=small)).ok


@pytest.mark.slow  # 11 MB over HTTP; test_attachments_forbidden_types_and_size checks the rule
def test_attachments_over_10_mb_are_413(postmark_fake: FakePostmark) -> None:
    big = [_attachment("a.bin.pdf", 6 * 1024 * 1024), _attachment("b.pdf", 5 * 1024 * 1024)]
    assert _post(postmark_fake, _msg(postmark_fake, Attachments=big)).status_code == 413


def test_tag_and_metadata_limits(postmark_fake: FakePostmark) -> None:
    too_long_tag = _post(postmark_fake, _msg(postmark_fake, Tag="t" * 1001))
    assert too_long_tag.status_code == 422 and too_long_tag.json()["ErrorCode"] == 300
    assert _post(postmark_fake, _msg(postmark_fake, Tag="t" * 1000)).ok
    for metadata in (
        {f"k{i}": "v" for i in range(11)},
        {"k" * 21: "v"},
        {"k": "v" * 81},
    ):
        resp = _post(postmark_fake, _msg(postmark_fake, Metadata=metadata))
        assert resp.status_code == 422, metadata
    assert _post(postmark_fake, _msg(postmark_fake, Metadata={"k" * 20: "v" * 80})).ok


def test_bodiless_calls_send_json_and_the_simulator_checks_it(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    postmark_client.email.send(
        Email(
            from_email=postmark_fake.sender_email,
            to=rules.bounce_address("HardBounce"),
            text_body="b",
        )
    )
    bounce_id = postmark_client.bounces.list().items[0].id
    token = {"X-Postmark-Server-Token": postmark_fake.server_token}
    url = f"{postmark_fake.base_url}/bounces/{bounce_id}/activate"
    assert requests.put(url, headers=token, timeout=5).status_code == 415
    assert postmark_client.bounces.activate(bounce_id or 0).bounce is not None


def test_api_test_token_is_accepted_and_delivers_nothing(postmark_fake: FakePostmark) -> None:
    with ServerClient("POSTMARK_API_TEST", base_url=postmark_fake.base_url, retries=0) as client:
        result = client.email.send(
            Email(from_email="anyone@example.net", to="a@example.org", text_body="b")
        )
        assert result.error_code == 0 and result.message == "Test job accepted"
        batch = client.email.send_batch(
            [Email(from_email="anyone@example.net", to="a@example.org", text_body="b")] * 2
        )
        assert [r.error_code for r in batch] == [0, 0]
        with pytest.raises(Exception):
            client.email.send(Email(from_email="anyone@example.net", to="nope", text_body="b"))
    assert postmark_fake.state.outbound == [] and postmark_fake.deliveries == []
    other = _post(postmark_fake, {}, "/bounces", **{"X-Postmark-Server-Token": "POSTMARK_API_TEST"})
    assert other.status_code in (401, 405, 404)  # only sends take the test token


def test_inactive_recipients_are_named(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    postmark_client.suppressions.create("outbound", ["gone@example.org"])
    result = postmark_client.email.send(
        Email(
            from_email=postmark_fake.sender_email,
            to="ok@example.org, gone@example.org",
            text_body="b",
        )
    )
    assert result.error_code == 0
    assert result.message is not None and result.message.startswith(
        "Message OK, but will not deliver to these inactive addresses: gone@example.org"
    )
    with pytest.raises(InactiveRecipientError):
        postmark_client.email.send(
            Email(from_email=postmark_fake.sender_email, to="gone@example.org", text_body="b")
        )


@pytest.mark.parametrize(
    ("local", "kind", "inactive"),
    [
        ("hardbounce", "HardBounce", True),
        ("HardBounce", "HardBounce", True),
        ("SOFTBOUNCE", "SoftBounce", False),
        ("transient", "Transient", False),
        ("blocked", "Blocked", False),
        ("dnserror", "DnsError", False),
        ("bademailaddress", "BadEmailAddress", True),
        ("anything-else", "HardBounce", True),
    ],
)
def test_bounce_testing_addresses(
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    local: str,
    kind: str,
    inactive: bool,
) -> None:
    to = f"{local}@Bounce-Testing.PostmarkApp.com"
    postmark_client.email.send(Email(from_email=postmark_fake.sender_email, to=to, text_body="b"))
    (bounce,) = postmark_client.bounces.list().items
    assert (bounce.type, bounce.type_code, bounce.inactive) == (
        kind,
        rules.BOUNCE_TYPES[kind][0],
        inactive,
    )
    suppressed = [s.email_address for s in postmark_client.suppressions.list("outbound")]
    assert suppressed == ([to] if inactive else [])


def test_spam_complaint_testing_address(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    to = rules.bounce_address("SpamComplaint")
    postmark_client.email.send(Email(from_email=postmark_fake.sender_email, to=to, text_body="b"))
    (record,) = postmark_client.bounces.list().items
    assert (record.type, record.type_code) == ("SpamComplaint", 100001)
    (sup,) = postmark_client.suppressions.list("outbound")
    assert sup.suppression_reason == "SpamComplaint"
