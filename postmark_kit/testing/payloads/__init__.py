"""Webhook payload factories: Postmark's documented webhook bodies, with your values in them.

One function per event kind (:func:`bounce`, :func:`delivery`, :func:`open`,
:func:`click`, :func:`spam_complaint`, :func:`subscription_change`,
:func:`inbound`), each returning a plain JSON-able ``dict`` exactly as Postmark
would POST it.  Every call starts from the documented payload (the ``*.json``
files shipped beside this module), gets a fresh ``ID``/``MessageID`` and a
current timestamp (so two calls never look like one retried event to a
deduplicating receiver), then applies your keyword arguments::

    from postmark_kit.testing import payloads

    body = payloads.bounce(email="ann@example.com", type="SoftBounce")
    client.post("/postmark/webhook", json=body)

Keyword arguments are the snake_case names of the common fields; any other
field is given under Postmark's own name (``payloads.bounce(Content=None)``), a
value of ``None`` removing it from the body.  A lower-case name the factory does
not know is a typo and raises ``TypeError``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses
from importlib import resources
from typing import Any, Final

__all__ = [
    "BOUNCE_TYPE_CODES",
    "KINDS",
    "attachment",
    "bounce",
    "click",
    "delivery",
    "documented",
    "inbound",
    "open",
    "spam_complaint",
    "subscription_change",
]

#: The event kinds, as the receiver names them (``<prefix>/webhook/<kind>``).
KINDS: Final = (
    "bounce",
    "delivery",
    "open",
    "click",
    "spam_complaint",
    "subscription_change",
    "inbound",
)

#: Postmark's bounce ``Type`` -> (``TypeCode``, ``Name``, makes the address inactive).
BOUNCE_TYPE_CODES: Final[Mapping[str, tuple[int, str, bool]]] = {
    "HardBounce": (1, "Hard bounce", True),
    "Transient": (2, "Message delayed", False),
    "Unsubscribe": (16, "Unsubscribe request", False),
    "Subscribe": (32, "Subscribe request", False),
    "AutoResponder": (64, "Auto responder", False),
    "AddressChange": (128, "Address change", False),
    "DnsError": (256, "DNS error", False),
    "SpamNotification": (512, "Spam notification", False),
    "OpenRelayTest": (1024, "Open relay test", False),
    "Unknown": (2048, "Unknown", False),
    "SoftBounce": (4096, "Soft bounce", False),
    "VirusNotification": (8192, "Virus notification", False),
    "ChallengeVerification": (16384, "Spam challenge verification", False),
    "BadEmailAddress": (100000, "Invalid email address", True),
    "SpamComplaint": (100001, "Spam complaint", True),
    "ManuallyDeactivated": (100002, "Manually deactivated", True),
    "Unconfirmed": (100003, "Registration not confirmed", False),
    "Blocked": (100006, "ISP block", False),
    "SMTPApiError": (100007, "SMTP API error", False),
    "InboundError": (100008, "Processing failed", False),
    "DMARCPolicy": (100009, "DMARC Policy", False),
    "TemplateRenderingFailed": (100010, "Template rendering failed", False),
}

_DOCUMENTED: dict[str, dict[str, Any]] = {}
#: Bounce/spam-complaint IDs: unique per process, far from the simulator's small ones.
_IDS = itertools.count(7_000_000_000)


def documented(kind: str) -> dict[str, Any]:
    """Postmark's documented payload for ``kind`` (a fresh copy, unchanged)."""
    if kind not in KINDS:
        raise ValueError(f"unknown webhook kind {kind!r} (one of: {', '.join(KINDS)})")
    if kind not in _DOCUMENTED:
        text = resources.files(__name__).joinpath(f"{kind}.json").read_text(encoding="utf-8")
        _DOCUMENTED[kind] = json.loads(text)
    return copy.deepcopy(_DOCUMENTED[kind])


