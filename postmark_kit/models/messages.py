"""Sent and received messages, and their open/click events."""

from __future__ import annotations

import email.utils
from datetime import datetime
from typing import Any

import attrs

from ..convert import Model, jfield
from .common import Attachment, EmailAddress, Header

__all__ = [
    "ClickEvent",
    "Geo",
    "InboundAttachment",
    "InboundMessage",
    "InboundMessageDetails",
    "InboundMessageSummary",
    "MessageEvent",
    "OpenEvent",
    "OutboundMessage",
    "OutboundMessageDetails",
    "UserAgentInfo",
]


@attrs.define(frozen=True)
class OutboundMessage(Model):
    """A sent message as the outbound search lists it."""

    tag: str | None = None
    message_id: str | None = None
    message_stream: str | None = None
    to: list[EmailAddress] = attrs.field(factory=list)
    cc: list[EmailAddress] = attrs.field(factory=list)
    bcc: list[EmailAddress] = attrs.field(factory=list)
    recipients: list[str] = attrs.field(factory=list)
    received_at: datetime | None = None
    from_email: str | None = jfield("From")
    subject: str | None = None
    attachments: list[Any] = attrs.field(factory=list)
    status: str | None = None
    track_opens: bool | None = None
    track_links: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)
    sandboxed: bool | None = None


@attrs.define(frozen=True)
class MessageEvent(Model):
    """One step in a sent message's history (Delivered, Opened, Bounced...)."""

    recipient: str | None = None
    type: str | None = None
    received_at: datetime | None = None
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class OutboundMessageDetails(OutboundMessage):
    """A sent message with its bodies and event history."""

    text_body: str | None = None
    html_body: str | None = None
    body: str | None = None
    message_events: list[MessageEvent] = attrs.field(factory=list)


@attrs.define(frozen=True)
class InboundAttachment(Attachment):
    """An attachment of an inbound email; ``disposition`` is ``inline`` or ``attachment``."""

    disposition: str | None = None


@attrs.define(frozen=True)
class InboundMessageSummary(Model):
    """A received message as the inbound search lists it.

    ``date`` is kept as Postmark sends it (an RFC 2822 string); see :attr:`received_date`.
    """

    from_email: str | None = jfield("From")
    from_name: str | None = None
    from_full: EmailAddress | None = None
    to: str | None = None
    to_full: list[EmailAddress] = attrs.field(factory=list)
    cc: str | None = None
    cc_full: list[EmailAddress] = attrs.field(factory=list)
    reply_to: str | None = None
    original_recipient: str | None = None
    subject: str | None = None
    date: str | None = None
    mailbox_hash: str | None = None
    tag: str | None = None
    message_id: str | None = None
    status: str | None = None
    attachments: list[InboundAttachment] = attrs.field(factory=list)
    message_stream: str | None = None

    @property
    def received_date(self) -> datetime | None:
        """``date`` parsed, or ``None`` when absent or unparsable."""
        if not self.date:
            return None
        try:
            return email.utils.parsedate_to_datetime(self.date)
        except (TypeError, ValueError):
            return None


@attrs.define(frozen=True)
class InboundMessage(InboundMessageSummary):
    """A parsed inbound email: the inbound webhook's payload.

    Attachments stay base64 until you call
    ``attachment.decode()``.
    """

    bcc: str | None = None
    bcc_full: list[EmailAddress] = attrs.field(factory=list)
    text_body: str | None = None
    html_body: str | None = None
    stripped_text_reply: str | None = None
    headers: list[Header] = attrs.field(factory=list)
    raw_email: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for h in self.headers:
            if h.name is not None and h.name.lower() == wanted:
                return h.value
        return None

    @property
    def spam_status(self) -> str | None:
        """``X-Spam-Status`` as SpamAssassin set it (``Yes``/``No``)."""
        return self.header("X-Spam-Status")

    @property
    def is_spam(self) -> bool:
        status = self.spam_status
        return bool(status) and status.strip().lower().startswith("yes")  # type: ignore[union-attr]

    @property
    def spam_score(self) -> float | None:
        value = self.header("X-Spam-Score")
        try:
            return float(value) if value not in (None, "") else None
        except ValueError:
            return None

    @property
    def spam_tests(self) -> list[str]:
        value = self.header("X-Spam-Tests") or ""
        return [t.strip() for t in value.split(",") if t.strip()]


@attrs.define(frozen=True)
class InboundMessageDetails(InboundMessage):
    """An inbound message fetched through the API (adds why it was blocked)."""

    blocked_reason: str | None = None


@attrs.define(frozen=True)
class UserAgentInfo(Model):
    """``Client`` or ``OS`` of an open/click."""

    name: str | None = None
    company: str | None = None
    family: str | None = None


@attrs.define(frozen=True)
class Geo(Model):
    """Where an open or click came from (by IP)."""

    country_iso_code: str | None = None
    country: str | None = None
    region_iso_code: str | None = None
    region: str | None = None
    city: str | None = None
    zip: str | None = None
    coords: str | None = None
    ip: str | None = None


@attrs.define(frozen=True)
class _TrackingEvent(Model):
    record_type: str | None = None
    message_stream: str | None = None
    client: UserAgentInfo | None = None
    os: UserAgentInfo | None = None
    platform: str | None = None
    user_agent: str | None = None
    geo: Geo | None = None
    message_id: str | None = None
    received_at: datetime | None = None
    tag: str | None = None
    recipient: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class OpenEvent(_TrackingEvent):
    """A recipient opened a message (API open search and the Open webhook)."""

    first_open: bool | None = None
    read_seconds: int | None = None


@attrs.define(frozen=True)
class ClickEvent(_TrackingEvent):
    """A recipient clicked a tracked link (API click search and the Click webhook)."""

    click_location: str | None = None
    original_link: str | None = None
