"""Configuration of the webhooks Postmark sends (not the payloads: see the receiver)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..convert import Model
from .common import Header, headers_list

__all__ = [
    "BounceTrigger",
    "HttpAuth",
    "OpenTrigger",
    "SpamComplaintTrigger",
    "Trigger",
    "Webhook",
    "WebhookTriggers",
]


@attrs.define(frozen=True)
class HttpAuth(Model):
    """Basic-auth credentials Postmark sends with each webhook call.

    The password is never shown by ``repr``.
    """

    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)


@attrs.define(frozen=True)
class Trigger(Model):
    """A webhook trigger that is just on or off (Click, Delivery, SubscriptionChange)."""

    enabled: bool | None = None


@attrs.define(frozen=True)
class OpenTrigger(Trigger):
    """Open trigger; ``post_first_open_only`` sends only the first open of a message."""

    post_first_open_only: bool | None = None


@attrs.define(frozen=True)
class BounceTrigger(Trigger):
    """Bounce trigger; ``include_content`` adds the bounced message's content."""

    include_content: bool | None = None


@attrs.define(frozen=True)
class SpamComplaintTrigger(Trigger):
    """Spam complaint trigger; ``include_content`` adds the message's content."""

    include_content: bool | None = None


@attrs.define(frozen=True)
class WebhookTriggers(Model):
    """Which events a webhook receives.

    In a request, a trigger left ``None`` (or a trigger field left ``None``)
    is not sent, so ``update`` leaves it as it is.
    """

    open: OpenTrigger | None = None
    click: Trigger | None = None
    delivery: Trigger | None = None
    bounce: BounceTrigger | None = None
    spam_complaint: SpamComplaintTrigger | None = None
    subscription_change: Trigger | None = None


def _header_names(headers: list[Header] | None) -> str:
    """Header values often carry shared secrets: ``repr`` shows only the names."""
    if headers is None:
        return "None"
    return repr([h.name for h in headers])


def _headers(value: Mapping[str, str] | Iterable[Header] | None) -> list[Header] | None:
    return headers_list(value)


def _headers_or_empty(value: Any) -> list[Header]:
    return headers_list(value) or []


@attrs.define(frozen=True)
class Webhook(Model):
    """A webhook configured on a message stream of the server."""

    id: int | None = None
    url: str | None = None
    message_stream: str | None = None
    http_auth: HttpAuth | None = None
    http_headers: list[Header] = attrs.field(
        factory=list, converter=_headers_or_empty, repr=_header_names
    )
    triggers: WebhookTriggers | None = None


@attrs.define(frozen=True, kw_only=True)
class WebhookFields:
    """Body of create/update: fields left ``None`` are not sent (kept unchanged)."""

    url: str | None = None
    message_stream: str | None = None
    http_auth: HttpAuth | None = None
    http_headers: list[Header] | None = attrs.field(default=None, converter=_headers)
    triggers: WebhookTriggers | None = None
