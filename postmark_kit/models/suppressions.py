"""Suppressions: addresses a message stream will not send to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from ..convert import Model

__all__ = [
    "Suppression",
    "SuppressionOrigin",
    "SuppressionReason",
    "SuppressionResult",
    "SuppressionStatus",
]


class SuppressionReason(StrEnum):
    """Why an address is suppressed.  Fields stay ``str``: new reasons pass through."""

    HARD_BOUNCE = "HardBounce"
    SPAM_COMPLAINT = "SpamComplaint"
    MANUAL_SUPPRESSION = "ManualSuppression"


class SuppressionOrigin(StrEnum):
    """Who suppressed it: the recipient, you (Customer) or Postmark staff (Admin)."""

    RECIPIENT = "Recipient"
    CUSTOMER = "Customer"
    ADMIN = "Admin"


class SuppressionStatus(StrEnum):
    """Outcome of suppressing or reactivating one address."""

    SUPPRESSED = "Suppressed"
    DELETED = "Deleted"
    FAILED = "Failed"


@attrs.define(frozen=True)
class Suppression(Model):
    """One suppressed address of a stream (suppression dump)."""

    email_address: str | None = None
    suppression_reason: str | None = None
    origin: str | None = None
    created_at: datetime | None = None


@attrs.define(frozen=True)
class SuppressionResult(Model):
    """Postmark's answer for one address of a create or delete call.

    Postmark applies the change asynchronously (it can take a minute); a
    refused address is reported here (``ok`` is False), not raised.
    """

    email_address: str | None = None
    status: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status != SuppressionStatus.FAILED
