"""A host app with an app factory, for tests that load it by name (``POSTMARK_FLASK_APP``).

Its plugin records, for each event, the app it ran under (``current_app``) and
a setting of the host's config outside ``POSTMARK_*``, in ``SEEN`` (this
process) and, when ``HOST_APP_CALLS`` names a file, one JSON line per call
(other processes).
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, current_app

from postmark_kit import hookimpl
from postmark_kit.receiver import PostmarkReceiver

SEEN: list[tuple[str, str, Any]] = []


class ContextProbe:
    plugin_name = "context-probe"

    def __init__(self) -> None:
        self.app: Flask | None = None

    @hookimpl
    def postmark_configure(self, app: Flask) -> None:
        self.app = app

    @hookimpl
    def postmark_bounce(self, event: Any) -> None:
        record = (current_app.name, current_app.config.get("DATABASE_URL"), event.id)
        SEEN.append(record)
        path = os.environ.get("HOST_APP_CALLS")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")


receiver = PostmarkReceiver(plugins=[ContextProbe()])


def create_app() -> Flask:
    app = Flask("host-app")
    app.config.update(
        DATABASE_URL="sqlite:///host.db",
        POSTMARK_LOAD_ENTRYPOINTS=False,
        POSTMARK_WEBHOOK_USERNAME="postmark",
        POSTMARK_WEBHOOK_PASSWORD="s3cret-pass",
    )
    app.config.from_prefixed_env("HOST")  # HOST_POSTMARK_DISPATCH=journal ...
    receiver.init_app(app)
    return app


class BrokenOnClick:
    """Fails on every click: its error must reach the logs with time, level and pid."""

    plugin_name = "broken-on-click"

    @hookimpl
    def postmark_click(self, event: Any) -> None:
        raise RuntimeError("the CRM is down")
