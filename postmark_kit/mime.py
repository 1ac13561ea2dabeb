"""Between the standard library's ``email.message`` and :class:`~postmark_kit.Email`.

Used by :meth:`Email.from_message <postmark_kit.Email.from_message>` and
:meth:`Email.to_message <postmark_kit.Email.to_message>`, by the CLI's ``.eml``
sending and by the Django backend (for ``MIMEBase`` attachments).

Postmark's SMTP headers mean the same as the API fields, both ways:
``X-PM-Tag``, ``X-PM-Metadata-<key>``, ``X-PM-Message-Stream``,
``X-PM-TrackOpens`` and ``X-PM-TrackLinks``.
"""

from __future__ import annotations

import email.header
import email.message
from collections.abc import Iterator
from email import policy as email_policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from .errors import ClientValidationError
from .models.common import Attachment, Header

if TYPE_CHECKING:
    from .models.email import Email

__all__ = ["attachment_from_part", "email_to_message", "message_fields"]

#: Headers that map to Email fields, or that Postmark sets itself.
_SKIPPED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version"}
)
_TAG = "x-pm-tag"
_STREAM = "x-pm-message-stream"
_TRACK_OPENS = "x-pm-trackopens"
_TRACK_LINKS = "x-pm-tracklinks"
_METADATA = "x-pm-metadata-"


def _modern(message: email.message.Message) -> email.message.EmailMessage:
    """The message under the modern policy (decoded headers, ``get_body``)."""
    if isinstance(message, email.message.EmailMessage) and isinstance(
        message.policy, email_policy.EmailPolicy
    ):
        return message
    return BytesParser(policy=email_policy.default).parsebytes(message.as_bytes())


def _walk_leaves(part: email.message.Message) -> Iterator[email.message.Message]:
    """Every leaf part, an attached message (``message/rfc822``) counted as one leaf."""
    if part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, email.message.Message):
                    yield from _walk_leaves(sub)
        return
    yield part


def attachment_from_part(part: email.message.Message) -> Attachment:
    """One MIME part as an :class:`Attachment` (its ``Content-ID`` as Postmark's ``cid:...``)."""
    content_type = part.get_content_type()
    if content_type == "message/rfc822" or part.is_multipart():
        inner = part.get_payload(0) if content_type == "message/rfc822" else part
        if not isinstance(inner, email.message.Message):
            raise ClientValidationError(f"cannot read the {content_type} part")
        data = inner.as_bytes()
        default_name = "message.eml" if content_type == "message/rfc822" else "attachment"
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        default_name = "attachment"
    cid = part.get("Content-ID")
    cid_text = str(cid).strip().strip("<>") if cid else None
    return Attachment.from_bytes(
        part.get_filename() or cid_text or default_name,
        data,
        content_type,
        content_id=f"cid:{cid_text}" if cid_text else None,
    )


