"""Block inbound senders by pattern: refuse the message and tell Postmark to block them too."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable

from ..client import ServerClient
from ..errors import PostmarkError
from ..events import InboundMessage
from ..hookspecs import hookimpl
from ..webhook import Reject

__all__ = ["BlockSendersPlugin"]

log = logging.getLogger("postmark_kit.plugins.blocklist")


class BlockSendersPlugin:
    """Inbound mail from a sender matching a pattern is rejected (403, no retries).

    Patterns are shell-style, case-insensitive: ``spam@example.com``,
    ``*@example.net``, ``*.biz``.  On a match the plugin also creates a Postmark
    inbound rule through the callback client, so Postmark blocks the sender
    (``rule="address"``) or its whole domain (``rule="domain"``) before it ever
    reaches the webhook again.  Configure with ``POSTMARK_BLOCKED_SENDERS``.
    """

    plugin_name = "postmark-kit-block-senders"

    def __init__(self, patterns: Iterable[str], *, rule: str = "address") -> None:
        if rule not in ("address", "domain"):
            raise ValueError("rule must be 'address' or 'domain'")
        self.patterns = tuple(p.strip().lower() for p in patterns if p.strip())
        self.rule = rule
        self.blocked: set[str] = set()

    def matches(self, sender: str) -> bool:
        sender = sender.strip().lower()
        return any(fnmatch.fnmatchcase(sender, p) for p in self.patterns)

    @hookimpl
    def postmark_inbound(self, event: InboundMessage, client: ServerClient | None) -> None:
        sender = event.from_full.email if event.from_full and event.from_full.email else None
        sender = sender or event.from_email
        if not sender or not self.matches(sender):
            return
        target = sender.strip().lower()
        if self.rule == "domain" and "@" in target:
            target = target.rsplit("@", 1)[1]
        if client is None:
            log.warning("no callback client: cannot create an inbound rule for %s", target)
        elif target not in self.blocked:
            try:
                client.inbound_rules.create(target)
            except PostmarkError as exc:
                # Already blocked (or the API is down): the message is refused either way.
                log.warning("could not create inbound rule for %s: %s", target, exc)
            else:
                log.info("created inbound rule blocking %s", target)
                self.blocked.add(target)
        raise Reject(f"sender {sender} is blocked")
