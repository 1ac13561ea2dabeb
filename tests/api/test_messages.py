"""client.outbound and client.inbound: search, details, dumps, opens, clicks, retry, bypass."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from postmark_kit import ClientValidationError, Header, Page
from postmark_kit.models.common import ActionResult, Dump, EmailAddress
from postmark_kit.models.messages import (
    ClickEvent,
    Geo,
    InboundMessageDetails,
    InboundMessageSummary,
    MessageEvent,
    OpenEvent,
    OutboundMessage,
    OutboundMessageDetails,
    UserAgentInfo,
)
from tests.api._wire import NO_BODY, assert_request, only_request, query_of
from tests.conftest import API, load_response

EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))
OUTBOUND_ID = "07311c54-0687-4ab9-b034-b54b5bad88ba"
INBOUND_ID = "cc5727a0-ea30-4e79-baea-aa43c9628ac4"


def _pages(template: dict[str, Any], key: str, total: int, id_key: str = "MessageID") -> Any:
    """A requests-mock callback serving ``total`` copies of the template's first item."""
    item = template[key][0]

    def serve(request: Any, context: Any) -> dict[str, Any]:
        q = query_of(request)
        count, offset = int(q["count"]), int(q["offset"])
        items = []
        for i in range(offset, min(offset + count, total)):
            items.append({**item, id_key: f"id-{i}"})  # a top-level copy: it is sent as JSON
        return {"TotalCount": total, key: items}

    return serve


# --- outbound search -------------------------------------------------------------------------


