"""Webhook events: Postmark's webhook payloads as typed, frozen models.

Each event reuses the API model of the same shape (a bounce webhook *is* a
:class:`~postmark_kit.models.bounces.Bounce`), so code that handles one handles
the other.  :func:`parse_event` picks the class from ``RecordType`` (or, for
inbound mail, from the payload's shape) and structures it with the one
converter, which checks every value's JSON type, depth and Unicode as it goes:
a malformed body becomes :class:`InvalidEventError` (a 4xx at the receiver)
and never a crash deep inside a plugin.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

import attrs

from .convert import (
    MAX_DEPTH,
    InvalidUnicodeError,
    Model,
    NestingTooDeepError,
    StructureError,
    check_json,
    json_type,
    structure,
)
from .models.bounces import Bounce
from .models.messages import ClickEvent, InboundMessage, OpenEvent

__all__ = [
    "EVENT_TYPES",
    "MAX_DEDUPE_KEY",
    "MAX_DEPTH",
    "BounceEvent",
    "ClickEvent",
    "DeliveryEvent",
    "Event",
    "InboundMessage",
    "InvalidEventError",
    "OpenEvent",
    "SpamComplaintEvent",
    "SubscriptionChangeEvent",
    "UnknownEvent",
    "dedupe_key",
    "event_kind",
    "parse_event",
]


class InvalidEventError(ValueError):
    """A webhook body that is not a valid Postmark event; ``str()`` is a one-line reason."""


@attrs.define(frozen=True)
class BounceEvent(Bounce):
    """The Bounce webhook (also carries SMTP API errors: ``type == "SMTPApiError"``)."""


@attrs.define(frozen=True)
class SpamComplaintEvent(Bounce):
    """The SpamComplaint webhook: same shape as a bounce (``type_code`` 512)."""


@attrs.define(frozen=True)
class DeliveryEvent(Model):
    """The Delivery webhook: the recipient's server accepted the message."""

    record_type: str | None = None
    message_stream: str | None = None
    message_id: str | None = None
    recipient: str | None = None
    delivered_at: datetime | None = None
    details: str | None = None
    tag: str | None = None
    server_id: int | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class SubscriptionChangeEvent(Model):
    """The SubscriptionChange webhook.

    ``suppress_sending`` is ``True`` when the address was suppressed
    (unsubscribed, bounced, complained) and ``False`` when it was reactivated.
    """

    record_type: str | None = None
    message_stream: str | None = None
    message_id: str | None = None
    server_id: int | None = None
    changed_at: datetime | None = None
    recipient: str | None = None
    origin: str | None = None
    suppress_sending: bool | None = None
    suppression_reason: str | None = None
    tag: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class UnknownEvent:
    """A ``RecordType`` this version does not know: accepted and passed on as is."""

    record_type: str
    raw: dict[str, Any] = attrs.field(repr=False)


#: Any event :func:`parse_event` returns.
Event = (
    BounceEvent
    | DeliveryEvent
    | OpenEvent
    | ClickEvent
    | SpamComplaintEvent
    | SubscriptionChangeEvent
    | InboundMessage
    | UnknownEvent
)

#: RecordType -> model class.
EVENT_TYPES: dict[str, type[Model]] = {
    "Bounce": BounceEvent,
    "Delivery": DeliveryEvent,
    "Open": OpenEvent,
    "Click": ClickEvent,
    "SpamComplaint": SpamComplaintEvent,
    "SubscriptionChange": SubscriptionChangeEvent,
    # Postmark's inbound payload has no RecordType; accept an explicit one too.
    "Inbound": InboundMessage,
}

#: Fields an event of each type must carry (JSON names): without them it is useless
#: to a plugin and cannot be deduplicated.
_REQUIRED: dict[type[Any], tuple[str, ...]] = {
    BounceEvent: ("ID", "Type", "Email"),
    SpamComplaintEvent: ("ID", "Email"),
    DeliveryEvent: ("MessageID", "Recipient", "DeliveredAt"),
    OpenEvent: ("MessageID", "Recipient", "ReceivedAt"),
    ClickEvent: ("MessageID", "Recipient", "ReceivedAt"),
    SubscriptionChangeEvent: ("Recipient", "SuppressSending", "ChangedAt"),
    InboundMessage: ("MessageID", "FromFull"),
}

_KINDS: dict[type[Any], str] = {
    BounceEvent: "bounce",
    DeliveryEvent: "delivery",
    OpenEvent: "open",
    ClickEvent: "click",
    SpamComplaintEvent: "spam_complaint",
    SubscriptionChangeEvent: "subscription_change",
    InboundMessage: "inbound",
    UnknownEvent: "unknown",
}


#: Kind of each concrete event class, found once (subclasses of the event models too).
_KIND_OF: dict[type[Any], str] = {}


