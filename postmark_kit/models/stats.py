"""Outbound statistics.

Each ``*Counts`` model has the totals for the range and ``days``, one row per
day (``date`` plus the same counters).  Endpoints whose keys are dynamic (email
clients, browser families, read times) return :class:`UsageCounts`, whose
``totals`` and ``days[i].counts`` map each name to its count.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs

from ..convert import Model, StructureError, check_json, converter, jfield, json_type

__all__ = [
    "BounceCounts",
    "BounceCountsDay",
    "ClickCounts",
    "ClickCountsDay",
    "ClickLocationCounts",
    "ClickLocationDay",
    "ClickPlatformDay",
    "ClickPlatformUsage",
    "OpenCounts",
    "OpenCountsDay",
    "OpenPlatformDay",
    "OpenPlatformUsage",
    "OutboundOverview",
    "SentCounts",
    "SentCountsDay",
    "SpamComplaintCounts",
    "SpamComplaintDay",
    "TrackedCounts",
    "TrackedDay",
    "UsageCounts",
    "UsageDay",
]


@attrs.define(frozen=True)
class OutboundOverview(Model):
    """Totals of sending activity over a range."""

    sent: int | None = None
    bounced: int | None = None
    smtp_api_errors: int | None = None
    bounce_rate: float | None = None
    spam_complaints: int | None = None
    spam_complaints_rate: float | None = None
    opens: int | None = None
    unique_opens: int | None = None
    tracked: int | None = None
    with_client_recorded: int | None = None
    with_platform_recorded: int | None = None
    with_read_time_recorded: int | None = None
    total_clicks: int | None = None
    unique_links_clicked: int | None = None
    total_tracked_links_sent: int | None = None
    with_link_tracking: int | None = None
    with_open_tracking: int | None = None


@attrs.define(frozen=True)
class SentCountsDay(Model):
    date: date | None = None
    sent: int | None = None


@attrs.define(frozen=True)
class SentCounts(Model):
    days: list[SentCountsDay] = attrs.field(factory=list)
    sent: int | None = None


@attrs.define(frozen=True)
class BounceCountsDay(Model):
    date: date | None = None
    hard_bounce: int | None = None
    soft_bounce: int | None = None
    smtp_api_error: int | None = None
    transient: int | None = None


@attrs.define(frozen=True)
class BounceCounts(Model):
    days: list[BounceCountsDay] = attrs.field(factory=list)
    hard_bounce: int | None = None
    soft_bounce: int | None = None
    smtp_api_error: int | None = None
    transient: int | None = None


@attrs.define(frozen=True)
class SpamComplaintDay(Model):
    date: date | None = None
    spam_complaint: int | None = None


@attrs.define(frozen=True)
class SpamComplaintCounts(Model):
    days: list[SpamComplaintDay] = attrs.field(factory=list)
    spam_complaint: int | None = None


@attrs.define(frozen=True)
class TrackedDay(Model):
    date: date | None = None
    tracked: int | None = None


@attrs.define(frozen=True)
class TrackedCounts(Model):
    days: list[TrackedDay] = attrs.field(factory=list)
    tracked: int | None = None


@attrs.define(frozen=True)
class OpenCountsDay(Model):
    date: date | None = None
    opens: int | None = None
    unique: int | None = None


@attrs.define(frozen=True)
class OpenCounts(Model):
    days: list[OpenCountsDay] = attrs.field(factory=list)
    opens: int | None = None
    unique: int | None = None


@attrs.define(frozen=True)
class OpenPlatformDay(Model):
    date: date | None = None
    desktop: int | None = None
    mobile: int | None = None
    web_mail: int | None = None
    unknown: int | None = None


@attrs.define(frozen=True)
class OpenPlatformUsage(Model):
    days: list[OpenPlatformDay] = attrs.field(factory=list)
    desktop: int | None = None
    mobile: int | None = None
    web_mail: int | None = None
    unknown: int | None = None


@attrs.define(frozen=True)
class ClickCountsDay(Model):
    date: date | None = None
    clicks: int | None = None
    unique: int | None = None


@attrs.define(frozen=True)
class ClickCounts(Model):
    days: list[ClickCountsDay] = attrs.field(factory=list)
    clicks: int | None = None
    unique: int | None = None


@attrs.define(frozen=True)
class ClickPlatformDay(Model):
    date: date | None = None
    desktop: int | None = None
    mobile: int | None = None
    unknown: int | None = None


@attrs.define(frozen=True)
class ClickPlatformUsage(Model):
    days: list[ClickPlatformDay] = attrs.field(factory=list)
    desktop: int | None = None
    mobile: int | None = None
    unknown: int | None = None


@attrs.define(frozen=True)
class ClickLocationDay(Model):
    date: date | None = None
    html: int | None = jfield("HTML")
    text: int | None = None


@attrs.define(frozen=True)
class ClickLocationCounts(Model):
    days: list[ClickLocationDay] = attrs.field(factory=list)
    html: int | None = jfield("HTML")
    text: int | None = None


@attrs.define(frozen=True)
class UsageDay:
    """One day of a dynamic-key breakdown: ``counts`` maps e.g. client name -> opens."""

    date: date | None = None
    counts: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class UsageCounts:
    """A breakdown whose keys are names (email clients, browsers, read-time buckets)."""

    days: list[UsageDay] = attrs.field(factory=list)
    totals: dict[str, Any] = attrs.field(factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.totals[name]


def _structure_usage(data: Any, _: Any) -> UsageCounts:
    # The keys are data, not schema: keep them as names -> counts.
    check_json(data)
    if data.__class__ is not dict:
        raise StructureError(f" must be an object, got {json_type(data)}")
    days = data.get("Days") or []
    if days.__class__ is not list:
        raise StructureError(f": Days must be an array, got {json_type(days)}")
    out = []
    for i, day in enumerate(days):
        if day.__class__ is not dict:
            raise StructureError(f": Days[{i}] must be an object, got {json_type(day)}")
        try:
            when = _parse_day(day.get("Date"))
        except ValueError:
            raise StructureError(f": Days[{i}]: Date is not a valid date") from None
        out.append(UsageDay(date=when, counts={k: v for k, v in day.items() if k != "Date"}))
    return UsageCounts(days=out, totals={k: v for k, v in data.items() if k != "Days"})


def _parse_day(value: Any) -> date | None:
    return None if not value else date.fromisoformat(str(value)[:10])


converter.register_structure_hook(UsageCounts, _structure_usage)
