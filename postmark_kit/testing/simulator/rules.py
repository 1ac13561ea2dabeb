"""What Postmark checks on a message before accepting it, and its bounce-testing addresses.

Sources: the Email API page (https://postmarkapp.com/developer/api/email-api: field
types, 50 recipients, Tag, Metadata, attachments), the API overview's error codes
(https://postmarkapp.com/developer/api/overview#error-codes: 403 incompatible JSON,
411 forbidden attachment type, 413 payload too large) and the sandbox/bounce testing
page (https://postmarkapp.com/developer/user-guide/sending-email/sandbox-mode).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .records import JSON, fail

#: Postmark's size limit of one message, attachments included (HTTP 413 beyond).
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_TAG_LENGTH = 1000
MAX_METADATA_FIELDS = 10
MAX_METADATA_KEY_LENGTH = 20
MAX_METADATA_VALUE_LENGTH = 80

#: File extensions Postmark refuses as attachments (ErrorCode 411).
FORBIDDEN_EXTENSIONS = frozenset(
    {
        "vbs", "exe", "bin", "bat", "chm", "com", "cpl", "crt", "hlp", "hta", "inf",
        "ins", "isp", "jse", "lnk", "mdb", "pcd", "pif", "reg", "scr", "sct", "shs",
        "vbe", "vba", "wsf", "wsh", "wsl", "msc", "msi", "msp", "mst",
    }
)  # fmt: skip

_STRING_FIELDS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Tag",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "MessageStream",
    "TemplateAlias",
)
_TRACK_LINKS = ("None", "HtmlAndText", "HtmlOnly", "TextOnly")


def _incompatible(message: str) -> Exception:
    return fail(403, f"Incompatible JSON: {message}")


def check_message(body: JSON) -> None:
    """Types, limits and attachments of one message, as Postmark checks them (422/413)."""
    for key in _STRING_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _incompatible(f"'{key}' must be a string.")
    track_opens = body.get("TrackOpens")
    if track_opens is not None and not isinstance(track_opens, bool):
        raise _incompatible("'TrackOpens' must be true or false.")
    track_links = body.get("TrackLinks")
    if track_links is not None and track_links not in _TRACK_LINKS:
        raise _incompatible(f"'TrackLinks' must be one of {', '.join(_TRACK_LINKS)}.")
    if len(body.get("Tag") or "") > MAX_TAG_LENGTH:
        raise fail(300, f"The Tag is longer than {MAX_TAG_LENGTH} characters.")
    check_metadata(body.get("Metadata"))
    headers = body.get("Headers")
    if headers is not None and not (
        isinstance(headers, list)
        and all(
            isinstance(h, dict) and isinstance(h.get("Name"), str) and "Value" in h for h in headers
        )
    ):
        raise _incompatible('\'Headers\' must be a list of {"Name", "Value"} objects.')
    size = sum(len(str(body.get(k) or "").encode()) for k in ("Subject", "HtmlBody", "TextBody"))
    size += check_attachments(body.get("Attachments"))
    if size > MAX_MESSAGE_BYTES:
        raise fail(300, "The message is larger than Postmark's 10 MB limit.", status=413)


def check_metadata(metadata: Any) -> None:
    """Metadata: an object of at most 10 string fields, keys <= 20 and values <= 80 chars."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _incompatible("'Metadata' must be an object.")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _incompatible(f"Metadata value of '{key}' must be a string.")
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise fail(300, f"Metadata field name '{key}' is longer than 20 characters.")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise fail(300, f"Metadata value of '{key}' is longer than 80 characters.")
    if len(metadata) > MAX_METADATA_FIELDS:
        raise fail(300, f"Metadata has more than {MAX_METADATA_FIELDS} fields.")


