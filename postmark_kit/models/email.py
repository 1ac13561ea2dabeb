"""Outgoing email: what you send and what Postmark answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import getaddresses
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

from ..convert import Model, jfield
from ..mime import email_to_message, message_fields
from .common import Attachment, Header, headers_list

if TYPE_CHECKING:
    import email.message

__all__ = [
    "BulkEmail",
    "BulkRecipient",
    "BulkSendResult",
    "BulkStatus",
    "Email",
    "SendResult",
    "TemplatedEmail",
    "TrackLinks",
]


class TrackLinks(StrEnum):
    """Values of ``TrackLinks``."""

    NONE = "None"
    HTML_AND_TEXT = "HtmlAndText"
    HTML_ONLY = "HtmlOnly"
    TEXT_ONLY = "TextOnly"


def _addresses(value: str | Iterable[str] | None) -> str | None:
    """Postmark takes one comma-separated string; accept a list too."""
    if value is None or isinstance(value, str):
        return value
    return ", ".join(value)


def _headers(value: Mapping[str, str] | Iterable[Header] | None) -> list[Header] | None:
    return headers_list(value)


def _attachments(value: Iterable[Attachment] | None) -> list[Attachment] | None:
    return None if value is None else list(value)


def _track_links(value: str | TrackLinks | None) -> str | None:
    return None if value is None else str(value)


def _count_addresses(value: str | None) -> int:
    if not value:
        return 0
    if "," not in value:  # one address: no list to split (batch sends check every message)
        return 0 if value.isspace() else 1
    # parsed, not split: '"Doe, Jane" <j@x.com>' is one recipient
    return sum(1 for name, addr in getaddresses([value]) if addr or name)


@attrs.define(frozen=True)
class _Sendable:
    """Fields common to every kind of send."""

    from_email: str | None = jfield("From", kw_only=True)
    to: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    cc: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    bcc: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    reply_to: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    tag: str | None = attrs.field(default=None, kw_only=True)
    metadata: dict[str, str] | None = attrs.field(default=None, kw_only=True)
    headers: list[Header] | None = attrs.field(default=None, converter=_headers, kw_only=True)
    attachments: list[Attachment] | None = attrs.field(
        default=None, converter=_attachments, kw_only=True
    )
    track_opens: bool | None = attrs.field(default=None, kw_only=True)
    track_links: str | None = attrs.field(default=None, converter=_track_links, kw_only=True)
    message_stream: str | None = attrs.field(default=None, kw_only=True)

    def recipient_count(self) -> int:
        return _count_addresses(self.to) + _count_addresses(self.cc) + _count_addresses(self.bcc)


@attrs.define(frozen=True)
class Email(_Sendable):
    """One email.  Fields left as ``None`` are not sent.

    ``to``/``cc``/``bcc``/``reply_to`` take a string or a list of addresses;
    ``headers`` a mapping or a list of :class:`Header`.
    """

    subject: str | None = attrs.field(default=None, kw_only=True)
    html_body: str | None = attrs.field(default=None, kw_only=True)
    text_body: str | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def from_message(cls, message: email.message.Message) -> Email:
        """An email from a standard-library message (parsed ``.eml``, ``EmailMessage``...).

        See :func:`postmark_kit.mime.message_fields`.
        """
        return cls(**message_fields(message))

    def to_message(self) -> email.message.EmailMessage:
        """This email as a standard-library ``EmailMessage`` (see :mod:`postmark_kit.mime`)."""
        return email_to_message(self)


@attrs.define(frozen=True)
class TemplatedEmail(_Sendable):
    """An email rendered by Postmark from a stored template (by id or alias)."""

    template_id: int | None = jfield("TemplateId", kw_only=True)
    template_alias: str | None = attrs.field(default=None, kw_only=True)
    template_model: dict[str, Any] | None = attrs.field(default=None, kw_only=True)
    inline_css: bool | None = attrs.field(default=None, kw_only=True)


@attrs.define(frozen=True)
class SendResult(Model):
    """Postmark's answer to one send.  In a batch, check :attr:`ok` per item."""

    to: str | None = None
    submitted_at: datetime | None = None
    message_id: str | None = None
    error_code: int | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code == 0


@attrs.define(frozen=True)
class BulkRecipient:
    """One recipient of a bulk send, with its own template model and metadata."""

    to: str | None = attrs.field(default=None, converter=_addresses)
    cc: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    bcc: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    template_model: dict[str, Any] | None = attrs.field(default=None, kw_only=True)
    metadata: dict[str, str] | None = attrs.field(default=None, kw_only=True)
    headers: list[Header] | None = attrs.field(default=None, converter=_headers, kw_only=True)


@attrs.define(frozen=True)
class BulkEmail:
    """A bulk request: content defined once, sent to many recipients (broadcast stream)."""

    from_email: str | None = jfield("From", kw_only=True)
    messages: list[BulkRecipient] = attrs.field(factory=list, converter=list, kw_only=True)
    subject: str | None = attrs.field(default=None, kw_only=True)
    html_body: str | None = attrs.field(default=None, kw_only=True)
    text_body: str | None = attrs.field(default=None, kw_only=True)
    template_id: int | None = jfield("TemplateId", kw_only=True)
    template_alias: str | None = attrs.field(default=None, kw_only=True)
    inline_css: bool | None = attrs.field(default=None, kw_only=True)
    reply_to: str | None = attrs.field(default=None, converter=_addresses, kw_only=True)
    tag: str | None = attrs.field(default=None, kw_only=True)
    metadata: dict[str, str] | None = attrs.field(default=None, kw_only=True)
    headers: list[Header] | None = attrs.field(default=None, converter=_headers, kw_only=True)
    track_opens: bool | None = attrs.field(default=None, kw_only=True)
    track_links: str | None = attrs.field(default=None, converter=_track_links, kw_only=True)
    attachments: list[Attachment] | None = attrs.field(
        default=None, converter=_attachments, kw_only=True
    )
    message_stream: str | None = attrs.field(default=None, kw_only=True)


@attrs.define(frozen=True)
class BulkSendResult(Model):
    """Postmark accepted a bulk request; poll :meth:`EmailApi.get_bulk_status` with ``id``."""

    id: str | None = None
    status: str | None = None
    submitted_at: datetime | None = None


@attrs.define(frozen=True)
class BulkStatus(Model):
    """Progress of a bulk request."""

    id: str | None = jfield("Id")
    submitted_at: datetime | None = None
    total_messages: int | None = None
    percentage_completed: float | None = None
    status: str | None = None
    subject: str | None = None
