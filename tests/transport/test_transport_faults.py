"""The transport over real HTTP on 127.0.0.1, against a fault-injecting server.

Proves the retry policy of :mod:`postmark_kit.transport`: idempotent calls
recover, sends are never duplicated, every failure surfaces as the documented
exception, and the pooled session stays usable afterwards.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from postmark_kit import ServerClient
from postmark_kit.errors import (
    ApiError,
    ClientValidationError,
    InvalidResponseError,
    NetworkError,
    PostmarkError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from postmark_kit.models.email import Email
from postmark_kit.transport import RetryPolicy
from tests.conftest import SERVER_TOKEN, load_response
from tests.transport.faultserver import FaultServer, Reply, Reset, closed_port

#: (connect, read): a short read timeout keeps the timeout tests fast.
FAST_TIMEOUT = (2.0, 0.15)
SERVER_JSON = load_response("get_server")
SEND_JSON = load_response("send_email")
EMAIL = Email(from_email="a@example.com", to="b@example.com", subject="hi", text_body="x")


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, never sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer(default=Reply(200, SERVER_JSON)) as server:
        yield server


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(srv: FaultServer, sleeps: SleepRecorder) -> Iterator[Callable[..., ServerClient]]:
    made: list[ServerClient] = []

    def make(*, max_retries: int = 3, base_url: str | None = None) -> ServerClient:
        client = ServerClient(
            SERVER_TOKEN,
            base_url=base_url or srv.url,
            timeout=FAST_TIMEOUT,
            retries=RetryPolicy(max_retries=max_retries, sleep=sleeps),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ServerClient]) -> ServerClient:
    return make_client()


def assert_still_usable(client: ServerClient, srv: FaultServer) -> None:
    srv.script(Reply(200, SERVER_JSON))
    assert client.server.get().name == SERVER_JSON["Name"]


# --- pooling and headers -----------------------------------------------------


def test_hundred_calls_share_one_tcp_connection(client: ServerClient, srv: FaultServer) -> None:
    for _ in range(100):
        client.server.get()
    assert len(srv.requests) == 100
    assert srv.connections == 1


def test_headers_arrive(client: ServerClient, srv: FaultServer) -> None:
    client.email.send(EMAIL)
    got = srv.requests[0]
    assert (got.method, got.path) == ("POST", "/email")
    assert got.header("X-Postmark-Server-Token") == SERVER_TOKEN
    assert got.header("Accept") == "application/json"
    assert got.header("Content-Type") == "application/json"
    assert (got.header("User-Agent") or "").startswith("postmark-kit/")
    assert b'"From":"a@example.com"' in got.body


def test_tls_verification_is_not_disabled(client: ServerClient) -> None:
    assert client.session.verify is not False


def test_a_timeout_is_required() -> None:
    with pytest.raises(ClientValidationError, match="timeout"):
        ServerClient(SERVER_TOKEN, timeout=None)  # type: ignore[arg-type]


# --- timeouts and connection failures ----------------------------------------


def test_read_timeout_raises_request_timeout(
    make_client: Callable[..., ServerClient], srv: FaultServer
) -> None:
    client = make_client(max_retries=0)
    srv.script(Reply(200, SERVER_JSON, delay=2.0))
    with pytest.raises(RequestTimeoutError) as info:
        client.server.get()
    assert info.value.may_have_been_sent is True
    assert len(srv.requests) == 1
    assert_still_usable(client, srv)


def test_stalled_body_is_a_read_timeout(
    make_client: Callable[..., ServerClient], srv: FaultServer
) -> None:
    client = make_client(max_retries=0)
    srv.script(Reply(200, SERVER_JSON, delay=2.0, slow_body=True))
    with pytest.raises(RequestTimeoutError) as info:
        client.server.get()
    assert info.value.may_have_been_sent is True
    assert_still_usable(client, srv)


def test_get_retried_after_read_timeout(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reply(200, SERVER_JSON, delay=2.0))
    assert client.server.get().name == SERVER_JSON["Name"]
    assert len(srv.requests) == 2
    assert len(sleeps.waits) == 1


def test_connect_failure_is_network_error_not_sent(
    make_client: Callable[..., ServerClient], sleeps: SleepRecorder
) -> None:
    client = make_client(max_retries=2, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(NetworkError) as info:
        client.server.get()
    assert info.value.may_have_been_sent is False
    assert len(sleeps.waits) == 2  # retried, then gave up


def test_send_retried_when_connection_refused(
    make_client: Callable[..., ServerClient], sleeps: SleepRecorder
) -> None:
    client = make_client(max_retries=1, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(NetworkError) as info:
        client.email.send(EMAIL)
    assert info.value.may_have_been_sent is False
    assert len(sleeps.waits) == 1  # a refused POST never reached Postmark: safe to repeat


def test_get_retried_on_connection_reset(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reset(), Reset())
    assert client.server.get().name == SERVER_JSON["Name"]
    assert len(srv.requests) == 3
    assert len(sleeps.waits) == 2


def test_reset_exhausting_retries_is_network_error(
    make_client: Callable[..., ServerClient], srv: FaultServer
) -> None:
    client = make_client(max_retries=2)
    srv.script(Reset(), Reset(), Reset())
    with pytest.raises(NetworkError) as info:
        client.server.get()
    assert info.value.may_have_been_sent is True
    assert len(srv.requests) == 3
    assert_still_usable(client, srv)


# --- status-driven retries ---------------------------------------------------


def test_get_retried_on_503_then_succeeds(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reply(503, {"ErrorCode": 100, "Message": "Maintenance"}), Reply(500, b""))
    assert client.server.get().name == SERVER_JSON["Name"]
    assert len(srv.requests) == 3
    assert len(sleeps.waits) == 2
    assert all(0 <= w <= 30 for w in sleeps.waits)
    assert srv.connections == 1  # error answers do not cost the pooled connection


def test_get_honours_retry_after_on_429(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(
        Reply(429, {"ErrorCode": 429, "Message": "slow down"}, headers={"Retry-After": "7"}),
        Reply(429, {}, headers={"Retry-After": "2.5"}),
    )
    assert client.server.get().name == SERVER_JSON["Name"]
    assert sleeps.waits == [7.0, 2.5]


def test_retries_are_bounded_then_server_error(
    make_client: Callable[..., ServerClient], srv: FaultServer, sleeps: SleepRecorder
) -> None:
    client = make_client(max_retries=2)
    srv.script([Reply(503, {"ErrorCode": 100, "Message": "Maintenance"})] * 5)
    with pytest.raises(ServerError) as info:
        client.server.get()
    assert info.value.status_code == 503
    assert info.value.error_code == 100
    assert len(srv.requests) == 3
    assert len(sleeps.waits) == 2
    assert_still_usable(client, srv)


def test_429_exhausting_retries_is_rate_limit_error(
    make_client: Callable[..., ServerClient], srv: FaultServer
) -> None:
    client = make_client(max_retries=1)
    srv.script([Reply(429, {"Message": "slow"}, headers={"Retry-After": "3"})] * 2)
    with pytest.raises(RateLimitError) as info:
        client.server.get()
    assert info.value.status_code == 429
    assert info.value.retry_after == 3.0
    assert len(srv.requests) == 2


# --- sends are never duplicated ----------------------------------------------


def test_send_not_retried_after_read_timeout(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reply(200, SEND_JSON, delay=2.0))
    with pytest.raises(RequestTimeoutError) as info:
        client.email.send(EMAIL)
    assert info.value.may_have_been_sent is True
    assert len(srv.requests) == 1
    assert sleeps.waits == []
    assert_still_usable(client, srv)


@pytest.mark.parametrize("status", [500, 503])
def test_send_not_retried_after_5xx(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder, status: int
) -> None:
    srv.script(Reply(status, {"ErrorCode": 0, "Message": "boom"}))
    with pytest.raises(ServerError) as info:
        client.email.send(EMAIL)
    assert info.value.status_code == status
    assert len(srv.requests) == 1
    assert sleeps.waits == []
    assert_still_usable(client, srv)


def test_send_not_retried_after_connection_reset(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reset())
    with pytest.raises(NetworkError) as info:
        client.email.send(EMAIL)
    assert info.value.may_have_been_sent is True
    assert len(srv.requests) == 1
    assert_still_usable(client, srv)


def test_send_retried_on_429(client: ServerClient, srv: FaultServer, sleeps: SleepRecorder) -> None:
    srv.script(Reply(429, {"Message": "slow"}, headers={"Retry-After": "1"}), Reply(200, SEND_JSON))
    result = client.email.send(EMAIL)
    assert result.message_id == SEND_JSON["MessageID"]
    assert [r.path for r in srv.requests] == ["/email", "/email"]
    assert srv.requests[0].body == srv.requests[1].body
    assert sleeps.waits == [1.0]


# --- broken answers ----------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b'{"Name": "Staging", "ID":', content_length=400),
        Reply(200, b'{"Name": "Staging", "ID":'),
        Reply(200, b"<html>proxy error</html>"),
    ],
    ids=["short-body", "invalid-json", "html"],
)
def test_broken_json_is_invalid_response(
    make_client: Callable[..., ServerClient], srv: FaultServer, reply: Reply
) -> None:
    client = make_client(max_retries=0)
    srv.script(reply)
    with pytest.raises(InvalidResponseError):
        client.server.get()
    assert_still_usable(client, srv)


def test_truncated_send_is_not_retried(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reply(200, b'{"MessageID": "b7bc2f4a', content_length=200))
    with pytest.raises(InvalidResponseError):
        client.email.send(EMAIL)
    assert len(srv.requests) == 1
    assert sleeps.waits == []
    assert_still_usable(client, srv)


# --- the token never leaks ---------------------------------------------------


def _faults(srv: FaultServer) -> list[Any]:
    return [
        Reply(200, SERVER_JSON, delay=2.0),
        Reset(),
        Reply(503, {"ErrorCode": 100, "Message": "Maintenance"}),
        Reply(429, {"Message": "slow"}, headers={"Retry-After": "1"}),
        Reply(401, {"ErrorCode": 10, "Message": "Bad or missing API token"}),
        Reply(200, b'{"Name":', content_length=100),
    ]


def test_token_never_in_errors_or_logs(
    make_client: Callable[..., ServerClient],
    srv: FaultServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    caplog.set_level(logging.DEBUG, logger="postmark_kit")
    client = make_client(max_retries=1)
    seen: list[PostmarkError] = []
    for fault in _faults(srv):
        srv.script(fault, fault)
        with pytest.raises(PostmarkError) as info:
            client.server.get()
        seen.append(info.value)
    refused = make_client(max_retries=1, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(PostmarkError) as info:
        refused.server.get()
    seen.append(info.value)
    assert len(seen) == 7
    assert caplog.records  # the capture did see the transport's and urllib3's logs
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for exc in seen:
        for text in (str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)):
            assert SERVER_TOKEN not in text
    assert SERVER_TOKEN not in caplog.text
    assert SERVER_TOKEN not in repr(client) + repr(client._transport)
    assert isinstance(client.session, requests.Session)


# --- redirects and Retry-After forms -----------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_followed_so_the_token_stays_home(
    client: ServerClient, srv: FaultServer, status: int
) -> None:
    # requests strips only ``Authorization`` on a cross-host redirect, not
    # Postmark's token header: following one would hand the token to that host.
    with FaultServer() as elsewhere:
        srv.script(Reply(status, b"", headers={"Location": f"{elsewhere.url}/server"}))
        with pytest.raises(ApiError) as info:
            client.server.get()
        assert info.value.status_code == status
        assert elsewhere.requests == []
    assert len(srv.requests) == 1
    assert_still_usable(client, srv)


def test_retry_after_is_capped_and_accepts_an_http_date(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(
        Reply(429, {}, headers={"Retry-After": "3600"}),
        Reply(429, {}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    )
    client.server.get()
    assert sleeps.waits == [30.0, 0.0]  # capped at max_backoff; a past date means now


# --- errors survive a trip to another process --------------------------------


def test_errors_raised_over_http_pickle_round_trip(
    make_client: Callable[..., ServerClient], srv: FaultServer
) -> None:
    client = make_client(max_retries=0)
    srv.script(
        Reply(422, {"ErrorCode": 406, "Message": "Inactive recipient"}),
        Reply(429, {}, headers={"Retry-After": "4"}),
        Reply(200, SERVER_JSON, delay=2.0),
        Reply(200, b"<html>"),
    )
    for _ in range(4):
        with pytest.raises(PostmarkError) as info:
            client.server.get()
        original = info.value
        copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
        assert type(copy) is type(original)
        assert str(copy) == str(original)
        assert vars(copy) == vars(original)


def test_send_after_server_dropped_the_idle_connection(
    client: ServerClient, srv: FaultServer, sleeps: SleepRecorder
) -> None:
    srv.script(Reply(200, SERVER_JSON, silent_close=True), Reply(200, SEND_JSON))
    client.server.get()
    assert srv.wait_closed(1)  # the server has hung up on the pooled connection
    result = client.email.send(EMAIL)
    assert result.message_id == SEND_JSON["MessageID"]
    assert [r.method for r in srv.requests] == ["GET", "POST"]
    assert srv.connections == 2  # the stale pooled connection was replaced, not used
    assert sleeps.waits == []
