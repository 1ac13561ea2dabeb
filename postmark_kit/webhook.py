"""What plugins and dispatchers get besides the event: the received request, and ``Reject``.

Below :mod:`postmark_kit.hookspecs` and the built-in plugins, above nothing
but attrs: a plugin can name these types without importing the receiver
(Flask).  Re-exported from :mod:`postmark_kit.receiver` and
:mod:`postmark_kit.receiver.dispatch`, where they were first documented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["Reject", "Webhook"]


class Reject(Exception):
    """Refuse an event for good: the receiver answers 403 and Postmark stops retrying.

    Meant for inbound mail you never want (Postmark retries any other failure
    for about ten hours).  The reason is logged and sent back in the response.
    """

    def __init__(self, reason: str = "rejected by plugin") -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class Webhook:
    """One received webhook request, as plugins and dispatchers may need it.

    Event hooks receive it as the optional third argument ``webhook``: name
    it in your hook function's signature to get it.
    """

    #: The request body exactly as received (keep it to replay or audit).
    body: bytes = attrs.field(repr=False)
    #: The decoded JSON object.
    payload: dict[str, Any] = attrs.field(repr=False)
    #: Stable across Postmark's retries of this event: see :func:`postmark_kit.events.dedupe_key`.
    dedupe_key: str
    #: ``bounce``, ``delivery``, ... ``inbound`` or ``unknown``.
    kind: str
    received_at: datetime
    #: ``X-PM-Webhook-Trace-Id`` when Postmark sent it.
    trace_id: str | None = None
    #: ``X-PM-Retries-Remaining`` when Postmark sent it.
    retries_remaining: int | None = None
    remote_addr: str | None = None
