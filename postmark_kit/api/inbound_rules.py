"""Inbound rule triggers: block senders or domains from reaching the inbound stream."""

from __future__ import annotations

from collections.abc import Iterator

from ..models.common import ActionResult
from ..models.inbound_rules import InboundRule
from ..pagination import MAX_COUNT, Page, paginate
from ._base import Resource, seg

__all__ = ["InboundRulesApi"]


class InboundRulesApi(Resource):
    """``client.inbound_rules``."""

    _PATH = "/triggers/inboundrules"

    def list(self, *, count: int = 100, offset: int = 0) -> Page[InboundRule]:
        return self._page(self._PATH, "InboundRules", InboundRule, {}, count, offset)

    def stream(self, *, max_items: int | None = None) -> Iterator[InboundRule]:
        return paginate(
            lambda c, o, _: self.list(count=c, offset=o),
            page_size=MAX_COUNT,
            max_items=max_items,
            max_window=None,
        )

    def create(self, rule: str) -> InboundRule:
        """Block ``rule``: an email address or a domain."""
        return self._call("POST", self._PATH, InboundRule, json_body={"Rule": rule})

    def delete(self, rule_id: int) -> ActionResult:
        return self._call("DELETE", f"{self._PATH}/{seg(rule_id)}", ActionResult)
