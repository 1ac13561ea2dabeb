"""The plugin module: registered as a whole through the ``postmark_kit`` entry point."""

from __future__ import annotations

import csv
import os
import threading
from typing import Any

from postmark_kit import hookimpl
from postmark_kit.events import BounceEvent, SpamComplaintEvent, SubscriptionChangeEvent

_lock = threading.Lock()
_settings: dict[str, Any] = {"path": None}

COLUMNS = ("when", "email", "reason", "message_stream", "message_id")


@hookimpl
def postmark_configure(config: dict[str, Any]) -> None:
    _settings["path"] = config.get("POSTMARK_CSV_EXPORT_PATH") or os.environ.get(
        "POSTMARK_CSV_EXPORT_PATH"
    )


def _append(row: tuple[Any, ...]) -> None:
    path = _settings["path"]
    if not path:
        return
    with _lock:
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        with open(path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow(row)


@hookimpl
def postmark_bounce(event: BounceEvent) -> None:
    if event.type == "HardBounce" or event.inactive:
        when = event.bounced_at.isoformat() if event.bounced_at else ""
        _append((when, event.email, event.type, event.message_stream, event.message_id))


@hookimpl
def postmark_spam_complaint(event: SpamComplaintEvent) -> None:
    when = event.bounced_at.isoformat() if event.bounced_at else ""
    _append((when, event.email, "SpamComplaint", event.message_stream, event.message_id))


@hookimpl
def postmark_subscription_change(event: SubscriptionChangeEvent) -> None:
    if event.suppress_sending:
        when = event.changed_at.isoformat() if event.changed_at else ""
        reason = event.suppression_reason or "ManualSuppression"
        _append((when, event.recipient, reason, event.message_stream, event.message_id))
