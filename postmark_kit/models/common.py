"""Small shapes shared by several API areas."""

from __future__ import annotations

import base64
import mimetypes
import os
from typing import Any

import attrs

from ..convert import Model

__all__ = ["ActionResult", "Attachment", "Dump", "EmailAddress", "Header"]


@attrs.define(frozen=True)
class Header(Model):
    """A mail header as Postmark lists them: ``{"Name": ..., "Value": ...}``."""

    name: str | None = None
    value: str | None = None


@attrs.define(frozen=True)
class EmailAddress(Model):
    """One parsed address (``FromFull``, ``ToFull[i]``, an outbound ``To[i]``)."""

    email: str | None = None
    name: str | None = None
    mailbox_hash: str | None = None


@attrs.define(frozen=True)
class Attachment(Model):
    """A file attached to an email, its bytes base64-encoded in ``content``.

    Build one with :meth:`from_bytes` or :meth:`from_path`; read one with
    :meth:`decode`.  Inbound webhooks from Postmark's "send test" button carry
    the base64 under ``Data``: that is accepted too and lands in ``content``.
    """

    name: str | None = None
    content: str | None = None
    content_type: str | None = None
    content_id: str | None = None
    content_length: int | None = None

    @classmethod
    def from_bytes(
        cls,
        name: str,
        data: bytes,
        content_type: str | None = None,
        *,
        content_id: str | None = None,
    ) -> Attachment:
        if content_type is None:
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(
            name=name,
            content=base64.b64encode(data).decode("ascii"),
            content_type=content_type,
            content_id=content_id,
        )

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        content_type: str | None = None,
        *,
        name: str | None = None,
        content_id: str | None = None,
    ) -> Attachment:
        with open(path, "rb") as fh:
            data = fh.read()
        return cls.from_bytes(
            name or os.path.basename(os.fspath(path)), data, content_type, content_id=content_id
        )

    def decode(self) -> bytes:
        """The attachment's bytes (base64 decoded on demand, not at parse time)."""
        raw = self.content if self.content is not None else self.extra.get("Data")
        if not raw:
            return b""
        return base64.b64decode(raw)


@attrs.define(frozen=True)
class ActionResult(Model):
    """The ``{"ErrorCode": 0, "Message": "..."}`` answer of deletes and actions."""

    error_code: int | None = None
    message: str | None = None


@attrs.define(frozen=True)
class Dump(Model):
    """Raw source of a message or bounce (``Body``); empty when no longer kept."""

    body: str | None = None


def headers_list(value: Any) -> list[Header] | None:
    """Headers given as a mapping, ``(name, value)`` pairs or :class:`Header` s, as a list."""
    if value is None:
        return None
    if isinstance(value, dict):
        return [Header(name=k, value=v) for k, v in value.items()]
    return [h if isinstance(h, Header) else Header(name=h[0], value=h[1]) for h in value]
