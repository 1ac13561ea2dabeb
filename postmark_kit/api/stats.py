"""Outbound statistics (computed by Postmark in US Eastern time)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from ..models.stats import (
    BounceCounts,
    ClickCounts,
    ClickLocationCounts,
    ClickPlatformUsage,
    OpenCounts,
    OpenPlatformUsage,
    OutboundOverview,
    SentCounts,
    SpamComplaintCounts,
    TrackedCounts,
    UsageCounts,
)
from ..pagination import format_date
from ._base import Resource

__all__ = ["StatsApi"]

T = TypeVar("T")
DateLike = date | datetime | None


class StatsApi(Resource):
    """``client.stats``.

    Every method takes ``tag``, ``from_date``, ``to_date`` and ``message_stream``.

    Dates are whole days (a ``datetime`` is cut to its date in Postmark's time
    zone); without a range, stats cover all time.
    """

    def _stats(
        self,
        path: str,
        cls: type[T],
        tag: str | None,
        from_date: DateLike,
        to_date: DateLike,
        message_stream: str | None,
    ) -> T:
        params: dict[str, str] = {}
        if tag is not None:
            params["tag"] = tag
        if from_date is not None:
            params["fromdate"] = format_date(from_date, with_time=False)
        if to_date is not None:
            params["todate"] = format_date(to_date, with_time=False)
        if message_stream is not None:
            params["messagestream"] = message_stream
        return self._call("GET", "/stats/outbound" + path, cls, params=params)

    def get_outbound_overview(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> OutboundOverview:
        return self._stats("", OutboundOverview, tag, from_date, to_date, message_stream)

    def get_sent_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> SentCounts:
        return self._stats("/sends", SentCounts, tag, from_date, to_date, message_stream)

    def get_bounce_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> BounceCounts:
        return self._stats("/bounces", BounceCounts, tag, from_date, to_date, message_stream)

    def get_spam_complaint_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> SpamComplaintCounts:
        return self._stats("/spam", SpamComplaintCounts, tag, from_date, to_date, message_stream)

    def get_tracked_email_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> TrackedCounts:
        return self._stats("/tracked", TrackedCounts, tag, from_date, to_date, message_stream)

    def get_open_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> OpenCounts:
        return self._stats("/opens", OpenCounts, tag, from_date, to_date, message_stream)

    def get_open_platform_usage(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> OpenPlatformUsage:
        return self._stats(
            "/opens/platforms", OpenPlatformUsage, tag, from_date, to_date, message_stream
        )

    def get_open_client_usage(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> UsageCounts:
        """Opens by email client: ``result.totals["Apple Mail"]``."""
        return self._stats(
            "/opens/emailclients", UsageCounts, tag, from_date, to_date, message_stream
        )

    def get_open_read_times(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> UsageCounts:
        """Opens by read-time bucket.  Undocumented upstream: may change."""
        return self._stats("/opens/readtimes", UsageCounts, tag, from_date, to_date, message_stream)

    def get_click_counts(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> ClickCounts:
        return self._stats("/clicks", ClickCounts, tag, from_date, to_date, message_stream)

    def get_click_browser_usage(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> UsageCounts:
        """Clicks by browser family: ``result.totals["Chrome"]``."""
        return self._stats(
            "/clicks/browserfamilies", UsageCounts, tag, from_date, to_date, message_stream
        )

    def get_click_platform_usage(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> ClickPlatformUsage:
        return self._stats(
            "/clicks/platforms", ClickPlatformUsage, tag, from_date, to_date, message_stream
        )

    def get_click_location(
        self,
        *,
        tag: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        message_stream: str | None = None,
    ) -> ClickLocationCounts:
        """Clicks in the HTML part vs the text part."""
        return self._stats(
            "/clicks/location", ClickLocationCounts, tag, from_date, to_date, message_stream
        )
