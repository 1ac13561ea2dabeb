"""A plugin that always fails, loaded by name (POSTMARK_PLUGINS) for ``events replay --now``."""

from __future__ import annotations

from typing import Any

from postmark_kit import hookimpl


class AlwaysFails:
    plugin_name = "broken"

    @hookimpl
    def postmark_bounce(self, event: Any) -> None:
        raise RuntimeError("still down")
