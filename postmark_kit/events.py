"""Webhook events: Postmark's webhook payloads as typed, frozen models.

Each event reuses the API model of the same shape (a bounce webhook *is* a
:class:`~postmark_kit.models.bounces.Bounce`), so code that handles one handles
the other.  :func:`parse_event` picks the class from ``RecordType`` (or, for
inbound mail, from the payload's shape) and checks the JSON types of every
modelled field first, so a malformed body becomes :class:`InvalidEventError`
(a 4xx at the receiver) and never a crash deep inside a plugin.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, Union

import attrs

from .convert import Model, json_name, parse_datetime, structure
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
    lacks a required field, or has a wrongly typed field.
    """
    if not isinstance(payload, dict):
        raise InvalidEventError(f"expected a JSON object, got {_json_type(payload)}")
    _check_shape(payload)
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
        return UnknownEvent(record_type=record_type, raw=payload)
    for key in _REQUIRED.get(cls, ()):
        if payload.get(key) is None:
            raise InvalidEventError(f"{_label(cls, record_type)}: missing required field {key}")
    _check(payload, cls, _label(cls, record_type))
    try:
        event: Any = structure(payload, cls)
    except Exception as exc:  # any converter failure is a bad body
        raise InvalidEventError(f"{_label(cls, record_type)}: {_one_line(exc)}") from None
    return typing.cast(Event, event)


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


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


#: Postmark's payloads nest 3 levels; far deeper bodies are hostile, and near the
#: recursion limit a plugin (or the dedupe key's re-encoding) would crash on them.
MAX_DEPTH = 64


def _check_shape(payload: dict[str, Any]) -> None:
    """Reject bodies nested over ``MAX_DEPTH`` or holding lone surrogates (not Unicode).

    ``json`` decodes ``"\\ud800"`` to a str that cannot be encoded: every plugin
    writing it to a file, a database or a log would fail, so it never gets that far.
    Iterative, so the check itself cannot hit the recursion limit.
    """
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(payload, 1)]
    try:
        while stack:
            container, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise InvalidEventError(f"JSON nested deeper than {MAX_DEPTH} levels")
            if isinstance(container, dict):
                for key in container:
                    if not key.isascii():
                        key.encode("utf-8")
                items: Any = container.values()
            else:
                items = container
            for item in items:
                if type(item) is str:
                    if not item.isascii():
                        item.encode("utf-8")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
    except UnicodeEncodeError:
        raise InvalidEventError("a string is not valid Unicode") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class _Bad(Exception):
    """A type mismatch found by a checker; the path is collected while it unwinds."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.path: list[str] = []


def _check(data: dict[str, Any], cls: type[Any], where: str) -> None:
    """Check each modelled field's JSON type (the converter passes plain values through)."""
    try:
        _model_checker(cls)(data)
    except _Bad as bad:
        path = "".join(reversed(bad.path))
        raise InvalidEventError(f"{where}{path}{bad.problem}") from None


_Checker = Callable[[Any], None]
_CHECKERS: dict[Any, _Checker | None] = {}


def _expected(what: str) -> Callable[[Any], _Bad]:
    return lambda value: _Bad(f" must be {what}, got {_json_type(value)}")


def _model_checker(cls: type[Any]) -> _Checker:
    found = _CHECKERS.get(cls)
    if found is None:
        found = _CHECKERS[cls] = _build_model_checker(cls)
    return found


def _build_model_checker(cls: type[Any]) -> _Checker:
    """One function per model, built once: per field its JSON key and its checker."""
    hints = typing.get_type_hints(cls)
    # Scalar fields are checked inline (isinstance against the accepted types,
    # bools refused where a number is expected); others call their checker.
    fields: list[tuple[str, Any, bool, Callable[[Any], _Bad] | None, _Checker | None]] = []
    for a in attrs.fields(cls):
        if a.name == "extra":
            continue
        check = _checker(hints[a.name])
        if check is None:
            continue
        scalar = _SCALARS.get(check)
        if scalar is not None:
            fields.append((json_name(a), scalar[0], scalar[1], scalar[2], None))
        else:
            fields.append((json_name(a), None, False, None, check))
    not_object = _expected("an object")

    def check_model(value: Any) -> None:
        if not isinstance(value, dict):
            raise not_object(value)
        get = value.get
        for key, accepted, no_bool, bad, check in fields:
            item = get(key)
            if item is None:
                continue
            try:
                if check is None:
                    if not isinstance(item, accepted) or (no_bool and item.__class__ is bool):
                        raise bad(item)  # type: ignore[misc]
                else:
                    check(item)
            except _Bad as problem:
                problem.path.append(f": {key}")
                raise

    return check_model


def _checker(tp: Any) -> _Checker | None:
    """The check for one annotation (``None``: anything goes), memoised."""
    if tp in _CHECKERS:
        return _CHECKERS[tp]
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _checker(options[0] if len(options) == 1 else Any)
    check: _Checker | None = None
    if tp is str:
        check = _scalar(str, False, "a string")
    elif tp is bool:
        check = _scalar(bool, False, "a boolean")
    elif tp is int:
        check = _scalar(int, True, "an integer")
    elif tp is float:
        check = _scalar((int, float), True, "a number")
    elif tp is datetime:
        check = _timestamp_checker()
    elif origin is dict:
        check = _dict_checker((typing.get_args(tp) or (str, Any))[1])
    elif origin is list:
        check = _list_checker((typing.get_args(tp) or (Any,))[0])
    elif isinstance(tp, type) and attrs.has(tp):
        check = _model_checker(tp)
    _CHECKERS[tp] = check
    return check


#: Scalar checker -> (accepted types, bools refused, error factory), for inlining.
_SCALARS: dict[_Checker, tuple[Any, bool, Callable[[Any], _Bad]]] = {}


def _scalar(accepted: Any, no_bool: bool, what: str) -> _Checker:
    bad = _expected(what)

    def check_scalar(value: Any) -> None:
        if not isinstance(value, accepted) or (no_bool and value.__class__ is bool):
            raise bad(value)

    _SCALARS[check_scalar] = (accepted, no_bool, bad)
    return check_scalar


def _timestamp_checker() -> _Checker:
    bad = _expected("a timestamp string")

    def check_timestamp(value: Any) -> None:
        if not isinstance(value, str):
            raise bad(value)
        try:
            parse_datetime(value)
        except ValueError:
            raise _Bad(": not a valid timestamp") from None

    return check_timestamp


def _dict_checker(item_tp: Any) -> _Checker:
    # Metadata is dict[str, str]: a plugin must not find a number or a list in it.
    item_check = _checker(item_tp)
    bad = _expected("an object")

    def check_dict(value: Any) -> None:
        if not isinstance(value, dict):
            raise bad(value)
        if item_check is None:
            return
        for item in value.values():
            if item is None:
                raise _Bad(": null value")
            try:
                item_check(item)
            except _Bad as problem:
                problem.path.append(" values")
                raise

    return check_dict


def _list_checker(item_tp: Any) -> _Checker:
    item_check = _checker(item_tp)
    bad = _expected("an array")

    def check_list(value: Any) -> None:
        if not isinstance(value, list):
            raise bad(value)
        for i, item in enumerate(value):
            if item is None:
                problem = _Bad(": null item")
                problem.path.append(f"[{i}]")
                raise problem
            if item_check is not None:
                try:
                    item_check(item)
                except _Bad as problem:
                    problem.path.append(f"[{i}]")
                    raise

    return check_list
