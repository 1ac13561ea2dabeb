"""Every hook a postmark-kit plugin can implement: the extension surface in one file.

A plugin is any object or module with functions named like the hooks below,
marked with :data:`hookimpl`.  Implement only what you need; pluggy passes only
the arguments your function names, so ``def postmark_bounce(event): ...`` is fine.

Event hooks are called once per accepted webhook with ``event`` (a typed model
from :mod:`postmark_kit.events`) and ``client`` (a ready
:class:`~postmark_kit.ServerClient` built from ``POSTMARK_SERVER_TOKEN``, or
``None`` when no token is configured), and, if your function names it,
``webhook`` (:class:`~postmark_kit.receiver.Webhook`: the raw body, the dedupe
key stable across Postmark's retries, the trace id).  They run inside the
host app's application context in every dispatch mode (inline, the journal
worker, a Celery worker, ``events replay --now``): ``flask.current_app`` and
extensions built on it work.  Their return values are ignored.  An
exception makes the receiver answer with ``POSTMARK_FAILURE_STATUS`` (503) so
Postmark retries, except :class:`~postmark_kit.receiver.Reject`, which answers
403 so Postmark stops retrying.  Other plugins still see the event either way:
make handlers idempotent, because a retry reaches every plugin again.

Register plugins through the setuptools entry-point group ``postmark_kit``::

    [options.entry_points]
    postmark_kit =
        my_plugin = my_package.plugin
        bounce_watcher = my_package.plugins:BounceWatcher

An entry point naming a class is instantiated (no arguments) for each app, so
an app factory gives every app its own plugin objects; a module or a
module-level object is one object shared by every app of the process.  A
plugin's ``plugin_name`` attribute, if set, is the name its failures are
logged and journaled under (else the entry point's name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flask import Flask

    from .client import ServerClient
    from .events import (
        BounceEvent,
        ClickEvent,
        DeliveryEvent,
        Event,
        InboundMessage,
        OpenEvent,
        SpamComplaintEvent,
        SubscriptionChangeEvent,
    )
    from .webhook import Webhook

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name and the entry-point group plugins register under.
PROJECT_NAME = "postmark_kit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Mark a plugin function as an implementation of a hook (``postmark_kit.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- lifecycle -----------------------------------------------------------------


@hookspec
def postmark_configure(config: dict[str, Any], client: ServerClient | None, app: Flask) -> None:
    """Called once when the receiver is set up, before any event.

    ``config`` holds the receiver's ``POSTMARK_*`` settings (app config, and
    environment for the standalone app; for a receiver with a
    ``config_prefix``, its keys under their ``POSTMARK_*`` names).  ``app`` is
    the host Flask app: ``app.config`` has every other setting (a database
    URL...).  Called inside ``app``'s application context.  Open connections,
    read settings, validate them here: raising stops the app from starting,
    which beats failing per event.  Name only the arguments you use
    (``def postmark_configure(config)`` still works).
    """


@hookspec
def postmark_unconfigure(config: dict[str, Any], app: Flask | None) -> None:
    """Called once when the receiver shuts down (``PostmarkReceiver.shutdown``, app gone, exit).

    Close what ``postmark_configure`` opened.  ``app`` is ``None`` when the app
    was already garbage-collected.
    """


@hookspec
def postmark_add_routes(app: Flask, url_prefix: str) -> None:
    """Add extra routes (a health check, an admin page) to the Flask app.

    Called once by ``init_app`` after the webhook blueprint is registered.
    Routes you add are not protected by the webhook auth: protect them yourself.
    """


# -- events ----------------------------------------------------------------------


@hookspec
def postmark_event(event: Event, client: ServerClient | None, webhook: Webhook) -> None:
    """Every accepted event of any type, after its type-specific hook.

    Includes :class:`~postmark_kit.events.UnknownEvent` for a ``RecordType``
    this version does not know yet.
    """


@hookspec
def postmark_bounce(event: BounceEvent, client: ServerClient | None, webhook: Webhook) -> None:
    """A message bounced (also SMTP API errors: ``event.type == "SMTPApiError"``).

    ``event.inactive`` tells whether Postmark deactivated the address;
    ``event.type_code`` 1 is a hard bounce.
    """


@hookspec
def postmark_delivery(event: DeliveryEvent, client: ServerClient | None, webhook: Webhook) -> None:
    """The recipient's mail server accepted a message (``event.delivered_at``)."""


@hookspec
def postmark_open(event: OpenEvent, client: ServerClient | None, webhook: Webhook) -> None:
    """A recipient opened a tracked message (``event.first_open``, ``event.client.name``)."""


@hookspec
def postmark_click(event: ClickEvent, client: ServerClient | None, webhook: Webhook) -> None:
    """A recipient clicked a tracked link (``event.original_link``)."""


@hookspec
def postmark_spam_complaint(
    event: SpamComplaintEvent, client: ServerClient | None, webhook: Webhook
) -> None:
    """A recipient marked a message as spam; Postmark deactivates the address."""


@hookspec
def postmark_subscription_change(
    event: SubscriptionChangeEvent, client: ServerClient | None, webhook: Webhook
) -> None:
    """An address was suppressed (``event.suppress_sending`` true) or reactivated (false)."""


@hookspec
def postmark_inbound(event: InboundMessage, client: ServerClient | None, webhook: Webhook) -> None:
    """An email arrived on an inbound stream.

    Raise :class:`~postmark_kit.receiver.Reject` to refuse it for good (403:
    Postmark stops retrying); any other exception makes Postmark retry it for
    about ten hours.
    """
