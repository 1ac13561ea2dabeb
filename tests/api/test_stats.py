"""client.stats: all 13 outbound statistics endpoints."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from postmark_kit.convert import Model
from postmark_kit.models.stats import (
    BounceCounts,
    BounceCountsDay,
    ClickCounts,
    ClickLocationCounts,
    ClickLocationDay,
    ClickPlatformUsage,
    OpenCounts,
    OpenPlatformUsage,
    OutboundOverview,
    SentCounts,
    SentCountsDay,
    SpamComplaintCounts,
    TrackedCounts,
    UsageCounts,
    UsageDay,
)
from tests.api._wire import assert_request, only_request, query_of
from tests.conftest import API, load_response

#: method, operation id, path, model class
ENDPOINTS = [
    ("get_outbound_overview", "get_outbound_overview", "/stats/outbound", OutboundOverview),
    ("get_sent_counts", "get_sent_counts", "/stats/outbound/sends", SentCounts),
    ("get_bounce_counts", "get_bounce_counts", "/stats/outbound/bounces", BounceCounts),
    (
        "get_spam_complaint_counts",
        "get_spam_complaint_counts",
        "/stats/outbound/spam",
        SpamComplaintCounts,
    ),
    (
        "get_tracked_email_counts",
        "get_tracked_email_counts",
        "/stats/outbound/tracked",
        TrackedCounts,
    ),
    ("get_open_counts", "get_open_counts", "/stats/outbound/opens", OpenCounts),
    (
        "get_open_platform_usage",
        "get_open_platform_usage",
        "/stats/outbound/opens/platforms",
        OpenPlatformUsage,
    ),
    (
        "get_open_client_usage",
        "get_open_client_usage",
        "/stats/outbound/opens/emailclients",
        UsageCounts,
    ),
    (
        "get_open_read_times",
        "get_open_read_times",
        "/stats/outbound/opens/readtimes",
        UsageCounts,
    ),
    ("get_click_counts", "get_click_counts", "/stats/outbound/clicks", ClickCounts),
    (
        "get_click_browser_usage",
        "get_click_browser_usage",
        "/stats/outbound/clicks/browserfamilies",
        UsageCounts,
    ),
    (
        "get_click_platform_usage",
        "get_click_platform_usage",
        "/stats/outbound/clicks/platforms",
        ClickPlatformUsage,
    ),
    (
        "get_click_location",
        "get_click_location",
        "/stats/outbound/clicks/location",
        ClickLocationCounts,
    ),
]
IDS = [e[0] for e in ENDPOINTS]


def _models(obj: Any) -> list[Model]:
    """Every Model inside obj (itself, nested, in lists)."""
    found: list[Model] = []
    if isinstance(obj, Model):
        found.append(obj)
    if attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            found.extend(_models(getattr(obj, field.name)))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_models(item))
    return found


def test_every_stats_operation_is_covered() -> None:
    assert len(ENDPOINTS) == 13
    assert len({e[2] for e in ENDPOINTS}) == 13


@pytest.mark.parametrize(("method", "op_id", "path", "cls"), ENDPOINTS, ids=IDS)
def test_filters_query_and_typed_result(mock_api, server_client, method, op_id, path, cls) -> None:
    mock_api.get(f"{API}{path}", json=load_response(op_id))

    result = getattr(server_client.stats, method)(
        tag="welcome",
        from_date=date(2014, 1, 1),
        to_date=date(2014, 1, 5),
        message_stream="outbound",
    )

    assert_request(
        only_request(mock_api),
        "GET",
        path,
        query={
            "tag": "welcome",
            "fromdate": "2014-01-01",
            "todate": "2014-01-05",
            "messagestream": "outbound",
        },
    )
    assert type(result) is cls
    for model in _models(result):
        assert model.extra == {}, f"{type(model).__name__} left documented keys in extra"
    days = getattr(result, "days", None)
    if days is not None:
        assert days, "the documented example has daily rows"
        assert all(type(day.date) is date for day in days)
        assert days[0].date == date(2014, 1, 1)


@pytest.mark.parametrize(("method", "op_id", "path", "cls"), ENDPOINTS, ids=IDS)
def test_without_filters_no_query_is_sent(
    mock_api, server_client, method, op_id, path, cls
) -> None:
    mock_api.get(f"{API}{path}", json=load_response(op_id))

    getattr(server_client.stats, method)()

    assert_request(only_request(mock_api), "GET", path, query={})


def test_datetimes_are_cut_to_the_eastern_day(mock_api, server_client) -> None:
    mock_api.get(f"{API}/stats/outbound/sends", json=load_response("get_sent_counts"))

    server_client.stats.get_sent_counts(
        # 03:00 UTC on Feb 1st is still Jan 31st in New York.
        from_date=datetime(2014, 1, 1, 12, 0, tzinfo=UTC),
        to_date=datetime(2014, 2, 1, 3, 0, tzinfo=UTC),
    )

    assert query_of(only_request(mock_api)) == {"fromdate": "2014-01-01", "todate": "2014-01-31"}


def test_outbound_overview_values(mock_api, server_client) -> None:
    mock_api.get(f"{API}/stats/outbound", json=load_response("get_outbound_overview"))

    o = server_client.stats.get_outbound_overview()

    assert (o.sent, o.bounced, o.smtp_api_errors) == (615, 64, 25)
    assert o.bounce_rate == 10.406 and isinstance(o.bounce_rate, float)
    assert (o.spam_complaints, o.spam_complaints_rate) == (10, 1.626)
    assert (o.opens, o.unique_opens, o.tracked) == (166, 26, 111)
    assert (o.with_link_tracking, o.with_open_tracking) == (90, 51)
    assert (o.total_tracked_links_sent, o.unique_links_clicked, o.total_clicks) == (60, 30, 72)
    assert (o.with_client_recorded, o.with_platform_recorded) == (14, 10)
    assert o.with_read_time_recorded == 10


def test_daily_counts_values(mock_api, server_client) -> None:
    for op_id, path in [
        ("get_sent_counts", "sends"),
        ("get_bounce_counts", "bounces"),
        ("get_spam_complaint_counts", "spam"),
        ("get_tracked_email_counts", "tracked"),
        ("get_open_counts", "opens"),
        ("get_open_platform_usage", "opens/platforms"),
        ("get_click_counts", "clicks"),
        ("get_click_platform_usage", "clicks/platforms"),
        ("get_click_location", "clicks/location"),
    ]:
        mock_api.get(f"{API}/stats/outbound/{path}", json=load_response(op_id))
    stats = server_client.stats

    sent = stats.get_sent_counts()
    assert sent.sent == 615
    assert sent.days[1] == SentCountsDay(date=date(2014, 1, 2), sent=160)

    bounces = stats.get_bounce_counts()
    assert (bounces.hard_bounce, bounces.soft_bounce, bounces.transient) == (12, 36, 16)
    assert bounces.smtp_api_error == 25
    assert bounces.days[3] == BounceCountsDay(date=date(2014, 1, 5), smtp_api_error=25, transient=5)
    assert bounces.days[0].transient is None  # absent on that day

    spam = stats.get_spam_complaint_counts()
    assert spam.spam_complaint == 10
    assert [d.spam_complaint for d in spam.days] == [2, 3, 5]

    tracked = stats.get_tracked_email_counts()
    assert tracked.tracked == 111
    assert sum(d.tracked or 0 for d in tracked.days) == 111

    opens = stats.get_open_counts()
    assert (opens.opens, opens.unique) == (166, 26)
    assert (opens.days[0].opens, opens.days[0].unique) == (44, 4)

    platforms = stats.get_open_platform_usage()
    assert (platforms.desktop, platforms.mobile, platforms.web_mail, platforms.unknown) == (
        4,
        2,
        2,
        2,
    )
    assert platforms.days[0].web_mail == 1 and platforms.days[0].mobile is None

    clicks = stats.get_click_counts()
    assert (clicks.clicks, clicks.unique) == (115, 15)

    click_platforms = stats.get_click_platform_usage()
    assert (click_platforms.desktop, click_platforms.mobile, click_platforms.unknown) == (35, 22, 3)
    assert click_platforms.days[1].unknown == 3

    location = stats.get_click_location()
    assert (location.html, location.text) == (55, 15)
    assert location.days[0] == ClickLocationDay(date=date(2014, 1, 1), html=30, text=5)


@pytest.mark.parametrize(
    ("method", "op_id", "path", "totals", "first_day"),
    [
        (
            "get_open_client_usage",
            "get_open_client_usage",
            "opens/emailclients",
            {"Outlook 2010": 3, "Gmail": 3, "Apple Mail": 3, "iOS Mail": 1},
            {"Outlook 2010": 1, "Gmail": 2},
        ),
        (
            "get_click_browser_usage",
            "get_click_browser_usage",
            "clicks/browserfamilies",
            {"Chrome": 22, "Safari": 5, "Firefox": 3, "Internet Explorer": 2},
            {"Chrome": 10, "Safari": 5, "Firefox": 3},
        ),
        (
            "get_open_read_times",
            "get_open_read_times",
            "opens/readtimes",
            {"0s": 3, "1s": 4, "2s": 5, "5s": 1, "10s": 2, "20s+": 10},
            {"0s": 2, "1s": 4, "2s": 3, "5s": 1, "20s+": 6},
        ),
    ],
)
def test_dynamic_key_breakdowns(
    mock_api, server_client, method, op_id, path, totals, first_day
) -> None:
    mock_api.get(f"{API}/stats/outbound/{path}", json=load_response(op_id))

    usage = getattr(server_client.stats, method)()

    assert isinstance(usage, UsageCounts)
    assert usage.totals == totals
    name = next(iter(totals))
    assert usage[name] == totals[name]
    assert all(isinstance(d, UsageDay) for d in usage.days)
    assert usage.days[0] == UsageDay(date=date(2014, 1, 1), counts=first_day)
    assert [d.date for d in usage.days][:2] == [date(2014, 1, 1), date(2014, 1, 2)]