def check_attachments(attachments: Any) -> int:
    """Check the attachments; return their decoded size in bytes."""
    if attachments is None:
        return 0
    if not isinstance(attachments, list):
        raise _incompatible("'Attachments' must be a list.")
    size = 0
    for item in attachments:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise _incompatible("Each attachment needs a 'Name'.")
        name = item["Name"]
        ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
        if ext in FORBIDDEN_EXTENSIONS:
            raise fail(411, f"Forbidden attachment type: '{name}'.")
        content = item.get("Content")
        if not isinstance(content, str):
            raise _incompatible(f"Attachment '{name}' needs base64 'Content'.")
        try:
            size += len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            raise fail(300, f"Attachment '{name}' is not valid base64.") from None
    return size


# -- bounce testing ---------------------------------------------------------------

BOUNCE_TESTING_DOMAIN = "bounce-testing.postmarkapp.com"

#: type -> (TypeCode, Name, Description, deactivates the address)
BOUNCE_TYPES: dict[str, tuple[int, str, str, bool]] = {
    "HardBounce": (1, "Hard bounce", "The server was unable to deliver your message.", True),
    "Transient": (2, "Message delayed", "The server could not temporarily deliver.", False),
    "Unsubscribe": (16, "Unsubscribe request", "Unsubscribe or remove request.", False),
    "Subscribe": (32, "Subscribe request", "Subscribe request from someone.", False),
    "AutoResponder": (64, "Auto responder", "Automatic email responder.", False),
    "AddressChange": (128, "Address change", "The recipient requested a change.", False),
    "DnsError": (256, "DNS error", "A temporary DNS error.", False),
    "SpamNotification": (512, "Spam notification", "Blocked as spam by the server.", False),
    "OpenRelayTest": (1024, "Open relay test", "An open relay test message.", False),
    "Unknown": (2048, "Unknown type", "Unable to classify the bounce.", False),
    "SoftBounce": (4096, "Soft bounce", "Unable to temporarily deliver this email.", False),
    "VirusNotification": (8192, "Virus notification", "A virus was found.", False),
    "ChallengeVerification": (16384, "Spam challenge verification", "A challenge.", False),
    "BadEmailAddress": (100000, "Invalid email address", "The address is invalid.", True),
    "SpamComplaint": (
        100001,
        "Spam complaint",
        "The subscriber explicitly marked this message as spam.",
        True,
    ),
    "ManuallyDeactivated": (100002, "Manually deactivated", "Deactivated by you.", True),
    "Unconfirmed": (100003, "Registration not confirmed", "Not confirmed.", False),
    "Blocked": (100006, "ISP block", "Blocked by the receiving server.", False),
    "SMTPApiError": (100007, "SMTP API error", "Error in the SMTP API.", False),
    "InboundError": (100008, "Processing failed", "Inbound processing failed.", False),
    "DMARCPolicy": (100009, "DMARC Policy", "Refused by the DMARC policy.", False),
    "TemplateRenderingFailed": (
        100010,
        "Template rendering failed",
        "The template could not be rendered with the model.",
        False,
    ),
}
_BY_LOCAL_PART = {name.lower(): name for name in BOUNCE_TYPES}


def bounce_address(bounce_type: str) -> str:
    """The bounce-testing address that makes Postmark answer ``bounce_type``."""
    if bounce_type not in BOUNCE_TYPES:
        raise ValueError(f"unknown bounce type {bounce_type!r}; one of {sorted(BOUNCE_TYPES)}")
    return f"{bounce_type.lower()}@{BOUNCE_TESTING_DOMAIN}"


def bounce_type_for(address: str) -> str | None:
    """The bounce type a send to ``address`` produces, or None if it is delivered.

    Any address at the bounce-testing domain bounces (case-insensitively); the local
    part names the type, and an unknown one is a hard bounce.
    """
    local, _, domain = address.lower().rpartition("@")
    if domain != BOUNCE_TESTING_DOMAIN:
        return None
    return _BY_LOCAL_PART.get(local, "HardBounce")
