"""client.bounces: delivery stats, search, details, dumps, reactivation."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from postmark_kit import ClientValidationError
from postmark_kit.models.bounces import (
    Bounce,
    BounceActivation,
    BounceCount,
    BounceType,
    DeliveryStats,
)
from postmark_kit.models.common import Dump
from tests.api._wire import NO_BODY, assert_request, only_request, query_of
from tests.conftest import API, load_response

EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))
BOUNCE_ID = 692560173


def _assert_first_bounce(bounce: Bounce) -> None:
    assert isinstance(bounce, Bounce)
    assert bounce.record_type == "Bounce"
    assert bounce.id == BOUNCE_ID
    assert bounce.type == "HardBounce" == BounceType.HARD_BOUNCE
    assert bounce.type_code == 1
    assert bounce.name == "Hard bounce"
    assert bounce.tag == "Invitation"
    assert bounce.message_id == "2c1b63fe-43f2-4db5-91b0-8bdfa44a9316"
    assert bounce.server_id == 23
    assert bounce.message_stream == "outbound"
    assert bounce.description is not None and bounce.description.startswith("The server was")
    assert bounce.details == "action: failed\r\n"
    assert bounce.email == "anything@blackhole.postmarkapp.com"
    assert bounce.from_email == "sender@postmarkapp.com"
    assert bounce.bounced_at == datetime(2014, 1, 15, 16, 9, 19, 642111, tzinfo=EST)
    assert bounce.bounced_at.utcoffset() is not None
    assert bounce.inactive is False
    assert bounce.can_activate is True
    assert bounce.subject == "SC API5 Test"
    assert bounce.extra == {}


def test_get_delivery_stats(mock_api, server_client) -> None:
    mock_api.get(f"{API}/deliverystats", json=load_response("get_delivery_stats"))

    stats = server_client.bounces.get_delivery_stats()

    assert_request(only_request(mock_api), "GET", "/deliverystats")
    assert isinstance(stats, DeliveryStats)
    assert stats.inactive_mails == 192
    assert len(stats.bounces) == 7
    assert all(isinstance(b, BounceCount) and b.extra == {} for b in stats.bounces)
    assert stats.bounces[0] == BounceCount(name="All", count=253, type=None)
    assert stats.bounces[1] == BounceCount(name="Hard bounce", count=195, type="HardBounce")
    assert {b.type: b.count for b in stats.bounces[1:]}["SpamComplaint"] == 1
    assert stats.extra == {}


def test_list_sends_every_filter_by_postmark_name(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces", json=load_response("list_bounces"))

    page = server_client.bounces.list(
        count=25,
        offset=50,
        type=BounceType.HARD_BOUNCE,
        inactive=True,
        email_filter="anything@blackhole.postmarkapp.com",
        tag="Invitation",
        message_id="2c1b63fe-43f2-4db5-91b0-8bdfa44a9316",
        from_date=date(2014, 1, 1),
        to_date=datetime(2014, 1, 31, 23, 59, 59, tzinfo=EST),
        message_stream="outbound",
    )

    assert_request(
        only_request(mock_api),
        "GET",
        "/bounces",
        query={
            "count": "25",
            "offset": "50",
            "type": "HardBounce",
            "inactive": "true",
            "emailFilter": "anything@blackhole.postmarkapp.com",
            "tag": "Invitation",
            "messageID": "2c1b63fe-43f2-4db5-91b0-8bdfa44a9316",
            "fromdate": "2014-01-01",
            "todate": "2014-01-31T23:59:59",
            "messagestream": "outbound",
        },
    )
    assert page.total == 253
    assert len(page.items) == 2
    _assert_first_bounce(page.items[0])
    second = page.items[1]
    assert second.id == 676862817
    assert second.inactive is True
    assert second.bounced_at == datetime(2013, 10, 18, 9, 49, 59, 825357, tzinfo=EDT)
    assert second.extra == {}


def test_list_defaults_and_string_type_and_false_flag(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces", json=load_response("list_bounces"))

    server_client.bounces.list()
    server_client.bounces.list(type="SoftBounce", inactive=False)

    first, second = mock_api.request_history
    assert_request(first, "GET", "/bounces", query={"count": "100", "offset": "0"})
    assert query_of(second) == {
        "count": "100",
        "offset": "0",
        "type": "SoftBounce",
        "inactive": "false",
    }


@pytest.mark.parametrize(("count", "offset"), [(501, 0), (0, 0), (10, -5), (500, 9_501)])
def test_list_refuses_pages_postmark_would_refuse(mock_api, server_client, count, offset) -> None:
    with pytest.raises(ClientValidationError):
        server_client.bounces.list(count=count, offset=offset)
    assert mock_api.call_count == 0


def test_stream_pages_and_keeps_filters(mock_api, server_client) -> None:
    item = load_response("list_bounces")["Bounces"][0]

    def serve(request: Any, context: Any) -> dict[str, Any]:
        q = query_of(request)
        count, offset = int(q["count"]), int(q["offset"])
        items = []
        for i in range(offset, min(offset + count, 1_100)):
            bounce = copy.deepcopy(item)
            bounce["ID"] = i
            items.append(bounce)
        return {"TotalCount": 1_100, "Bounces": items}

    mock_api.get(f"{API}/bounces", json=serve)

    bounces = list(server_client.bounces.stream(type="HardBounce", inactive=True, concurrency=1))

    assert [b.id for b in bounces] == list(range(1_100))
    assert all(isinstance(b, Bounce) for b in bounces)
    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "500", "offset": o, "type": "HardBounce", "inactive": "true"}
        for o in ("0", "500", "1000")
    ]
    assert len(list(server_client.bounces.stream(max_items=7))) == 7


def test_get(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces/{BOUNCE_ID}", json=load_response("get_bounce"))

    bounce = server_client.bounces.get(BOUNCE_ID)

    assert_request(only_request(mock_api), "GET", f"/bounces/{BOUNCE_ID}")
    _assert_first_bounce(bounce)
    assert bounce.dump_available is True
    assert bounce.content == "Return-Path: <>\r\nReceived: …"


def test_get_dump(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces/{BOUNCE_ID}/dump", json=load_response("get_bounce_dump"))

    dump = server_client.bounces.get_dump(BOUNCE_ID)

    assert_request(only_request(mock_api), "GET", f"/bounces/{BOUNCE_ID}/dump")
    assert isinstance(dump, Dump)
    assert dump.body == "SMTP dump data"
    assert dump.extra == {}


def test_activate_is_a_bodyless_put(mock_api, server_client) -> None:
    mock_api.put(f"{API}/bounces/{BOUNCE_ID}/activate", json=load_response("activate_bounce"))

    result = server_client.bounces.activate(BOUNCE_ID)

    assert_request(only_request(mock_api), "PUT", f"/bounces/{BOUNCE_ID}/activate", body=NO_BODY)
    assert isinstance(result, BounceActivation)
    assert result.message == "OK"
    assert isinstance(result.bounce, Bounce)
    _assert_first_bounce(result.bounce)
    assert result.bounce.bounced_at == datetime(2014, 1, 15, 21, 9, 19, 642111, tzinfo=UTC)
    assert result.extra == {}
