"""postmark_kit.testing.payloads: documented webhook bodies with the caller's values in them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from postmark_kit.events import (
    BounceEvent,
    ClickEvent,
    DeliveryEvent,
    InboundMessage,
    OpenEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
    dedupe_key,
    event_kind,
    parse_event,
)
from postmark_kit.receiver import EVENT_KINDS
from postmark_kit.testing import payloads

FACTORIES: dict[str, Callable[..., dict[str, Any]]] = {
    "bounce": payloads.bounce,
    "delivery": payloads.delivery,
    "open": payloads.open,
    "click": payloads.click,
    "spam_complaint": payloads.spam_complaint,
    "subscription_change": payloads.subscription_change,
    "inbound": payloads.inbound,
}
CLASSES = {
    "bounce": BounceEvent,
    "delivery": DeliveryEvent,
    "open": OpenEvent,
    "click": ClickEvent,
    "spam_complaint": SpamComplaintEvent,
    "subscription_change": SubscriptionChangeEvent,
    "inbound": InboundMessage,
}


def test_one_factory_per_kind_the_receiver_takes() -> None:
    assert set(payloads.KINDS) == set(EVENT_KINDS) == set(FACTORIES)


@pytest.mark.parametrize("kind", payloads.KINDS)
def test_documented_payload_is_shipped_and_a_fresh_copy(kind: str) -> None:
    first = payloads.documented(kind)
    first["Tampered"] = True
    again = payloads.documented(kind)
    assert "Tampered" not in again
    assert isinstance(parse_event(again), CLASSES[kind])


def test_documented_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown webhook kind 'bounced'"):
        payloads.documented("bounced")


@pytest.mark.parametrize("kind", payloads.KINDS)
def test_factory_defaults_parse_as_their_kind_and_are_json(kind: str) -> None:
    body = FACTORIES[kind]()
    assert json.loads(json.dumps(body)) == body
    event = parse_event(body)
    assert type(event) is CLASSES[kind]
    assert event_kind(event) == kind
    # the documented fields are all there (only values change)
    assert set(payloads.documented(kind)) <= set(body)


@pytest.mark.parametrize("kind", payloads.KINDS)
def test_two_calls_are_two_events_not_a_retry(kind: str) -> None:
    one, two = (parse_event(FACTORIES[kind]()) for _ in range(2))
    assert dedupe_key(one) != dedupe_key(two)


def test_bounce_overrides_and_type_table() -> None:
    body = payloads.bounce(
        email="ann@example.com",
        type="SoftBounce",
        message_id="m-1",
        tag="welcome",
        metadata={"user": "7"},
        bounced_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    event = parse_event(body)
    assert isinstance(event, BounceEvent)
    assert (event.email, event.type, event.type_code, event.name) == (
        "ann@example.com",
        "SoftBounce",
        4096,
        "Soft bounce",
    )
    assert event.inactive is False and event.can_activate is False
    assert event.message_id == "m-1" and event.tag == "welcome"
    assert event.metadata == {"user": "7"}
    assert body["BouncedAt"] == "2026-01-02T03:04:05.000000Z"
    hard = payloads.bounce()
    assert (hard["Type"], hard["TypeCode"], hard["Inactive"], hard["CanActivate"]) == (
        "HardBounce",
        1,
        True,
        True,
    )


def test_raw_postmark_fields_override_and_none_removes() -> None:
    body = payloads.bounce(Content=None, ServerID=99, DumpAvailable=False)
    assert "Content" not in body
    assert body["ServerID"] == 99 and body["DumpAvailable"] is False
    assert parse_event(body).content is None  # type: ignore[union-attr]


def test_a_lower_case_unknown_keyword_is_a_typo() -> None:
    with pytest.raises(TypeError, match="'emial'"):
        payloads.bounce(emial="x@example.com")


def test_spam_complaint_delivery_open_click() -> None:
    spam = parse_event(payloads.spam_complaint(email="b@example.com", message_id="m-2"))
    assert isinstance(spam, SpamComplaintEvent)
    assert (spam.email, spam.message_id, spam.type_code) == ("b@example.com", "m-2", 512)
    delivered = parse_event(payloads.delivery(recipient="c@example.com", details="250 OK"))
    assert isinstance(delivered, DeliveryEvent)
    assert (delivered.recipient, delivered.details) == ("c@example.com", "250 OK")
    opened = parse_event(payloads.open(recipient="d@example.com", first_open=False))
    assert isinstance(opened, OpenEvent)
    assert (opened.recipient, opened.first_open) == ("d@example.com", False)
    clicked = parse_event(payloads.click(recipient="e@example.com", link="https://x.test/a"))
    assert isinstance(clicked, ClickEvent)
    assert (clicked.recipient, clicked.original_link) == ("e@example.com", "https://x.test/a")


def test_subscription_change_suppress_and_reactivate() -> None:
    off = parse_event(payloads.subscription_change(recipient="f@example.com"))
    assert isinstance(off, SubscriptionChangeEvent)
    assert off.suppress_sending is True and off.suppression_reason == "ManualSuppression"
    back = payloads.subscription_change(recipient="f@example.com", suppress_sending=False)
    assert back["SuppressionReason"] is None
    event = parse_event(back)
    assert isinstance(event, SubscriptionChangeEvent) and event.suppress_sending is False


def test_inbound_addresses_mailbox_hash_headers_and_attachments() -> None:
    big = b"\x00\x01" * 1000
    body = payloads.inbound(
        from_email="gus@example.com",
        from_name="Gus",
        to=["Support <support+ticket-42@inbound.example.com>", "other@example.com"],
        cc="Cy <cy@example.com>",
        subject="Re: order",
        headers={"X-Spam-Score": "0.1"},
        attachments=[payloads.attachment("blob.bin", big)],
    )
    event = parse_event(body)
    assert isinstance(event, InboundMessage)
    assert body["FromFull"] == {"Email": "gus@example.com", "Name": "Gus", "MailboxHash": ""}
    assert [p["Email"] for p in body["ToFull"]] == [
        "support+ticket-42@inbound.example.com",
        "other@example.com",
    ]
    assert body["MailboxHash"] == "ticket-42"
    assert body["OriginalRecipient"] == "support+ticket-42@inbound.example.com"
    assert body["CcFull"] == [{"Email": "cy@example.com", "Name": "Cy", "MailboxHash": ""}]
    assert body["Bcc"] == "" and body["BccFull"] == []
    assert body["Headers"] == [{"Name": "X-Spam-Score", "Value": "0.1"}]
    (att,) = body["Attachments"]
    assert att["ContentLength"] == len(big) and base64.b64decode(att["Content"]) == big
    assert event.subject == "Re: order"