def message_fields(message: email.message.Message) -> dict[str, Any]:
    """The :class:`Email` fields of a parsed message (any policy), for ``Email(**fields)``.

    The first ``text/plain`` and ``text/html`` body parts become the bodies;
    every other leaf part (inline images of a ``multipart/related`` too) an
    attachment.  Headers are decoded (RFC 2047): non-ASCII names come out as text.
    :meth:`Email.from_message <postmark_kit.Email.from_message>` builds the
    email; this module stays below the models (no import cycle).
    """
    msg = _modern(message)
    # A legacy (compat32) message's headers are read from the original and
    # decoded here: its writer can wrap a whole "Näme <a@b>" in one encoded
    # word, which a strict parser would take for a bare local part.
    items = (
        [(name, str(value)) for name, value in msg.items()]
        if msg is message
        else [(name, _decode(value)) for name, value in message.items()]
    )

    def addresses(name: str) -> str | None:
        values = [v for n, v in items if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    bodies = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = [attachment_from_part(p) for p in _walk_leaves(msg) if id(p) not in bodies]
    headers: list[Header] = []
    metadata: dict[str, str] = {}
    tag = stream = track_links = None
    track_opens: bool | None = None
    for name, text in items:
        lower = name.lower()
        if lower in _SKIPPED_HEADERS or lower.startswith("content-"):
            continue
        if lower == _TAG:
            tag = text
        elif lower == _STREAM:
            stream = text
        elif lower == _TRACK_OPENS:
            track_opens = text.strip().lower() == "true"
        elif lower == _TRACK_LINKS:
            track_links = text.strip()
        elif lower.startswith(_METADATA):
            metadata[name[len(_METADATA) :]] = text
        else:
            headers.append(Header(name=name, value=text))
    subject = next((v for n, v in items if n.lower() == "subject"), None)
    return dict(
        from_email=addresses("From"),
        to=addresses("To"),
        cc=addresses("Cc"),
        bcc=addresses("Bcc"),
        reply_to=addresses("Reply-To"),
        subject=subject,
        text_body=_text(text_part),
        html_body=_text(html_part),
        tag=tag,
        message_stream=stream,
        track_opens=track_opens,
        track_links=track_links,
        metadata=metadata or None,
        headers=headers or None,
        attachments=attachments or None,
    )


def _decode(value: Any) -> str:
    """A legacy header value as text (RFC 2047 encoded words decoded)."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _text(part: email.message.MIMEPart | None) -> str | None:
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def email_to_message(email_: Email) -> email.message.EmailMessage:
    """The :class:`Email` as a MIME message (what Postmark would build from it).

    Text parts are written line by line, as every MIME writer does: line
    endings become ``\\n`` and the body ends with one.  ``Bcc`` is kept as a
    header (``smtplib.SMTP.send_message`` drops it before sending).  Attachments
    with a ``content_id`` go, inline, into a ``multipart/related`` beside the
    HTML body.
    """
    msg = email.message.EmailMessage(policy=email_policy.default)
    for name, value in (
        ("From", email_.from_email),
        ("To", email_.to),
        ("Cc", email_.cc),
        ("Bcc", email_.bcc),
        ("Reply-To", email_.reply_to),
        ("Subject", email_.subject),
    ):
        if value is not None:
            msg[name] = value
    for header in email_.headers or ():
        if header.name:
            msg[header.name] = header.value or ""
    if email_.tag is not None:
        msg["X-PM-Tag"] = email_.tag
    for key, value in (email_.metadata or {}).items():
        msg[f"X-PM-Metadata-{key}"] = value
    if email_.message_stream is not None:
        msg["X-PM-Message-Stream"] = email_.message_stream
    if email_.track_opens is not None:
        msg["X-PM-TrackOpens"] = "true" if email_.track_opens else "false"
    if email_.track_links is not None:
        msg["X-PM-TrackLinks"] = email_.track_links
    if email_.text_body is not None:
        msg.set_content(email_.text_body)
        if email_.html_body is not None:
            msg.add_alternative(email_.html_body, subtype="html")
    elif email_.html_body is not None:
        msg.set_content(email_.html_body, subtype="html")
    else:
        msg.set_content("")
    inline = [a for a in email_.attachments or () if a.content_id]
    others = [a for a in email_.attachments or () if not a.content_id]
    html = msg.get_body(preferencelist=("html",)) if email_.html_body is not None else None
    for attachment in inline:
        target = html if html is not None else msg
        _add(target, attachment, related=html is not None)
    for attachment in others:
        _add(msg, attachment, related=False)
    return msg


def _add(target: email.message.MIMEPart, attachment: Attachment, *, related: bool) -> None:
    maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition("/")
    data = attachment.decode()
    cid = attachment.content_id
    kw: dict[str, Any] = {"filename": attachment.name or "attachment"}
    if cid:
        kw["cid"] = "<" + cid.removeprefix("cid:").strip("<>") + ">"
        kw["disposition"] = "inline"
    add = target.add_related if related else target.add_attachment
    if maintype.lower() == "message" and subtype.lower() == "rfc822":
        inner = BytesParser(policy=email_policy.default).parsebytes(data)
        add(inner, **kw)
        return
    add(data, maintype=maintype or "application", subtype=subtype or "octet-stream", **kw)
