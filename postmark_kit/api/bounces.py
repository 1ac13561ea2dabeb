"""Bounces: search, details, dumps, reactivation, delivery stats."""

from __future__ import annotations

from datetime import date, datetime

from ..concurrency import DEFAULT_CONCURRENCY
from ..models.bounces import Bounce, BounceActivation, BounceType, DeliveryStats
from ..models.common import Dump
from ..pagination import MAX_COUNT, MAX_WINDOW, Page, PageStream, earlier_to_date, paginate
from ._base import Resource, query, seg

__all__ = ["BouncesApi"]


def _bounced_at(bounce: Bounce) -> datetime | None:
    return bounce.bounced_at


def _bounce_id(bounce: Bounce) -> object:
    return bounce.id


class BouncesApi(Resource):
    """``client.bounces``."""

    def get_delivery_stats(self) -> DeliveryStats:
        """Inactive addresses and bounce counts by type."""
        return self._call("GET", "/deliverystats", DeliveryStats)

    def list(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        type: str | BounceType | None = None,
        inactive: bool | None = None,
        email_filter: str | None = None,
        tag: str | None = None,
        message_id: str | None = None,
        from_date: date | datetime | None = None,
        to_date: date | datetime | None = None,
        message_stream: str | None = None,
    ) -> Page[Bounce]:
        """One page of bounces, newest first."""
        params = query(
            type=type,
            inactive=inactive,
            emailFilter=email_filter,
            tag=tag,
            messageID=message_id,
            fromdate=from_date,
            todate=to_date,
            messagestream=message_stream,
        )
        return self._page(
            "/bounces", "Bounces", Bounce, params, count, offset, max_window=MAX_WINDOW
        )

    def stream(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        concurrency: int = DEFAULT_CONCURRENCY,
        type: str | BounceType | None = None,
        inactive: bool | None = None,
        email_filter: str | None = None,
        tag: str | None = None,
        message_id: str | None = None,
        from_date: date | datetime | None = None,
        to_date: date | datetime | None = None,
        message_stream: str | None = None,
    ) -> PageStream[Bounce]:
        """Every matching bounce, lazily, past the 10,000 window.

        ``concurrency``: pages fetched at once on the client's pooled connections
        (default 4, at most 8; 1 fetches strictly one after another).
        """

        def fetch(count: int, offset: int, narrowed: datetime | None) -> Page[Bounce]:
            return self.list(
                count=count,
                offset=offset,
                type=type,
                inactive=inactive,
                email_filter=email_filter,
                tag=tag,
                message_id=message_id,
                from_date=from_date,
                to_date=earlier_to_date(to_date, narrowed),
                message_stream=message_stream,
            )

        return paginate(
            fetch,
            concurrency=concurrency,
            throttle=self._transport.throttle,
            page_size=page_size,
            max_items=max_items,
            timestamp=_bounced_at,
            key=_bounce_id,
        )

    def get(self, bounce_id: int) -> Bounce:
        return self._call("GET", f"/bounces/{seg(bounce_id)}", Bounce)

    def get_dump(self, bounce_id: int) -> Dump:
        """Raw SMTP source of a bounce (kept 30 days)."""
        return self._call("GET", f"/bounces/{seg(bounce_id)}/dump", Dump)

    def activate(self, bounce_id: int) -> BounceActivation:
        """Reactivate the bounced address so it can be sent to again."""
        return self._call("PUT", f"/bounces/{seg(bounce_id)}/activate", BounceActivation)
