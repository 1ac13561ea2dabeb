"""What plugins and dispatchers get besides the event: the received request, and ``Reject``.

Below :mod:`postmark_kit.hookspecs` and the built-in plugins, above nothing
but attrs: a plugin can name these types without importing the receiver
(Flask).  Re-exported from :mod:`postmark_kit.receiver` and
:mod:`postmark_kit.receiver.dispatch`, where they were first documented.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


@attrs.frozen
class Webhook:
    """One received webhook request, as plugins and dispatchers may need it.

    Event hooks receive it as the optional third argument ``webhook``: name
    it in your hook function's signature to get it.

    The receiver keeps the body once, as text: a 40 MB inbound message is
    40 MB of text plus its parsed ``payload``, not also 40 MB of bytes.
    :attr:`body` encodes a fresh copy on each read (one more body's worth of
    memory while you hold it); :attr:`text` costs nothing.  ``body=`` takes
    either the bytes or the decoded text.
    """

    #: The body as received: text (what the receiver passes) or bytes.
    _body: bytes | str = attrs.field(alias="body", repr=False, eq=_as_bytes)
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

    @property
    def body(self) -> bytes:
        """The request body exactly as received (keep it to replay or audit).

        Encoded from :attr:`text` on each read: keep it in a local
        (``raw = webhook.body``) rather than reading it again and again.
        """
        return _as_bytes(self._body)

    @property
    def text(self) -> str:
        """The body as text (UTF-8 decoded): what the receiver holds, free to read."""
        body = self._body
        return body if isinstance(body, str) else body.decode("utf-8")

    @property
    def body_size(self) -> int:
        """The body's length in bytes, without encoding a copy of it."""
        body = self._body
        if isinstance(body, bytes) or body.isascii():
            return len(body)
        return sum(len(chunk) for chunk in self.iter_body())

    def iter_body(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The body's bytes in pieces of about ``chunk_size``: to write it out without a copy."""
        body = self._body
        for start in range(0, len(body), chunk_size):
            piece = body[start : start + chunk_size]
            yield piece.encode("utf-8") if isinstance(piece, str) else piece
