"""Streams against a synthetic Postmark search that behaves like the real one.

The fake serves newest-first records, honours count/offset/fromdate/todate
(read in US Eastern time, as Postmark does), and refuses count + offset beyond
10,000 with a 422, so the only way to reach older records is the date
narrowing that ``stream()`` does.  Every record must come out exactly once, in
order.
"""

from __future__ import annotations

import email.utils
import itertools
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from postmark_kit import ClientValidationError
from postmark_kit.models.bounces import Bounce
from postmark_kit.models.messages import InboundMessageSummary, OutboundMessage
from tests.api._wire import assert_request, query_of
from tests.conftest import API

NY = ZoneInfo("America/New_York")
WINDOW = 10_000


def postmark_time(t: datetime) -> str:
    """Postmark's timestamp format: 7 fractional digits and an offset."""
    iso = t.isoformat(timespec="microseconds")  # 2024-01-20T12:00:00.123456-05:00
    return f"{iso[:26]}0{iso[26:]}"


def timeline(n: int, seed: int, *, fractions: bool = True) -> list[datetime]:
    """n descending Eastern timestamps, several per second, one group straddling 10,000."""
    rng = random.Random(seed)
    times: list[datetime] = []
    second = datetime(2024, 1, 20, 12, 0, 0, tzinfo=NY)
    while len(times) < n:
        size = 25 if WINDOW - 15 <= len(times) < WINDOW else rng.choice([1, 1, 2, 3, 5, 8, 13])
        micros = [rng.randrange(1_000_000) if fractions else 0 for _ in range(size)]
        micros.sort(reverse=True)
        times += [second.replace(microsecond=m) for m in micros]
        second -= timedelta(seconds=rng.choice([1, 1, 1, 2, 7]))
    return times[:n]