def event_kind(event: Event) -> str:
    """``bounce``, ``delivery``, ..., ``inbound`` or ``unknown`` (the hook suffix)."""
    cls = type(event)
    kind = _KIND_OF.get(cls)
    if kind is None:
        kind = next((_KINDS[c] for c in cls.__mro__ if c in _KINDS), "unknown")
        _KIND_OF[cls] = kind
    return kind


def _is_inbound(payload: dict[str, Any]) -> bool:
    return "FromFull" in payload or (
        "MessageStream" in payload and "From" in payload and "ToFull" in payload
    )


def parse_event(payload: dict[str, Any]) -> Event:
    """A decoded webhook body -> its typed event.

    Raises :class:`InvalidEventError` for anything that is not a JSON object,
    lacks a required field, has a wrongly typed field, nests deeper than
    :data:`MAX_DEPTH` or holds a string that is not valid Unicode.  The body is
    walked once: the converter checks each value as it structures it.
    """
    if not isinstance(payload, dict):
        raise InvalidEventError(f"expected a JSON object, got {json_type(payload)}")
    record_type = payload.get("RecordType")
    cls: type[Any]
    if record_type is None:
        if not _is_inbound(payload):
            raise InvalidEventError("missing RecordType (and not an inbound message)")
        cls = InboundMessage
    elif not isinstance(record_type, str) or not record_type:
        raise InvalidEventError("RecordType must be a non-empty string")
    elif record_type in EVENT_TYPES:
        cls = EVENT_TYPES[record_type]
    else:
        try:
            check_json(payload)
        except StructureError as exc:
            raise _invalid(exc, record_type) from None
        return UnknownEvent(record_type=record_type, raw=payload)
    for key in _REQUIRED.get(cls, ()):
        if payload.get(key) is None:
            raise InvalidEventError(f"{_label(cls, record_type)}: missing required field {key}")
    try:
        event: Any = structure(payload, cls)
    except StructureError as exc:
        raise _invalid(exc, _label(cls, record_type)) from None
    except Exception as exc:  # any other converter failure is a bad body too
        raise InvalidEventError(f"{_label(cls, record_type)}: {_one_line(exc)}") from None
    return typing.cast(Event, event)


def _invalid(exc: StructureError, label: str) -> InvalidEventError:
    if isinstance(exc, InvalidUnicodeError):
        return InvalidEventError("a string is not valid Unicode")
    if isinstance(exc, NestingTooDeepError):
        return InvalidEventError(f"JSON nested deeper than {MAX_DEPTH} levels")
    exc.label = label
    return InvalidEventError(_one_line(exc))


def dedupe_key(event: Event, trace_id: str | None = None) -> str:
    """A key equal across Postmark's retries of one event.

    ``X-PM-Webhook-Trace-Id`` when Postmark sent one, else the type-specific
    key of WEBHOOKS.md (Bounce/SpamComplaint: ID; Delivery: MessageID +
    Recipient + DeliveredAt; Open/Click: MessageID + Recipient + ReceivedAt;
    inbound: MessageID).  Keys are prefixed with the kind so types never collide.
    A key over :data:`MAX_DEDUPE_KEY` characters is replaced by its SHA-256
    (long values would otherwise be stored in indexes and sent in headers).
    """
    kind = event_kind(event)
    if trace_id:
        return _bounded("trace", f"trace:{trace_id}")
    parts: list[Any]
    if isinstance(event, Bounce):
        parts = [event.id]
    elif isinstance(event, DeliveryEvent):
        parts = [event.message_id, event.recipient, _iso(event.delivered_at)]
    elif isinstance(event, OpenEvent | ClickEvent):
        parts = [event.message_id, event.recipient, _iso(event.received_at)]
        if isinstance(event, ClickEvent):
            parts.append(event.original_link)
    elif isinstance(event, SubscriptionChangeEvent):
        parts = [event.message_id, event.recipient, _iso(event.changed_at), event.suppress_sending]
    elif isinstance(event, InboundMessage):
        parts = [event.message_id]
    else:
        import hashlib
        import json

        body = json.dumps(event.raw, sort_keys=True, separators=(",", ":"))
        parts = [event.record_type, hashlib.sha256(body.encode()).hexdigest()]
    return _bounded(kind, f"{kind}:" + "|".join("" if p is None else str(p) for p in parts))


def _bounded(prefix: str, key: str) -> str:
    if len(key) <= MAX_DEDUPE_KEY:
        return key
    # Built from body fields, so as long as a sender likes: a multi-megabyte
    # index entry and response header otherwise.  Equal fields, equal hash.
    import hashlib

    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}:sha256:{digest}"


#: Longest dedupe key kept as is; longer ones become ``<kind>:sha256:<hex digest>``.
MAX_DEDUPE_KEY = 512


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _label(cls: type[Any], record_type: Any) -> str:
    return str(record_type) if record_type else "Inbound"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