def test_outbound_list_sends_every_filter_by_postmark_name(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound", json=load_response("list_outbound_messages"))

    page = server_client.outbound.list(
        count=50,
        offset=100,
        recipient="john.doe@yahoo.com",
        from_email="joe@domain.com",
        tag="Invitation",
        status="sent",
        subject="staging & more",
        message_stream="outbound",
        from_date=date(2014, 2, 1),
        to_date=datetime(2014, 2, 20, 12, 30, 15, 999, tzinfo=UTC),
        metadata={"color": "blue", "client-id": "12345"},
    )

    assert_request(
        only_request(mock_api),
        "GET",
        "/messages/outbound",
        query={
            "count": "50",
            "offset": "100",
            "recipient": "john.doe@yahoo.com",
            "fromemail": "joe@domain.com",
            "tag": "Invitation",
            "status": "sent",
            "subject": "staging & more",
            "messagestream": "outbound",
            "fromdate": "2014-02-01",
            # Postmark reads dates in US Eastern time: 12:30 UTC is 07:30 EST.
            "todate": "2014-02-20T07:30:15",
            "metadata_color": "blue",
            "metadata_client-id": "12345",
        },
    )
    assert isinstance(page, Page)
    assert page.total == 194
    assert len(page) == 1
    message = page.items[0]
    assert isinstance(message, OutboundMessage)
    assert message.message_id == "0ac29aee-e1cd-480d-b08d-4f48548ff48d"
    assert message.tag == "Invitation"
    assert message.message_stream == "outbound"
    assert message.to == [EmailAddress(email="john.doe@yahoo.com", name=None)]
    assert isinstance(message.to[0], EmailAddress)
    assert message.cc == [] and message.bcc == []
    assert message.recipients == ["john.doe@yahoo.com"]
    assert message.received_at == datetime(2014, 2, 20, 7, 25, 2, 878271, tzinfo=EST)
    assert message.from_email == '"Joe" <joe@domain.com>'
    assert message.subject == "staging"
    assert message.attachments == []
    assert message.status == "Sent"
    assert message.track_opens is True
    assert message.track_links == "HtmlOnly"
    assert message.metadata == {"color": "blue", "client-id": "12345"}
    assert message.sandboxed is False
    assert message.extra == {} and message.to[0].extra == {}


def test_outbound_list_defaults_and_naive_datetimes(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound", json=load_response("list_outbound_messages"))

    server_client.outbound.list()
    server_client.outbound.list(from_date=datetime(2014, 2, 1, 8, 0), to_date="2014-02-02")

    first, second = mock_api.request_history
    assert_request(first, "GET", "/messages/outbound", query={"count": "100", "offset": "0"})
    assert query_of(second) == {
        "count": "100",
        "offset": "0",
        "fromdate": "2014-02-01T08:00:00",  # naive: taken as Postmark's local time
        "todate": "2014-02-02",
    }


@pytest.mark.parametrize(
    ("count", "offset"),
    [(501, 0), (0, 0), (-1, 0), (100, -1), (500, 9501), (1, 10_000)],
)
def test_outbound_list_refuses_pages_postmark_would_refuse(
    mock_api, server_client, count, offset
) -> None:
    with pytest.raises(ClientValidationError):
        server_client.outbound.list(count=count, offset=offset)
    assert mock_api.call_count == 0


def test_outbound_list_accepts_the_last_page_of_the_window(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound", json=load_response("list_outbound_messages"))

    server_client.outbound.list(count=500, offset=9_500)

    assert query_of(only_request(mock_api)) == {"count": "500", "offset": "9500"}


def test_outbound_stream_pages_lazily_and_keeps_filters(mock_api, server_client) -> None:
    fixture = load_response("list_outbound_messages")
    mock_api.get(f"{API}/messages/outbound", json=_pages(fixture, "Messages", 1_203))

    stream = server_client.outbound.stream(
        tag="Invitation", metadata={"color": "blue"}, concurrency=1
    )
    assert mock_api.call_count == 0  # nothing is fetched before iteration
    first = next(stream)
    assert mock_api.call_count == 1
    rest = list(stream)

    assert [m.message_id for m in [first, *rest]] == [f"id-{i}" for i in range(1_203)]
    assert all(isinstance(m, OutboundMessage) for m in rest)
    queries = [query_of(r) for r in mock_api.request_history]
    assert [(q["count"], q["offset"]) for q in queries] == [
        ("500", "0"),
        ("500", "500"),
        ("500", "1000"),
    ]
    for request in mock_api.request_history:
        assert_request(
            request,
            "GET",
            "/messages/outbound",
            query={
                "count": "500",
                "offset": query_of(request)["offset"],
                "tag": "Invitation",
                "metadata_color": "blue",
            },
        )


def test_outbound_stream_max_messages_asks_only_for_what_it_needs(mock_api, server_client) -> None:
    fixture = load_response("list_outbound_messages")
    mock_api.get(f"{API}/messages/outbound", json=_pages(fixture, "Messages", 5_000))

    got = list(server_client.outbound.stream(max_items=620, page_size=300, concurrency=1))

    assert [m.message_id for m in got] == [f"id-{i}" for i in range(620)]
    assert [(q["count"], q["offset"]) for q in map(query_of, mock_api.request_history)] == [
        ("300", "0"),
        ("300", "300"),
        ("20", "600"),
    ]


def test_outbound_stream_rejects_a_bad_page_size(mock_api, server_client) -> None:
    with pytest.raises(ClientValidationError):
        list(server_client.outbound.stream(page_size=501))
    assert mock_api.call_count == 0


def test_outbound_stream_of_nothing_makes_one_call(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound", json={"TotalCount": 0, "Messages": []})

    assert list(server_client.outbound.stream()) == []
    assert mock_api.call_count == 1


# --- outbound details and dump ---------------------------------------------------------------


def test_outbound_get_details(mock_api, server_client) -> None:
    mock_api.get(
        f"{API}/messages/outbound/{OUTBOUND_ID}/details",
        json=load_response("get_outbound_message_details"),
    )

    details = server_client.outbound.get(OUTBOUND_ID)

    assert_request(only_request(mock_api), "GET", f"/messages/outbound/{OUTBOUND_ID}/details")
    assert isinstance(details, OutboundMessageDetails)
    assert details.message_id == OUTBOUND_ID
    assert details.text_body == "Thank you for your order..."
    assert details.html_body == "<p>Thank you for your order...</p>"
    assert details.body == "SMTP dump data"
    assert details.subject == "Parts Order #5454"
    assert details.attachments == ["myimage.png", "mypaper.doc"]
    assert details.received_at == datetime(2014, 2, 14, 11, 12, 54, 805424, tzinfo=EST)
    assert details.to == [EmailAddress(email="john.doe@yahoo.com")]
    assert details.metadata == {"color": "blue", "client-id": "12345"}
    assert details.extra == {}
    events = details.message_events
    assert [e.type for e in events] == [
        "Delivered",
        "Transient",
        "Opened",
        "Bounced",
        "SubscriptionChanged",
        "LinkClicked",
    ]
    assert all(isinstance(e, MessageEvent) and e.extra == {} for e in events)
    delivered = events[0]
    assert delivered.recipient == "john.doe@yahoo.com"
    assert delivered.received_at == datetime(2014, 2, 14, 16, 13, 10, 805424, tzinfo=UTC)
    assert delivered.details["DestinationIP"] == "173.194.74.256"
    assert events[3].details["BounceID"] == "374814878"
    assert events[5].received_at == datetime(2016, 10, 5, 16, 3, 56, tzinfo=EDT)
    assert events[5].details["ClickLocation"] == "HTML"


def test_outbound_get_dump(mock_api, server_client) -> None:
    mock_api.get(
        f"{API}/messages/outbound/{OUTBOUND_ID}/dump",
        json=load_response("get_outbound_message_dump"),
    )

    dump = server_client.outbound.get_dump(OUTBOUND_ID)

    assert_request(only_request(mock_api), "GET", f"/messages/outbound/{OUTBOUND_ID}/dump")
    assert isinstance(dump, Dump)
    assert dump.body is not None
    assert dump.body.startswith('From: "John Doe" <john.doe@yahoo.com>')
    assert "X-PM-Message-Id: 07311c54-0687-4ab9-b034-b54b5bad88ba\r\n" in dump.body
    assert dump.extra == {}


def test_message_ids_are_escaped_in_paths(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound/a%2F..%2Fb%20c/details", json={})

    server_client.outbound.get("a/../b c")

    assert_request(only_request(mock_api), "GET", "/messages/outbound/a%2F..%2Fb%20c/details")


# --- opens -----------------------------------------------------------------------------------

_TRACKING_KWARGS: dict[str, Any] = {
    "recipient": "john.doe@yahoo.com",
    "tag": "welcome-user",
    "client_name": "Chrome 34.0.1847.131",
    "client_company": "Google Inc.",
    "client_family": "Chrome",
    "os_name": "OS X 10.7 Lion",
    "os_family": "OS X",
    "os_company": "Apple Computer, Inc.",
    "platform": "WebMail",
    "country": "Serbia",
    "region": "Autonomna Pokrajina Vojvodina",
    "city": "Novi Sad",
    "message_stream": "outbound",
    "from_date": date(2014, 4, 1),
    "to_date": date(2014, 4, 30),
}
_TRACKING_QUERY = {
    "recipient": "john.doe@yahoo.com",
    "tag": "welcome-user",
    "client_name": "Chrome 34.0.1847.131",
    "client_company": "Google Inc.",
    "client_family": "Chrome",
    "os_name": "OS X 10.7 Lion",
    "os_family": "OS X",
    "os_company": "Apple Computer, Inc.",
    "platform": "WebMail",
    "country": "Serbia",
    "region": "Autonomna Pokrajina Vojvodina",
    "city": "Novi Sad",
    "messagestream": "outbound",
    "fromdate": "2014-04-01",
    "todate": "2014-04-30",
}


def _assert_open(event: OpenEvent) -> None:
    assert isinstance(event, OpenEvent)
    assert event.record_type == "Open"
    assert event.first_open is True
    assert event.read_seconds == 16
    assert isinstance(event.client, UserAgentInfo)
    assert event.client == UserAgentInfo(
        name="Chrome 34.0.1847.131", company="Google Inc.", family="Chrome"
    )
    assert isinstance(event.os, UserAgentInfo)
    assert event.os.family == "OS X"
    assert event.platform == "WebMail"
    assert event.user_agent is not None and event.user_agent.startswith("Mozilla/5.0")
    assert isinstance(event.geo, Geo)
    assert event.geo.country_iso_code == "RS"
    assert event.geo.region_iso_code == "VO"
    assert event.geo.city == "Novi Sad"
    assert event.geo.zip == "21000"
    assert event.geo.coords == "45.2517,19.8369"
    assert event.geo.ip == "188.2.95.4"
    assert event.message_id == "927e56d4-dc66-4070-bbf0-1db76c2ae14b"
    assert event.message_stream == "outbound"
    assert event.received_at == datetime(2014, 4, 30, 5, 4, 23, 876874, tzinfo=EDT)
    assert event.tag == "welcome-user"
    assert event.recipient == "john.doe@yahoo.com"
    assert event.extra == {} and event.geo.extra == {} and event.client.extra == {}
    assert event.os.extra == {}


def test_list_opens_with_every_filter(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound/opens", json=load_response("list_message_opens"))

    page = server_client.outbound.list_opens(count=25, offset=5, **_TRACKING_KWARGS)

    assert_request(
        only_request(mock_api),
        "GET",
        "/messages/outbound/opens",
        query={"count": "25", "offset": "5", **_TRACKING_QUERY},
    )
    assert page.total == 1
    _assert_open(page.items[0])


def test_list_opens_defaults(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound/opens", json=load_response("list_message_opens"))

    server_client.outbound.list_opens()

    assert query_of(only_request(mock_api)) == {"count": "100", "offset": "0"}
    with pytest.raises(ClientValidationError):
        server_client.outbound.list_opens(count=501)
    assert mock_api.call_count == 1


def test_stream_opens_pages_with_filters(mock_api, server_client) -> None:
    fixture = load_response("list_message_opens")
    mock_api.get(f"{API}/messages/outbound/opens", json=_pages(fixture, "Opens", 730))

    opens = list(
        server_client.outbound.stream_opens(page_size=250, tag="welcome-user", concurrency=1)
    )

    assert [o.message_id for o in opens] == [f"id-{i}" for i in range(730)]
    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "250", "offset": str(offset), "tag": "welcome-user"} for offset in (0, 250, 500)
    ]
    limited = list(server_client.outbound.stream_opens(max_items=3))
    assert len(limited) == 3
    assert query_of(mock_api.last_request) == {"count": "3", "offset": "0"}


def test_list_message_opens(mock_api, server_client) -> None:
    message_id = "927e56d4-dc66-4070-bbf0-1db76c2ae14b"
    mock_api.get(
        f"{API}/messages/outbound/opens/{message_id}", json=load_response("get_message_opens")
    )

    page = server_client.outbound.list_message_opens(message_id, count=10, offset=20)

    assert_request(
        only_request(mock_api),
        "GET",
        f"/messages/outbound/opens/{message_id}",
        query={"count": "10", "offset": "20"},
    )
    assert page.total == 1
    _assert_open(page.items[0])


# --- clicks ----------------------------------------------------------------------------------


def _assert_click(event: ClickEvent) -> None:
    assert isinstance(event, ClickEvent)
    assert event.record_type == "Click"
    assert event.click_location == "HTML"
    assert event.original_link == "https://example.com"
    assert isinstance(event.client, UserAgentInfo) and event.client.company == "Google"
    assert isinstance(event.os, UserAgentInfo) and event.os.family == "OS X 10"
    assert event.platform == "Desktop"
    assert isinstance(event.geo, Geo) and event.geo.ip == "8.8.8.8"
    assert event.received_at == datetime(2017, 10, 25, 19, 21, 11, 906561, tzinfo=UTC)
    assert event.tag == "welcome-email"
    assert event.recipient == "john.doe@yahoo.com"
    assert event.message_stream == "outbound"
    assert event.extra == {} and event.geo.extra == {}


def test_list_clicks_with_every_filter(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/outbound/clicks", json=load_response("list_message_clicks"))

    page = server_client.outbound.list_clicks(count=500, offset=0, **_TRACKING_KWARGS)

    assert_request(
        only_request(mock_api),
        "GET",
        "/messages/outbound/clicks",
        query={"count": "500", "offset": "0", **_TRACKING_QUERY},
    )
    assert page.total == 1
    _assert_click(page.items[0])


def test_stream_clicks_pages_with_filters(mock_api, server_client) -> None:
    fixture = load_response("list_message_clicks")
    mock_api.get(f"{API}/messages/outbound/clicks", json=_pages(fixture, "Clicks", 501))

    clicks = list(
        server_client.outbound.stream_clicks(platform="Desktop", city="Novi Sad", concurrency=1)
    )

    assert len(clicks) == 501
    assert [c.message_id for c in clicks] == [f"id-{i}" for i in range(501)]
    assert all(isinstance(c, ClickEvent) for c in clicks)
    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "500", "offset": o, "platform": "Desktop", "city": "Novi Sad"}
        for o in ("0", "500")
    ]


def test_list_message_clicks(mock_api, server_client) -> None:
    message_id = "927e56d4-dc66-4070-bbf0-1db76c2ae14b"
    mock_api.get(
        f"{API}/messages/outbound/clicks/{message_id}", json=load_response("get_message_clicks")
    )

    page = server_client.outbound.list_message_clicks(message_id)

    assert_request(
        only_request(mock_api),
        "GET",
        f"/messages/outbound/clicks/{message_id}",
        query={"count": "100", "offset": "0"},
    )
    assert page.total == 1
    _assert_click(page.items[0])


# --- inbound ---------------------------------------------------------------------------------


def test_inbound_list_with_every_filter(mock_api, server_client) -> None:
    mock_api.get(f"{API}/messages/inbound", json=load_response("list_inbound_messages"))

    page = server_client.inbound.list(
        count=10,
        offset=30,
        recipient="ad8a4d0842c486355a33a7f019caab51@inbound.postmarkapp.com",
        from_email="dart-zzzzz@yandex.ru",
        tag="support",
        subject="Тест.",
        mailbox_hash="abc",
        status="blocked",
        from_date=date(2014, 2, 1),
        to_date=date(2014, 2, 28),
    )

    assert_request(
        only_request(mock_api),
        "GET",
        "/messages/inbound",
        query={
            "count": "10",
            "offset": "30",
            "recipient": "ad8a4d0842c486355a33a7f019caab51@inbound.postmarkapp.com",
            "fromemail": "dart-zzzzz@yandex.ru",
            "tag": "support",
            "subject": "Тест.",
            "mailboxhash": "abc",
            "status": "blocked",
            "fromdate": "2014-02-01",
            "todate": "2014-02-28",
        },
    )
    assert page.total == 7
    message = page.items[0]
    assert isinstance(message, InboundMessageSummary)
    assert message.message_id == INBOUND_ID
    assert message.from_email == "dart-zzzzz@yandex.ru"
    assert message.from_name == "Dart Zzzzz"
    assert isinstance(message.from_full, EmailAddress)
    assert message.from_full.email == "dart-zzzzz@yandex.ru"
    assert message.to_full == [
        EmailAddress(email="ad8a4d0842c486355a33a7f019caab51@inbound.postmarkapp.com", name="")
    ]
    assert message.cc == "" and message.cc_full == []
    assert message.subject == "Тест."
    assert message.date == "Thu, 13 Feb 2014 17:48:22 +0300"
    assert message.received_date == datetime(
        2014, 2, 13, 17, 48, 22, tzinfo=timezone(timedelta(hours=3))
    )
    assert message.status == "Blocked"
    assert message.attachments == []
    assert message.extra == {} and message.from_full.extra == {}


def test_inbound_list_refuses_a_page_past_the_window(mock_api, server_client) -> None:
    with pytest.raises(ClientValidationError, match="10000"):
        server_client.inbound.list(count=100, offset=9_901)
    assert mock_api.call_count == 0


def test_inbound_stream(mock_api, server_client) -> None:
    fixture = load_response("list_inbound_messages")
    mock_api.get(f"{API}/messages/inbound", json=_pages(fixture, "InboundMessages", 600))

    got = list(server_client.inbound.stream(status="processed", max_items=550, concurrency=1))

    assert [m.message_id for m in got] == [f"id-{i}" for i in range(550)]
    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "500", "offset": "0", "status": "processed"},
        {"count": "50", "offset": "500", "status": "processed"},
    ]


def test_inbound_get_details(mock_api, server_client) -> None:
    mock_api.get(
        f"{API}/messages/inbound/{INBOUND_ID}/details",
        json=load_response("get_inbound_message_details"),
    )

    details = server_client.inbound.get(INBOUND_ID)

    assert_request(only_request(mock_api), "GET", f"/messages/inbound/{INBOUND_ID}/details")
    assert isinstance(details, InboundMessageDetails)
    assert details.message_id == INBOUND_ID
    assert details.blocked_reason == "Inbound request blocked by domain rule: badsender@example.com"
    assert details.status == "Blocked"
    assert details.text_body == "stuff stuff."
    assert details.html_body == ""
    assert details.stripped_text_reply == ""
    assert details.bcc == "" and details.bcc_full == []
    assert details.message_stream == "inbound"
    assert details.original_recipient == "ad8a4d0842c486355a33a7f019caab51@inbound.postmarkapp.com"
    assert len(details.headers) == 7
    assert all(isinstance(h, Header) for h in details.headers)
    assert details.headers[1] == Header(name="X-Spam-Status", value="No")
    assert details.header("message-id") == "<51351392302902@web19j.yandex.ru>"
    assert details.spam_status == "No"
    assert details.is_spam is False
    assert details.spam_score == 0.7
    assert details.spam_tests[:2] == ["DKIM_SIGNED", "DKIM_VALID"]
    assert details.received_date is not None and details.received_date.utcoffset() is not None
    assert details.extra == {}
    assert all(h.extra == {} for h in details.headers)


@pytest.mark.parametrize(
    ("action", "op_id", "message"),
    [
        ("retry", "retry_inbound_message", "Successfully rescheduled failed message"),
        ("bypass", "bypass_inbound_message", "Successfully bypassed message"),
    ],
)
def test_inbound_retry_and_bypass_are_bodyless_puts(
    mock_api, server_client, action, op_id, message
) -> None:
    mock_api.put(f"{API}/messages/inbound/{INBOUND_ID}/{action}", json=load_response(op_id))

    result = getattr(server_client.inbound, action)(INBOUND_ID)

    assert_request(
        only_request(mock_api), "PUT", f"/messages/inbound/{INBOUND_ID}/{action}", body=NO_BODY
    )
    assert isinstance(result, ActionResult)
    assert result.error_code == 0
    assert result.message is not None and result.message.startswith(message)
    assert result.extra == {}
