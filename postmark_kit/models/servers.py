"""Servers: the current server (server token) and every server of the account."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from ..convert import Model, jfield
from ..errors import ClientValidationError

__all__ = ["DeliveryType", "Server", "ServerColor"]


class ServerColor(StrEnum):
    """Colours Postmark's UI offers for a server.  Fields stay ``str``."""

    PURPLE = "Purple"
    BLUE = "Blue"
    TURQUOISE = "Turquoise"
    GREEN = "Green"
    RED = "Red"
    YELLOW = "Yellow"
    GREY = "Grey"
    ORANGE = "Orange"


class DeliveryType(StrEnum):
    """``Live`` delivers; ``Sandbox`` accepts and discards (set at creation only)."""

    LIVE = "Live"
    SANDBOX = "Sandbox"


@attrs.define(frozen=True)
class Server(Model):
    """A Postmark server and its settings.

    ``api_tokens`` holds the server's tokens: it is left out of ``repr``.
    """

    id: int | None = None
    name: str | None = None
    api_tokens: list[str] = attrs.field(factory=list, repr=False)
    color: str | None = None
    smtp_api_activated: bool | None = jfield("SmtpApiActivated")
    raw_email_enabled: bool | None = None
    delivery_type: str | None = None
    server_link: str | None = None
    inbound_address: str | None = None
    inbound_hook_url: str | None = None
    bounce_hook_url: str | None = None
    open_hook_url: str | None = None
    delivery_hook_url: str | None = None
    click_hook_url: str | None = None
    post_first_open_only: bool | None = None
    inbound_domain: str | None = None
    inbound_hash: str | None = None
    inbound_spam_threshold: int | None = None
    track_opens: bool | None = None
    track_links: str | None = None
    include_bounce_content_in_hook: bool | None = None
    enable_smtp_api_error_hooks: bool | None = jfield("EnableSmtpApiErrorHooks")


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _check_spam_threshold(_: Any, __: Any, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 30 or value % 5:
        raise ClientValidationError(
            f"inbound_spam_threshold must be 0-30 in steps of 5, got {value!r}"
        )


@attrs.define(frozen=True, kw_only=True)
class ServerFields:
    """Body of server create/update: fields left ``None`` are not sent (kept unchanged)."""

    name: str | None = None
    color: str | None = attrs.field(default=None, converter=_opt_str)
    raw_email_enabled: bool | None = None
    smtp_api_activated: bool | None = jfield("SmtpApiActivated")
    inbound_hook_url: str | None = None
    bounce_hook_url: str | None = None
    open_hook_url: str | None = None
    delivery_hook_url: str | None = None
    click_hook_url: str | None = None
    post_first_open_only: bool | None = None
    inbound_domain: str | None = None
    inbound_spam_threshold: int | None = attrs.field(default=None, validator=_check_spam_threshold)
    track_opens: bool | None = None
    track_links: str | None = attrs.field(default=None, converter=_opt_str)
    include_bounce_content_in_hook: bool | None = None
    enable_smtp_api_error_hooks: bool | None = jfield("EnableSmtpApiErrorHooks")
    #: Only when creating a server.
    delivery_type: str | None = attrs.field(default=None, converter=_opt_str)
