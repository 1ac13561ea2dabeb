"""Concurrent page walks and batch sends, over real HTTP on 127.0.0.1.

A threaded loopback server plays Postmark's search (the same fake as
test_pagination: newest first, count/offset/todate honoured, 422 past 10,000)
and its batch endpoint.  Nothing here asserts a timing: concurrency is proved
with a barrier the server holds until two requests are in flight.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from postmark_kit import BatchSendError, ClientValidationError, Email, ServerClient
from postmark_kit.concurrency import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, Limit, Throttle
from postmark_kit.errors import RateLimitError
from postmark_kit.transport import RetryPolicy
from tests.api.test_pagination import FakeSearch, outbound_dataset, postmark_time, timeline

TOKEN = "concurrency-test-token"


class Context:
    status_code = 200


class Request:
    def __init__(self, url: str) -> None:
        self.url = url


#: handler(method, path+query, body) -> (status, headers, json body)
Handler = Callable[[str, str, bytes], tuple[int, dict[str, str], Any]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Up to 32 connections are opened at once: socketserver's backlog of 5
    # dropped some SYNs, which the kernel retried only a second later.
    request_queue_size = 64


class Loopback:
    """A threaded HTTP server on 127.0.0.1: counts requests, connections and calls in flight.

    ``arrivals`` holds, per request in arrival order, its body and how many
    requests were in flight when it arrived (itself included); ``connections``
    the client addresses of the sockets accepted (one per TCP connection).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.arrivals: list[tuple[bytes, int]] = []
        self.connections: list[tuple[str, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's
            # algorithm and the client's delayed ACK add 40 ms to every answer.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.connections.append(self.client_address)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append(self.path)
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.arrivals.append((body or self.path.encode(), outer.in_flight))
                try:
                    status, headers, data = outer.handler(self.command, self.path, body)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                raw = json.dumps(data).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        )

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def search(fake: FakeSearch, path: str, *, before: Callable[[int], None] | None = None) -> Handler:
    """A handler serving ``fake`` on ``path``; ``before(n)`` runs before the n-th request."""
    counter = iter(range(1, 1_000_000))
    lock = threading.Lock()

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        assert method == "GET" and urlsplit(target).path == path, target
        with lock:
            if before is not None:
                before(next(counter))
            context = Context()
            data = fake(Request("http://x" + target), context)
        return context.status_code, {}, data

    return handle


@pytest.fixture
def make_client() -> Iterator[Callable[..., ServerClient]]:
    clients: list[ServerClient] = []

    def make(url: str, **kw: Any) -> ServerClient:
        kw.setdefault("retries", RetryPolicy(max_retries=2, sleep=lambda _s: None))
        client = ServerClient(TOKEN, base_url=url, timeout=(5, 30), **kw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- walks ------------------------------------------------------------------------------------


@pytest.mark.slow  # concurrent walks past the 10,000 window (10,700 to 25,000 records)
def test_concurrent_walk_past_two_windows_with_mail_arriving(make_client) -> None:
    """25,000 messages, mail arriving all through the walk: in order, no duplicate, no gap."""
    records, times = outbound_dataset(25_000, seed=3)
    expected = [r["MessageID"] for r in records]
    fake = FakeSearch(records, times, "Messages")
    newest = times[0]

    def arrive(n: int) -> None:
        # Three sends land before every request after the first (newer than the walk).
        for i in range(3 if n > 1 else 0):
            when = newest + timedelta(seconds=n + 1, microseconds=i)
            fake.records.insert(0, {"MessageID": f"new-{n}-{i}", "ReceivedAt": postmark_time(when)})
            fake.times.insert(0, when)

    with Loopback(search(fake, "/messages/outbound", before=arrive)) as srv:
        client = make_client(srv.url)
        got = [m.message_id for m in client.outbound.stream(concurrency=4)]

    assert got == expected
    assert srv.max_in_flight <= 4


def test_mail_arriving_in_the_frozen_second_leaves_no_gap(make_client) -> None:
    """New mail inside the window's newest second shifts offsets: pages are re-asked, never lost."""
    records, times = outbound_dataset(750, seed=4)
    fake = FakeSearch(records, times, "Messages")
    newest = times[0]
    arrived: list[str] = []

    def arrive(n: int) -> None:
        if n in (3, 5):  # while pages are fetched ahead
            fake.records.insert(0, {"MessageID": f"late-{n}", "ReceivedAt": postmark_time(newest)})
            fake.times.insert(0, newest)
            arrived.append(f"late-{n}")

    with Loopback(search(fake, "/messages/outbound", before=arrive)) as srv:
        client = make_client(srv.url)
        got = [m.message_id for m in client.outbound.stream(concurrency=4, page_size=50)]
        asked = len(srv.requests)

    assert len(arrived) == 2
    assert asked > 750 // 50  # the pages whose offsets moved were asked again
    assert len(got) == len(set(got))
    original = [r for r in got if not r.startswith("late-")]
    assert original == [f"m-{i:05d}" for i in range(750)]


@pytest.mark.slow  # concurrent walks past the 10,000 window (10,700 to 25,000 records)
@pytest.mark.parametrize("kind", ["bounces", "inbound", "opens", "clicks"])
def test_every_stream_walks_concurrently_in_order(make_client, kind: str) -> None:
    times = timeline(10_700, seed=9, fractions=kind != "inbound")
    if kind == "bounces":
        path, key = "/bounces", "Bounces"
        records = [
            {"ID": 9_000_000 - i, "Type": "HardBounce", "BouncedAt": postmark_time(t)}
            for i, t in enumerate(times)
        ]
    elif kind == "inbound":
        import email.utils

        path, key = "/messages/inbound", "InboundMessages"
        records = [
            {"MessageID": f"in-{i:05d}", "Date": email.utils.format_datetime(t)}
            for i, t in enumerate(times)
        ]
    else:
        path = f"/messages/outbound/{kind}"
        key = kind.capitalize()
        records = [
            {
                "MessageID": f"m-{i:05d}",
                "Recipient": f"r{i}@example.com",
                "ReceivedAt": postmark_time(t),
                "OriginalLink": "https://example.com/" if kind == "clicks" else None,
            }
            for i, t in enumerate(times)
        ]
    fake = FakeSearch(records, times, key)
    with Loopback(search(fake, path)) as srv:
        client = make_client(srv.url)
        stream = {
            "bounces": client.bounces.stream,
            "inbound": client.inbound.stream,
            "opens": client.outbound.stream_opens,
            "clicks": client.outbound.stream_clicks,
        }[kind](concurrency=3)
        got = list(stream)
    ident = "ID" if kind == "bounces" else "MessageID"
    assert [getattr(g, "id" if kind == "bounces" else "message_id") for g in got] == [
        r[ident] for r in records
    ]
    assert stream.total == 10_700
    assert srv.max_in_flight <= 3


def test_concurrency_is_real_and_one_is_strictly_sequential(make_client) -> None:
    records, times = outbound_dataset(400, seed=5)
    fake = FakeSearch(records, times, "Messages")
    two = threading.Barrier(2, timeout=10)
    overlapped: list[bool] = []
    inner = search(fake, "/messages/outbound")

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if "offset=0&" not in target + "&" and not overlapped:
            try:  # the first two pages after the first wait for each other
                two.wait()
                overlapped.append(True)
            except threading.BrokenBarrierError:
                overlapped.append(False)
        return inner(method, target, body)

    with Loopback(handle) as srv:
        client = make_client(srv.url)
        assert len(list(client.outbound.stream(concurrency=2, page_size=100))) == 400
    assert overlapped and overlapped[0] is True

    with Loopback(search(fake, "/messages/outbound")) as srv:
        client = make_client(srv.url)
        assert len(list(client.outbound.stream(concurrency=1, page_size=100))) == 400
        offsets = [int(p.split("offset=")[1].split("&")[0]) for p in srv.requests]
    assert srv.max_in_flight == 1
    assert offsets == [0, 100, 200, 300]


def test_buffering_is_bounded_by_concurrency(make_client) -> None:
    records, times = outbound_dataset(1_000, seed=6)  # 50 pages: far more than may be ahead
    fake = FakeSearch(records, times, "Messages")
    gate = threading.Semaphore(0)
    released = [0]

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if "offset=0&" not in target + "&":
            gate.acquire(timeout=10)  # pages after the first wait until the test lets them
        return search(fake, "/messages/outbound")(method, target, body)

    with Loopback(handle) as srv:
        client = make_client(srv.url)
        stream = client.outbound.stream(concurrency=3, page_size=20)
        seen = [next(stream) for _ in range(20)]  # the first page only
        for _ in range(30):
            gate.release()  # let far more pages through than may be fetched ahead
            released[0] += 1
        for _ in range(50):
            with srv.lock:
                if len(srv.requests) >= 4:
                    break
            threading.Event().wait(0.05)
        threading.Event().wait(0.2)  # room for any over-fetch to show (an upper bound only)
        with srv.lock:
            fetched = len(srv.requests)
        stream.close()
    assert [m.message_id for m in seen] == [f"m-{i:05d}" for i in range(20)]
    assert fetched <= 1 + 3


def test_stream_total_comes_from_the_first_page(make_client) -> None:
    records, times = outbound_dataset(1_234, seed=8)
    with Loopback(search(FakeSearch(records, times, "Messages"), "/messages/outbound")) as srv:
        client = make_client(srv.url)
        stream = client.outbound.stream()
        assert stream.total is None
        pages = list(stream.pages())
        assert stream.total == 1_234
    assert [len(p) for p in pages] == [500, 500, 234]
    assert [m.message_id for p in pages for m in p] == [r["MessageID"] for r in records]


def test_concurrency_is_checked() -> None:
    client = ServerClient(TOKEN, base_url="http://127.0.0.1:9")
    for bad in (0, MAX_CONCURRENCY + 1, 2.0, True):
        with pytest.raises(ClientValidationError):
            client.outbound.stream(concurrency=bad)  # type: ignore[arg-type]
        with pytest.raises(ClientValidationError):
            client.email.send_batch([], concurrency=bad)  # type: ignore[arg-type]
    client.close()


# --- batches ----------------------------------------------------------------------------------


def emails(n: int) -> list[Email]:
    return [
        Email(from_email="s@example.com", to=f"r{i}@example.com", subject=str(i), text_body="x")
        for i in range(n)
    ]


def batch_handler(
    posted: list[list[str]], fail: Callable[[list[str]], int | None] | None = None
) -> Handler:
    lock = threading.Lock()

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        assert method == "POST" and target == "/email/batch"
        to = [m["To"] for m in json.loads(body)]
        with lock:
            posted.append(to)
        status = fail(to) if fail else None
        if status is not None:
            return status, {}, {"ErrorCode": 0, "Message": "boom"}
        return (
            200,
            {},
            [{"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{t}", "To": t} for t in to],
        )

    return handle


def test_batch_results_in_input_order_and_each_chunk_posted_once(make_client) -> None:
    posted: list[list[str]] = []
    another = threading.Event()

    def slow_first(to: list[str]) -> None:
        if to[0] == "r0@example.com":
            # The first chunk answers only once another one has arrived.
            assert another.wait(10)
        else:
            another.set()
        return None

    with Loopback(batch_handler(posted, slow_first)) as srv:
        client = make_client(srv.url)
        results = client.email.send_batch(emails(1_050), chunk_size=100, concurrency=4)
    assert [r.to for r in results] == [f"r{i}@example.com" for i in range(1_050)]
    chunks = sorted(tuple(p) for p in posted)
    assert len(chunks) == len(set(chunks)) == 11
    assert srv.max_in_flight <= 4


def test_partial_batch_failure_reports_exactly_what_was_sent(make_client) -> None:
    """Chunk k=3 fails at concurrency c=3: at most k + c chunks posted, reported exactly."""
    posted: list[list[str]] = []
    k, c = 3, 3

    def fail(to: list[str]) -> int | None:
        if "r300@example.com" in to:  # the fourth chunk of 100 answers 500 at once
            return 500
        if int(to[0][1:].split("@")[0]) > 300:
            # Chunks after it answer later, so the failure is what the client sees first.
            threading.Event().wait(0.2)
        return None

    with Loopback(batch_handler(posted, fail)) as srv:
        client = make_client(srv.url)
        with pytest.raises(BatchSendError) as info:
            client.email.send_batch(emails(2_000), chunk_size=100, concurrency=c)
    err = info.value
    # Stop submitting on failure: the k chunks before it, itself, and at most c - 1
    # already in flight beside it.
    assert k + 1 <= len(posted) <= k + c
    assert srv.max_in_flight <= c
    spans = {(int(p[0][1:].split("@")[0]), int(p[0][1:].split("@")[0]) + len(p)) for p in posted}
    assert len(spans) == len(posted)  # no chunk posted twice
    # sent / failed / not sent partition the chunks exactly: sent = posted and
    # accepted, failed = posted and refused, not sent = everything never posted.
    assert {(ch.start, ch.stop) for ch in err.sent} == spans - {(300, 400)}
    assert [(ch.start, ch.stop) for ch in err.failed] == [(300, 400)]
    first_unposted = max(stop for _start, stop in spans)
    assert [(ch.start, ch.stop) for ch in err.not_sent] == [(first_unposted, None)]
    assert all(ch.error is None for ch in err.sent) and err.failed[0].results is None
    for ch in err.sent:
        assert [r.to for r in ch.results or []] == [
            f"r{i}@example.com" for i in range(ch.start, ch.stop)
        ]
    assert err.error.status_code == 500  # type: ignore[attr-defined]
    # The 500 was not repeated (it may have been sent).
    assert sum("r300@example.com" in p for p in posted) == 1
    covered = sorted(
        [(c.start, c.stop) for c in err.sent + err.failed]
        + [(c.start, c.stop or 2_000) for c in err.not_sent]
    )
    # Sent, failed and not sent tile the input exactly: resuming sends nothing twice.
    assert covered[0][0] == 0 and covered[-1][1] == 2_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert err.results == [r for c in err.sent if c.stop <= 300 for r in c.results or []]
    outcomes = err.outcomes
    assert [o.to if o else None for o in outcomes[:300]] == [
        f"r{i}@example.com" for i in range(300)
    ]
    assert outcomes[300:400] == [None] * 100


def test_batch_429_backs_off_together_and_halves_concurrency(make_client) -> None:
    posted: list[list[str]] = []
    limited = [False]
    retried = threading.Event()
    lock = threading.Lock()

    def fail(to: list[str]) -> int | None:
        with lock:
            if to[0] == "r200@example.com":
                if not limited[0]:
                    limited[0] = True
                    return 429
                retried.set()
        if not retried.is_set():
            # The chunks sent beside the limited one wait for its retry: every
            # chunk submitted after that was submitted knowing of the 429.
            assert retried.wait(10)
        else:
            threading.Event().wait(0.02)  # room for the calls to overlap
        return None

    inner = batch_handler(posted, fail)

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        status, headers, data = inner(method, target, body)
        if status == 429:
            headers = {"Retry-After": "3"}
        return status, headers, data

    slept: list[float] = []
    with Loopback(handle) as srv:
        client = make_client(srv.url, retries=RetryPolicy(max_retries=3, sleep=slept.append))
        results = client.email.send_batch(emails(1_000), chunk_size=100, concurrency=4)
        assert client._transport.throttle.rate_limited == 1
    assert [r.to for r in results] == [f"r{i}@example.com" for i in range(1_000)]
    # The limited call waited Retry-After (others waited what was left of it,
    # and one of them may have started waiting first).
    assert max(slept) == 3.0
    # The rate-limited chunk was repeated (a 429 was not acted on); no other chunk was.
    firsts = [p[0] for p in posted]
    assert firsts.count("r200@example.com") == 2
    assert len(firsts) == 11
    # Up to four chunks in flight before the 429; from its retry on, at most 4 // 2.
    assert srv.max_in_flight <= 4
    # (Chunks 0-3 were submitted before it; one may reach the server late.)
    first_four = [f'"r{i}@example.com"'.encode() for i in (0, 100, 200, 300)]
    retry = [i for i, (body, _n) in enumerate(srv.arrivals) if first_four[2] in body][1]
    after = [
        n for body, n in srv.arrivals[retry + 1 :] if not any(first in body for first in first_four)
    ]
    assert len(after) >= 5 and max(after) <= 2, after


def test_stream_429_backs_off_together_and_halves_concurrency(make_client) -> None:
    records, times = outbound_dataset(600, seed=13)
    fake = FakeSearch(records, times, "Messages")
    inner = search(fake, "/messages/outbound")
    limited = [False]
    retried = threading.Event()
    lock = threading.Lock()

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if "offset=40&" in target + "&":
            with lock:
                if not limited[0]:
                    limited[0] = True
                    return 429, {"Retry-After": "2"}, {"ErrorCode": 0, "Message": "slow down"}
            retried.set()
        elif "offset=0&" not in target + "&":
            if not retried.is_set():
                assert retried.wait(10)  # pages fetched beside the limited one wait
            else:
                threading.Event().wait(0.02)  # room for the fetches to overlap
        return inner(method, target, body)

    slept: list[float] = []
    with Loopback(handle) as srv:
        client = make_client(srv.url, retries=RetryPolicy(max_retries=3, sleep=slept.append))
        got = [m.message_id for m in client.outbound.stream(concurrency=4, page_size=20)]
        assert client._transport.throttle.rate_limited == 1
    assert got == [r["MessageID"] for r in records]
    assert max(slept) == 2.0  # the limited page waited Retry-After (others what was left)
    assert srv.max_in_flight <= 4
    # From the retry on, pages submitted after the 429 go at most 4 // 2 at a time
    # (the first four after page 0 were submitted before it; one may arrive late).
    first_four = [f"offset={o}&".encode() for o in (20, 40, 60, 80)]
    retry = [i for i, (path, _n) in enumerate(srv.arrivals) if first_four[1] in path + b"&"][1]
    after = [
        n
        for path, n in srv.arrivals[retry + 1 :]
        if not any(first in path + b"&" for first in first_four)
    ]
    assert len(after) >= 20 and max(after) <= 2, after


def test_throttle_pauses_every_thread_and_limits_halve() -> None:
    now = [100.0]
    throttle = Throttle(clock=lambda: now[0])
    limit = Limit(8, throttle)
    assert limit.current() == 8 and throttle.pause() == 0.0
    pause = throttle.note_rate_limit(5.0)
    assert throttle.pause() == 5.0  # any other call waits
    assert throttle.pause(covered=pause) == 0.0  # the call that waited it out does not
    now[0] += 2
    assert throttle.pause() == 3.0
    assert limit.current() == 4 and limit.current() == 4
    throttle.note_rate_limit(0)
    throttle.note_rate_limit(0)
    assert limit.current() == 2
    throttle.note_rate_limit(0)
    throttle.note_rate_limit(0)
    assert limit.current() == 1


def test_a_429_in_one_thread_pauses_the_others(make_client) -> None:
    first = [True]
    lock = threading.Lock()

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        with lock:
            if first[0]:
                first[0] = False
                return 429, {"Retry-After": "7"}, {"ErrorCode": 0, "Message": "slow down"}
        return 200, {}, {"TotalCount": 0, "Messages": []}

    slept: list[float] = []
    with Loopback(handle) as srv:
        client = make_client(srv.url, retries=RetryPolicy(max_retries=0, sleep=slept.append))
        with pytest.raises(RateLimitError):
            client.outbound.list()
        other: list[BaseException | None] = []

        def call() -> None:
            try:
                client.outbound.list()
                other.append(None)
            except BaseException as exc:  # pragma: no cover - reported below
                other.append(exc)

        t = threading.Thread(target=call)
        t.start()
        t.join(10)
    assert other == [None]
    assert len(slept) == 1 and 6.0 < slept[0] <= 7.0  # the other thread waited Retry-After


# --- one client shared by threads ---------------------------------------------------------


def test_one_client_shared_by_threads(make_client) -> None:
    records, times = outbound_dataset(600, seed=2)
    by_tag = {f"t{k}": FakeSearch(records[k::8], times[k::8], "Messages") for k in range(8)}
    posted: list[list[str]] = []
    batch = batch_handler(posted)

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if method == "POST":
            return batch(method, target, body)
        tag = target.split("tag=")[1].split("&")[0]
        context = Context()
        return 200, {}, by_tag[tag](Request("http://x" + target), context)

    errors: list[BaseException] = []
    got: dict[str, list[str]] = {}
    mail = emails(250)

    with Loopback(handle) as srv:
        client = make_client(srv.url)

        def work(k: int) -> None:
            try:
                ids = [m.message_id for m in client.outbound.stream(tag=f"t{k}", page_size=20)]
                sent = client.email.send_batch(mail[k::8], chunk_size=10)
                got[f"t{k}"] = ids
                assert [r.to for r in sent] == [e.to for e in mail[k::8]]
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    for k in range(8):
        assert got[f"t{k}"] == [r["MessageID"] for r in records[k::8]]
    assert len(posted) == sum(-(-len(mail[k::8]) // 10) for k in range(8))


@pytest.mark.slow  # a concurrent walk past the 10,000 window (10,700 records)
def test_the_page_giving_the_next_bound_is_fetched_early(make_client) -> None:
    records, times = outbound_dataset(10_700, seed=12)
    fake = FakeSearch(records, times, "Messages")
    with Loopback(search(fake, "/messages/outbound")) as srv:
        client = make_client(srv.url)
        got = [m.message_id for m in client.outbound.stream(concurrency=2)]
        asked = [(p.split("offset=")[1].split("&")[0], "todate=" in p) for p in list(srv.requests)]
    assert got == [r["MessageID"] for r in records]
    window_one = [int(o) for o, narrowed in asked if narrowed][:20]
    # After the first page (alone), the window's last page goes first.
    assert asked[0] == ("0", False)
    assert window_one.index(9_500) < window_one.index(1_000)
    # And the second window's first page is asked before the first window is drained.
    second = [i for i, (o, narrowed) in enumerate(asked) if o == "0" and narrowed]
    assert second and second[0] < len(asked) - 1


# --- connection reuse -----------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_walk_opens_at_most_n_connections(make_client, concurrency: int) -> None:
    """41 pages at concurrency N: every page on one of at most N pooled connections."""
    records, times = outbound_dataset(205, seed=14)
    fake = FakeSearch(records, times, "Messages")
    with Loopback(search(fake, "/messages/outbound")) as srv:
        client = make_client(srv.url)
        got = [m.message_id for m in client.outbound.stream(concurrency=concurrency, page_size=5)]
        assert len(srv.requests) >= 40
    assert got == [r["MessageID"] for r in records]
    assert 1 <= len(srv.connections) <= concurrency, srv.connections


def test_sequential_calls_reuse_one_connection(make_client) -> None:
    records, times = outbound_dataset(50, seed=15)
    posted: list[list[str]] = []
    batch = batch_handler(posted)
    inner = search(FakeSearch(records, times, "Messages"), "/messages/outbound")

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        return (batch if method == "POST" else inner)(method, target, body)

    with Loopback(handle) as srv:
        client = make_client(srv.url)
        for _ in range(10):
            assert client.outbound.list(count=10).total == 50
        client.email.send_batch(emails(30), chunk_size=10, concurrency=1)
        assert len(srv.requests) == 13
    assert len(srv.connections) == 1


def test_threads_sharing_a_client_keep_their_connections(make_client, caplog) -> None:
    """8 threads walking at the default concurrency (4): up to 32 calls at once.

    Every connection the client opens goes back to its pool for reuse: none is
    discarded with urllib3's "Connection pool is full" warning.
    """
    # 5 pages a walk: the first alone, then all 4 others at once (8 x 4 = 32 in flight).
    records, times = outbound_dataset(100, seed=16)
    fake = FakeSearch(records, times, "Messages")
    inner = search(fake, "/messages/outbound")

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        threading.Event().wait(0.01)  # room for the calls to overlap
        return inner(method, target, body)

    errors: list[BaseException] = []
    expected = [r["MessageID"] for r in records]
    caplog.set_level("WARNING", logger="urllib3")
    with Loopback(handle) as srv:
        client = make_client(srv.url)
        start = threading.Barrier(8, timeout=10)

        def work() -> None:
            try:
                start.wait()
                for _ in range(2):
                    got = [m.message_id for m in client.outbound.stream(page_size=20)]
                    assert got == expected
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert srv.max_in_flight <= 8 * DEFAULT_CONCURRENCY
    # Each connection was reused: fewer than the 80 requests.
    assert len(srv.connections) <= 8 * DEFAULT_CONCURRENCY, len(srv.connections)
