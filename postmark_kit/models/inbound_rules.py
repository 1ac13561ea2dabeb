"""Inbound blocking rules (triggers)."""

from __future__ import annotations

import attrs

from ..convert import Model

__all__ = ["InboundRule"]


@attrs.define(frozen=True)
class InboundRule(Model):
    """An address or domain whose inbound mail Postmark blocks."""

    id: int | None = None
    rule: str | None = None
