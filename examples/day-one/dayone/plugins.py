"""The bounce plugin, installed through the ``postmark_kit`` entry point as a class."""

from __future__ import annotations

from flask import current_app

from postmark_kit import Email, ServerClient, hookimpl
from postmark_kit.events import BounceEvent

from . import users


class BounceWatcher:
    """A hard bounce marks the user ``bounced`` and tells the admin, through the client.

    postmark-kit instantiates the class once per app (no arguments) and runs
    its hooks inside that app's application context in every dispatch mode,
    so ``current_app`` is the app the webhook came to.
    """

    plugin_name = "dayone-bounce-watcher"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def postmark_bounce(self, event: BounceEvent, client: ServerClient | None) -> None:
        if event.type != "HardBounce" or event.email is None:
            return
        self.seen.append(event.email)
        users.mark_bounced(event.email)
        if client is not None:  # calling Postmark back from a plugin
            client.email.send(
                Email(
                    from_email=current_app.config["DAYONE_SENDER"],
                    to=current_app.config["DAYONE_ADMIN_EMAIL"],
                    subject=f"Hard bounce: {event.email}",
                    text_body=f"{event.email} bounced: {event.description}",
                    tag="bounce-alert",
                )
            )
