"""Message streams: transactional, broadcast and inbound channels of a server."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from ..convert import Model

__all__ = [
    "ArchivedMessageStream",
    "MessageStream",
    "MessageStreamType",
    "SubscriptionManagementConfiguration",
    "UnsubscribeHandlingType",
]


class MessageStreamType(StrEnum):
    """Kinds of stream.  Only Transactional and Broadcasts streams can be created."""

    TRANSACTIONAL = "Transactional"
    BROADCASTS = "Broadcasts"
    INBOUND = "Inbound"


class UnsubscribeHandlingType(StrEnum):
    """Who handles unsubscribes: nobody, Postmark (adds a link), or you (``Custom``)."""

    NONE = "None"
    POSTMARK = "Postmark"
    CUSTOM = "Custom"


@attrs.define(frozen=True)
class SubscriptionManagementConfiguration(Model):
    """Unsubscribe handling of a stream; also what ``create``/``update`` send."""

    unsubscribe_handling_type: str | None = attrs.field(
        default=None, converter=attrs.converters.optional(str)
    )


@attrs.define(frozen=True)
class MessageStream(Model):
    """One stream.  ``archived_at``/``expected_purge_date`` are set while archived."""

    id: str | None = None
    server_id: int | None = None
    name: str | None = None
    description: str | None = None
    message_stream_type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived_at: datetime | None = None
    expected_purge_date: datetime | None = None
    subscription_management_configuration: SubscriptionManagementConfiguration | None = None


@attrs.define(frozen=True)
class ArchivedMessageStream(Model):
    """Answer of ``archive``: the stream can be unarchived until ``expected_purge_date``."""

    id: str | None = None
    server_id: int | None = None
    expected_purge_date: datetime | None = None


@attrs.define(frozen=True, kw_only=True)
class MessageStreamFields:
    """Body of create/update: fields left ``None`` are not sent (kept unchanged)."""

    id: str | None = None
    name: str | None = None
    message_stream_type: str | None = None
    description: str | None = None
    subscription_management_configuration: SubscriptionManagementConfiguration | None = None
