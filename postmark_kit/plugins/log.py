"""Log one line per event: enough to follow the traffic, never a body or a token."""

from __future__ import annotations

import logging

from ..events import Event
from ..hookspecs import hookimpl
from ..webhook import Webhook

__all__ = ["LoggingPlugin"]


def _who(event: Event) -> str:
    for name in ("recipient", "email", "from_email"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    return "-"


class LoggingPlugin:
    """Logs every event at INFO on ``postmark_kit.events``."""

    plugin_name = "postmark-kit-logging"

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.logger = logger or logging.getLogger("postmark_kit.events")
        self.level = level

    @hookimpl
    def postmark_event(self, event: Event, webhook: Webhook) -> None:
        detail = getattr(event, "type", None) or getattr(event, "record_type", None) or ""
        self.logger.log(
            self.level,
            "postmark %s %s %s key=%s retries_remaining=%s",
            webhook.kind,
            detail,
            _who(event),
            webhook.dedupe_key,
            webhook.retries_remaining,
        )