class FakeSearch:
    """A requests-mock callback for one Postmark search endpoint."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        times: list[datetime],
        list_key: str,
        *,
        todate_includes_whole_second: bool = False,
        max_window: int | None = WINDOW,
    ) -> None:
        assert all(a >= b for a, b in itertools.pairwise(times)), "newest first"
        self.records = records
        self.times = times
        self.list_key = list_key
        self.whole_second = todate_includes_whole_second
        self.max_window = max_window

    def _bound(self, value: str, *, end: bool) -> datetime:
        if len(value) == 10:  # a date: the whole Eastern day
            day = datetime.combine(date.fromisoformat(value), datetime.min.time(), NY)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(value).replace(tzinfo=NY)
        return moment + timedelta(seconds=1) if end and self.whole_second else moment

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        q = query_of(request)
        count, offset = int(q["count"]), int(q["offset"])
        if not 1 <= count <= 500 or (self.max_window and count + offset > self.max_window):
            context.status_code = 422
            return {"ErrorCode": 700, "Message": "Count + Offset cannot exceed 10,000 messages."}
        rows = range(len(self.records))
        if "todate" in q:
            limit = self._bound(q["todate"], end=True)
            whole = len(q["todate"]) == 10 or self.whole_second
            rows = [i for i in rows if (self.times[i] < limit if whole else self.times[i] <= limit)]
        if "fromdate" in q:
            start = self._bound(q["fromdate"], end=False)
            rows = [i for i in rows if self.times[i] >= start]
        rows = list(rows)
        return {
            "TotalCount": len(rows),
            self.list_key: [self.records[i] for i in rows[offset : offset + count]],
        }


def outbound_dataset(n: int, seed: int = 1) -> tuple[list[dict[str, Any]], list[datetime]]:
    times = timeline(n, seed)
    records = [
        {
            "MessageID": f"m-{i:05d}",
            "ReceivedAt": postmark_time(t),
            "To": [{"Email": f"u{i}@example.com", "Name": None}],
            "Recipients": [f"u{i}@example.com"],
            "Subject": f"message {i}",
            "Status": "Sent",
            "MessageStream": "outbound",
        }
        for i, t in enumerate(times)
    ]
    return records, times


def _ids(items: Iterator[Any], key: Callable[[Any], Any]) -> list[Any]:
    return [key(item) for item in items]


# --- walking past 10,000 ---------------------------------------------------------------------


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
@pytest.mark.parametrize("whole_second", [False, True], ids=["todate-exact", "todate-whole-second"])
def test_outbound_stream_walks_past_10000_exactly_once_in_order(
    mock_api, server_client, whole_second
) -> None:
    records, times = outbound_dataset(10_700)
    # The window ends in the middle of one second: the hard case for the narrowing.
    assert times[WINDOW - 1].replace(microsecond=0) == times[WINDOW].replace(microsecond=0)
    fake = FakeSearch(records, times, "Messages", todate_includes_whole_second=whole_second)
    mock_api.get(f"{API}/messages/outbound", json=fake)

    got = list(server_client.outbound.stream(tag="news", concurrency=1))

    assert all(isinstance(m, OutboundMessage) for m in got)
    assert [m.message_id for m in got] == [r["MessageID"] for r in records]
    assert got[-1].received_at == times[-1]
    history = mock_api.request_history
    for request in history:
        q = query_of(request)
        assert q["tag"] == "news"
        assert int(q["count"]) + int(q["offset"]) <= WINDOW
        assert_request(request, "GET", "/messages/outbound", query=q)
    narrowed = [query_of(r) for r in history if "todate" in query_of(r)]
    assert narrowed, "the walk must narrow todate to get past the window"
    assert narrowed[0]["offset"] == "0"
    # todate is the boundary second (+1 s) in Eastern local time.
    boundary = times[WINDOW - 1].replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
    assert narrowed[0]["todate"] == boundary.isoformat()
    assert len(history) <= 10_700 // 500 + 4


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_bounce_stream_walks_two_windows(mock_api, server_client) -> None:
    times = timeline(21_000, seed=7)
    records = [
        {
            "ID": 5_000_000 - i,
            "Type": "HardBounce",
            "Email": f"b{i}@example.com",
            "BouncedAt": postmark_time(t),
        }
        for i, t in enumerate(times)
    ]
    mock_api.get(f"{API}/bounces", json=FakeSearch(records, times, "Bounces"))

    got = list(server_client.bounces.stream(type="HardBounce", from_date=date(2023, 1, 1)))

    assert all(isinstance(b, Bounce) for b in got)
    assert [b.id for b in got] == [r["ID"] for r in records]
    queries = [query_of(r) for r in mock_api.request_history]
    assert all(q["fromdate"] == "2023-01-01" and q["type"] == "HardBounce" for q in queries)
    narrowings = {q["todate"] for q in queries if "todate" in q}
    assert len(narrowings) >= 2


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_inbound_stream_walks_past_10000_on_whole_second_dates(mock_api, server_client) -> None:
    times = timeline(10_400, seed=3, fractions=False)
    records = [
        {"MessageID": f"in-{i:05d}", "Date": email.utils.format_datetime(t), "Status": "Processed"}
        for i, t in enumerate(times)
    ]
    mock_api.get(f"{API}/messages/inbound", json=FakeSearch(records, times, "InboundMessages"))

    got = list(server_client.inbound.stream())

    assert all(isinstance(m, InboundMessageSummary) for m in got)
    assert [m.message_id for m in got] == [r["MessageID"] for r in records]


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_stream_keeps_the_callers_todate_until_it_narrows(mock_api, server_client) -> None:
    records, times = outbound_dataset(10_600, seed=5)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))
    until = times[300] + timedelta(microseconds=1)  # an aware datetime inside the data
    cutoff = until.replace(microsecond=0)  # Postmark takes whole seconds

    got = list(server_client.outbound.stream(to_date=until, from_date=date(2024, 1, 1)))

    queries = [query_of(r) for r in mock_api.request_history]
    assert queries[0]["todate"] == cutoff.replace(tzinfo=None).isoformat()
    assert all(q["fromdate"] == "2024-01-01" for q in queries)
    assert len({q["todate"] for q in queries}) >= 2, "it narrowed past the window"
    expected = [r["MessageID"] for r, t in zip(records, times, strict=True) if t <= cutoff]
    assert len(expected) > WINDOW
    assert [m.message_id for m in got] == expected


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_max_items_stops_inside_the_second_window(mock_api, server_client) -> None:
    records, times = outbound_dataset(10_700)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))

    got = list(server_client.outbound.stream(max_items=10_250))

    assert [m.message_id for m in got] == [r["MessageID"] for r in records[:10_250]]


# --- paging within the window ----------------------------------------------------------------


def test_max_items_and_page_size(mock_api, server_client) -> None:
    records, times = outbound_dataset(3_000)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))

    stream = server_client.outbound.stream(max_items=1_201, page_size=400, concurrency=1)
    assert mock_api.call_count == 0
    got = list(stream)

    assert [m.message_id for m in got] == [r["MessageID"] for r in records[:1_201]]
    assert [(q["count"], q["offset"]) for q in map(query_of, mock_api.request_history)] == [
        ("400", "0"),
        ("400", "400"),
        ("400", "800"),
        ("1", "1200"),
    ]


@pytest.mark.parametrize("max_items", [0, -3])
def test_non_positive_max_items_fetches_nothing(mock_api, server_client, max_items) -> None:
    assert list(server_client.outbound.stream(max_items=max_items)) == []
    assert mock_api.call_count == 0


def test_stream_ends_exactly_at_the_total(mock_api, server_client) -> None:
    records, times = outbound_dataset(1_000)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))

    assert len(list(server_client.outbound.stream())) == 1_000
    assert mock_api.call_count == 2  # no third call for an empty page


def test_stream_can_be_abandoned_midway(mock_api, server_client) -> None:
    records, times = outbound_dataset(2_000)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))

    stream = server_client.outbound.stream(concurrency=1)
    taken = [next(stream) for _ in range(501)]

    assert taken[-1].message_id == "m-00500"
    assert mock_api.call_count == 2


def test_list_refuses_what_the_fake_would_refuse(mock_api, server_client) -> None:
    records, times = outbound_dataset(10)
    mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))

    with pytest.raises(ClientValidationError):
        server_client.outbound.list(count=500, offset=9_600)
    assert mock_api.call_count == 0
    # The fake refuses like Postmark does, so the walks above prove the client stays inside.
    raw = requests.get(f"{API}/messages/outbound?count=500&offset=9600", timeout=5)
    assert raw.status_code == 422
    assert raw.json()["ErrorCode"] == 700


def test_messages_arriving_during_a_stream_are_not_yielded_twice(mock_api, server_client) -> None:
    records, times = outbound_dataset(1_500)
    fake = FakeSearch(records, times, "Messages")
    mock_api.get(f"{API}/messages/outbound", json=fake)
    stream = server_client.outbound.stream(page_size=500)
    first = [next(stream) for _ in range(500)]

    newer = times[0] + timedelta(seconds=30)
    for i in range(20):  # twenty sends land before the second page is fetched
        fake.records.insert(0, {"MessageID": f"new-{i}", "ReceivedAt": postmark_time(newer)})
        fake.times.insert(0, newer)
    rest = list(stream)

    ids = [m.message_id for m in first + rest]
    assert len(ids) == len(set(ids))


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_inbound_walk_survives_a_forged_date_header(mock_api, server_client) -> None:
    times = timeline(10_300, seed=11, fractions=False)
    records = [
        {"MessageID": f"in-{i:05d}", "Date": email.utils.format_datetime(t)}
        for i, t in enumerate(times)
    ]
    records[WINDOW - 1]["Date"] = "Mon, 01 Jan 2001 00:00:00 +0000"  # spam with a bogus Date
    records[WINDOW - 2]["Date"] = "Mon, 01 Jan 2091 00:00:00 +0000"  # and one from the future
    mock_api.get(f"{API}/messages/inbound", json=FakeSearch(records, times, "InboundMessages"))

    got = [m.message_id for m in server_client.inbound.stream()]

    assert got == [r["MessageID"] for r in records]


@pytest.mark.slow  # walks past the 10,000 window (over 10,000 records, about a second each)
def test_inbound_walk_survives_late_date_headers(mock_api, server_client) -> None:
    """Mail is received some time after its Date: nothing near the boundary is skipped."""
    times = timeline(20_600, seed=13, fractions=False)
    rng = random.Random(5)
    records = [
        {
            "MessageID": f"in-{i:05d}",
            "Date": email.utils.format_datetime(t - timedelta(seconds=rng.choice([0, 5, 40, 90]))),
        }
        for i, t in enumerate(times)
    ]
    search = FakeSearch(records, times, "InboundMessages")
    mock_api.get(f"{API}/messages/inbound", json=search)

    got = [m.message_id for m in server_client.inbound.stream()]

    assert got == [r["MessageID"] for r in records]
    assert len(mock_api.request_history) <= 3 * 21  # the overlap costs a few pages, not a window


@pytest.mark.parametrize("stream", ["outbound", "inbound"])
def test_max_messages_is_the_deprecated_name_of_max_items(mock_api, server_client, stream) -> None:
    times = timeline(30, seed=5, fractions=False)
    if stream == "outbound":
        records, times = outbound_dataset(30)
        mock_api.get(f"{API}/messages/outbound", json=FakeSearch(records, times, "Messages"))
    else:
        records = [
            {"MessageID": f"in-{i}", "Date": email.utils.format_datetime(t)}
            for i, t in enumerate(times)
        ]
        mock_api.get(f"{API}/messages/inbound", json=FakeSearch(records, times, "InboundMessages"))
    api = getattr(server_client, stream)
    with pytest.warns(DeprecationWarning, match="max_items"):
        got = list(api.stream(max_messages=7))
    assert len(got) == 7
    with (
        pytest.raises(ClientValidationError, match="max_items only"),
        pytest.warns(DeprecationWarning),
    ):
        list(api.stream(max_items=5, max_messages=7))


def test_every_stream_takes_max_items(server_client, account_client) -> None:
    """One name for the item limit of every stream of both clients."""
    import inspect

    streams = [
        getattr(area, name)
        for client in (server_client, account_client)
        for area in vars(client).values()
        if hasattr(area, "_transport")
        for name in dir(area)
        if name.startswith("stream")
    ]
    assert len(streams) >= 10
    for method in streams:
        assert "max_items" in inspect.signature(method).parameters, method