def _timestamp(value: datetime | str | None) -> str:
    """Postmark's form: ISO 8601 in UTC with a ``Z`` (naive datetimes are taken as UTC)."""
    if isinstance(value, str):
        return value
    moment = value or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _finish(
    payload: dict[str, Any], given: Mapping[str, Any], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply the named arguments (``given``: Postmark name -> value) then raw fields."""
    for key in fields:
        if not key[:1].isupper():
            raise TypeError(
                f"unexpected keyword argument {key!r}: other fields go under Postmark's "
                "own (capitalised) names, e.g. Content=..."
            )
    for key, value in {**given, **fields}.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def _message_id(value: str | None) -> str:
    return value if value is not None else str(uuid.uuid4())


def _metadata(value: Mapping[str, str] | None, default: Any) -> Any:
    return dict(value) if value is not None else default


def bounce(
    *,
    email: str = "john@example.com",
    type: str = "HardBounce",
    message_id: str | None = None,
    id: int | None = None,
    bounced_at: datetime | str | None = None,
    tag: str = "Test",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    from_email: str = "sender@example.com",
    subject: str = "Test subject",
    description: str | None = None,
    details: str = "Test bounce details",
    inactive: bool | None = None,
    can_activate: bool | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Bounce webhook for ``email``; ``type`` sets ``TypeCode``, ``Name`` and ``Inactive``.

    ``type`` is one of :data:`BOUNCE_TYPE_CODES` (a type Postmark adds later
    passes through with ``TypeCode`` 0).  ``can_activate`` defaults to
    ``inactive``: only a deactivated address has anything to reactivate.
    """
    payload = documented("bounce")
    code, name, deactivates = BOUNCE_TYPE_CODES.get(type, (0, type, False))
    inactive = deactivates if inactive is None else inactive
    given: dict[str, Any] = {
        "ID": next(_IDS) if id is None else id,
        "Type": type,
        "TypeCode": code,
        "Name": name,
        "Tag": tag,
        "MessageID": _message_id(message_id),
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
        "Email": email,
        "From": from_email,
        "BouncedAt": _timestamp(bounced_at),
        "Inactive": inactive,
        "CanActivate": inactive if can_activate is None else can_activate,
        "Subject": subject,
        "Details": details,
    }
    if description is not None or type != "HardBounce":
        given["Description"] = description if description is not None else name
    return _finish(payload, given, fields)


def spam_complaint(
    *,
    email: str = "john@example.com",
    message_id: str | None = None,
    id: int | None = None,
    bounced_at: datetime | str | None = None,
    tag: str = "Test",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    from_email: str = "sender@example.com",
    subject: str = "Test subject",
    details: str = "Test spam complaint details",
    **fields: Any,
) -> dict[str, Any]:
    """A SpamComplaint webhook: ``email`` marked the message as spam (and is now inactive)."""
    payload = documented("spam_complaint")
    given: dict[str, Any] = {
        "ID": next(_IDS) if id is None else id,
        "Tag": tag,
        "MessageID": _message_id(message_id),
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
        "Email": email,
        "From": from_email,
        "BouncedAt": _timestamp(bounced_at),
        "Subject": subject,
        "Details": details,
    }
    return _finish(payload, given, fields)


def delivery(
    *,
    recipient: str = "john@example.com",
    message_id: str | None = None,
    delivered_at: datetime | str | None = None,
    details: str = "Test delivery webhook details",
    tag: str = "welcome-email",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    **fields: Any,
) -> dict[str, Any]:
    """A Delivery webhook: the recipient's mail server accepted the message."""
    payload = documented("delivery")
    given: dict[str, Any] = {
        "MessageID": _message_id(message_id),
        "Recipient": recipient,
        "DeliveredAt": _timestamp(delivered_at),
        "Details": details,
        "Tag": tag,
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
    }
    return _finish(payload, given, fields)


def open(
    *,
    recipient: str = "john@example.com",
    message_id: str | None = None,
    received_at: datetime | str | None = None,
    first_open: bool = True,
    platform: str = "WebMail",
    tag: str = "welcome-email",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    **fields: Any,
) -> dict[str, Any]:
    """An Open webhook (``first_open=False`` for a repeated open)."""
    payload = documented("open")
    given: dict[str, Any] = {
        "MessageID": _message_id(message_id),
        "Recipient": recipient,
        "ReceivedAt": _timestamp(received_at),
        "FirstOpen": first_open,
        "Platform": platform,
        "Tag": tag,
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
    }
    return _finish(payload, given, fields)


def click(
    *,
    recipient: str = "john@example.com",
    link: str = "https://example.com",
    message_id: str | None = None,
    received_at: datetime | str | None = None,
    click_location: str = "HTML",
    platform: str = "Desktop",
    tag: str = "welcome-email",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    **fields: Any,
) -> dict[str, Any]:
    """A Click webhook: ``recipient`` followed the tracked ``link`` (``OriginalLink``)."""
    payload = documented("click")
    given: dict[str, Any] = {
        "MessageID": _message_id(message_id),
        "Recipient": recipient,
        "OriginalLink": link,
        "ReceivedAt": _timestamp(received_at),
        "ClickLocation": click_location,
        "Platform": platform,
        "Tag": tag,
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
    }
    return _finish(payload, given, fields)


def subscription_change(
    *,
    recipient: str = "john@example.com",
    suppress_sending: bool = True,
    suppression_reason: str | None = None,
    origin: str = "Recipient",
    message_id: str | None = None,
    changed_at: datetime | str | None = None,
    tag: str = "my-tag",
    metadata: Mapping[str, str] | None = None,
    message_stream: str = "outbound",
    **fields: Any,
) -> dict[str, Any]:
    """A SubscriptionChange webhook: ``recipient`` was suppressed or (``suppress_sending=False``)
    reactivated.

    ``suppression_reason`` defaults to ``ManualSuppression`` (an unsubscribe)
    when suppressing and is absent (``null``) on a reactivation, as Postmark sends it.
    """
    payload = documented("subscription_change")
    if suppression_reason is None and suppress_sending:
        suppression_reason = "ManualSuppression"
    given: dict[str, Any] = {
        "MessageID": _message_id(message_id),
        "Recipient": recipient,
        "SuppressSending": suppress_sending,
        "Origin": origin,
        "ChangedAt": _timestamp(changed_at),
        "Tag": tag,
        "Metadata": _metadata(metadata, payload["Metadata"]),
        "MessageStream": message_stream,
    }
    payload["SuppressionReason"] = suppression_reason
    return _finish(payload, given, fields)


def _people(value: str | Iterable[str] | None) -> tuple[str, list[dict[str, str]]]:
    """A header value and Postmark's ``*Full`` list for addresses (``"Name <a@b>"`` or bare)."""
    if value is None:
        return "", []
    items = [value] if isinstance(value, str) else list(value)
    header = ", ".join(items)
    full = []
    for name, address in getaddresses(items):
        local = address.split("@", 1)[0]
        mailbox_hash = local.split("+", 1)[1] if "+" in local else ""
        full.append({"Email": address, "Name": name, "MailboxHash": mailbox_hash})
    return header, full


def attachment(
    name: str, content: bytes, content_type: str = "application/octet-stream"
) -> dict[str, Any]:
    """An inbound attachment as Postmark posts it (base64 ``Content``, byte ``ContentLength``)."""
    return {
        "Name": name,
        "Content": base64.b64encode(content).decode("ascii"),
        "ContentType": content_type,
        "ContentLength": len(content),
    }


def inbound(
    *,
    from_email: str = "support@postmarkapp.com",
    from_name: str = "Postmarkapp Support",
    to: str | Iterable[str] = "Firstname Lastname <yourhash+SampleHash@inbound.postmarkapp.com>",
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    subject: str = "Test subject",
    text_body: str = "This is a test text body.",
    html_body: str = "<html><body><p>This is a test html body.</p></body></html>",
    stripped_text_reply: str = "This is the reply text",
    reply_to: str = "",
    message_id: str | None = None,
    date: datetime | str | None = None,
    tag: str = "",
    headers: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An inbound message posted to the inbound webhook.

    ``To``/``ToFull``, ``OriginalRecipient`` and ``MailboxHash`` (the part after
    ``+``) follow ``to``; ``Cc``/``Bcc`` are empty unless given.  ``headers`` is
    a mapping or Postmark's list of ``{"Name", "Value"}``; ``attachments`` a list
    of :func:`attachment` results (none by default).
    """
    payload = documented("inbound")
    to_header, to_full = _people(to)
    cc_header, cc_full = _people(cc)
    bcc_header, bcc_full = _people(bcc)
    first = to_full[0] if to_full else {"Email": "", "MailboxHash": ""}
    if isinstance(date, str):
        date_header = date
    else:
        moment = date or datetime.now(UTC)
        date_header = format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    if headers is None:
        header_list: list[dict[str, str]] = payload["Headers"]
    elif isinstance(headers, Mapping):
        header_list = [{"Name": k, "Value": v} for k, v in headers.items()]
    else:
        header_list = [dict(h) for h in headers]
    given: dict[str, Any] = {
        "From": from_email,
        "FromName": from_name,
        "FromFull": {"Email": from_email, "Name": from_name, "MailboxHash": ""},
        "To": to_header,
        "ToFull": to_full,
        "Cc": cc_header,
        "CcFull": cc_full,
        "Bcc": bcc_header,
        "BccFull": bcc_full,
        "OriginalRecipient": first["Email"],
        "MailboxHash": first["MailboxHash"],
        "Subject": subject,
        "MessageID": _message_id(message_id),
        "ReplyTo": reply_to,
        "Date": date_header,
        "TextBody": text_body,
        "HtmlBody": html_body,
        "StrippedTextReply": stripped_text_reply,
        "Tag": tag,
        "Headers": header_list,
        "Attachments": [dict(a) for a in attachments or ()],
    }
    return _finish(payload, given, fields)
