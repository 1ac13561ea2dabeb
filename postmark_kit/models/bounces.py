"""Bounces and delivery statistics."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from ..convert import Model, jfield

__all__ = ["Bounce", "BounceActivation", "BounceCount", "BounceType", "DeliveryStats"]


class BounceType(StrEnum):
    """Postmark's bounce types.  Fields stay ``str``: new types pass through."""

    HARD_BOUNCE = "HardBounce"
    TRANSIENT = "Transient"
    UNSUBSCRIBE = "Unsubscribe"
    SUBSCRIBE = "Subscribe"
    AUTO_RESPONDER = "AutoResponder"
    ADDRESS_CHANGE = "AddressChange"
    DNS_ERROR = "DnsError"
    SPAM_NOTIFICATION = "SpamNotification"
    OPEN_RELAY_TEST = "OpenRelayTest"
    UNKNOWN = "Unknown"
    SOFT_BOUNCE = "SoftBounce"
    VIRUS_NOTIFICATION = "VirusNotification"
    CHALLENGE_VERIFICATION = "ChallengeVerification"
    BAD_EMAIL_ADDRESS = "BadEmailAddress"
    SPAM_COMPLAINT = "SpamComplaint"
    MANUALLY_DEACTIVATED = "ManuallyDeactivated"
    UNCONFIRMED = "Unconfirmed"
    BLOCKED = "Blocked"
    SMTP_API_ERROR = "SMTPApiError"
    INBOUND_ERROR = "InboundError"
    DMARC_POLICY = "DMARCPolicy"
    TEMPLATE_RENDERING_FAILED = "TemplateRenderingFailed"


@attrs.define(frozen=True)
class Bounce(Model):
    """One bounce (API) -- the Bounce webhook carries the same shape."""

    record_type: str | None = None
    id: int | None = None
    type: str | None = None
    type_code: int | None = None
    name: str | None = None
    tag: str | None = None
    message_id: str | None = None
    server_id: int | None = None
    message_stream: str | None = None
    description: str | None = None
    details: str | None = None
    email: str | None = None
    from_email: str | None = jfield("From")
    bounced_at: datetime | None = None
    dump_available: bool | None = None
    inactive: bool | None = None
    can_activate: bool | None = None
    subject: str | None = None
    content: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class BounceActivation(Model):
    """Answer of ``activate``: a message and the bounce as it is now."""

    message: str | None = None
    bounce: Bounce | None = None


@attrs.define(frozen=True)
class BounceCount(Model):
    name: str | None = None
    count: int | None = None
    type: str | None = None


@attrs.define(frozen=True)
class DeliveryStats(Model):
    """Inactive addresses and bounce counts by type."""

    inactive_mails: int | None = None
    bounces: list[BounceCount] = attrs.field(factory=list)
