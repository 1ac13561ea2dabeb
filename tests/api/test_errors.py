"""How Postmark's error answers surface through the public API, and that tokens never leak."""

from __future__ import annotations

import logging

import pytest
import requests

from postmark_kit import (
    ApiError,
    BatchSendError,
    ClientValidationError,
    Email,
    InactiveRecipientError,
    InvalidEmailError,
    InvalidResponseError,
    InvalidTokenError,
    NotFoundError,
    PostmarkError,
    RateLimitError,
    RetryPolicy,
    SenderSignatureError,
    ServerClient,
    ServerError,
    UnprocessableEntityError,
)
from tests.api._wire import only_request
from tests.conftest import API, SERVER_TOKEN

INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive "
    "addresses: bad@example.com. Inactive recipients are ones that have generated a hard "
    "bounce, a spam complaint, or a manual suppression."
)


def _email(to: str = "bad@example.com") -> Email:
    return Email(from_email="s@example.com", to=to, subject="Hi", text_body="Hello")


def test_inactive_recipient(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email", status_code=422, json={"ErrorCode": 406, "Message": INACTIVE})

    with pytest.raises(InactiveRecipientError) as caught:
        server_client.email.send(_email())

    error = caught.value
    assert isinstance(error, UnprocessableEntityError)
    assert isinstance(error, ApiError) and isinstance(error, PostmarkError)
    assert error.status_code == 422
    assert error.error_code == 406
    assert error.message == INACTIVE
    assert (error.method, error.path) == ("POST", "/email")
    assert error.body == {"ErrorCode": 406, "Message": INACTIVE}
    assert str(error).startswith("HTTP 422, ErrorCode 406: You tried to send")
    assert "POST /email" in str(error)
    assert repr(error).startswith("InactiveRecipientError(status_code=422, error_code=406")
    assert mock_api.call_count == 1  # a refused send is never retried


@pytest.mark.parametrize(
    "answer",
    [
        {
            "status_code": 401,
            "json": {
                "ErrorCode": 10,
                "Message": "No Account or Server API tokens were supplied in the HTTP headers.",
            },
        },
        {"status_code": 401, "text": ""},
        {"status_code": 422, "json": {"ErrorCode": 10, "Message": "Bad or missing API token"}},
    ],
    ids=["401-with-code", "401-empty", "422-code-10"],
)
def test_invalid_token(mock_api, server_client, answer) -> None:
    mock_api.get(f"{API}/deliverystats", **answer)

    with pytest.raises(InvalidTokenError) as caught:
        server_client.bounces.get_delivery_stats()

    assert caught.value.status_code == answer["status_code"]
    assert mock_api.call_count == 1  # 401 is not worth retrying


def test_invalid_email(mock_api, server_client) -> None:
    message = "Error parsing 'To': Illegal email address 'not-an-address'."
    mock_api.post(f"{API}/email", status_code=422, json={"ErrorCode": 300, "Message": message})

    with pytest.raises(InvalidEmailError) as caught:
        server_client.email.send(_email("not-an-address"))

    assert (caught.value.status_code, caught.value.error_code) == (422, 300)
    assert caught.value.message == message


def test_sender_signature(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/email",
        status_code=422,
        json={
            "ErrorCode": 400,
            "Message": "The 'From' address you supplied is not a Sender Signature.",
        },
    )

    with pytest.raises(SenderSignatureError) as caught:
        server_client.email.send(_email())
    assert caught.value.error_code == 400


def test_plain_404(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces/1", status_code=404, text="<html>Not Found</html>")

    with pytest.raises(NotFoundError) as caught:
        server_client.bounces.get(1)

    assert caught.value.status_code == 404
    assert caught.value.error_code is None
    assert caught.value.body is None


@pytest.mark.parametrize(
    ("call", "method", "url", "code"),
    [
        (lambda c: c.outbound.get("nope"), "GET", "/messages/outbound/nope/details", 701),
        (lambda c: c.bounces.get(5), "GET", "/bounces/5", 1001),
        (lambda c: c.inbound_rules.delete(5), "DELETE", "/triggers/inboundrules/5", 812),
    ],
    ids=["message", "bounce", "inbound-rule"],
)
def test_not_found_error_codes(mock_api, server_client, call, method, url, code) -> None:
    mock_api.register_uri(
        method,
        f"{API}{url}",
        status_code=422,
        json={"ErrorCode": code, "Message": "not found"},
    )

    with pytest.raises(NotFoundError) as caught:
        call(server_client)

    assert (caught.value.status_code, caught.value.error_code) == (422, code)


def test_unknown_error_code_is_a_generic_422(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/triggers/inboundrules", status_code=422, json={"ErrorCode": 9999, "Message": "new"}
    )

    with pytest.raises(UnprocessableEntityError) as caught:
        server_client.inbound_rules.create("x.example.com")

    assert type(caught.value) is UnprocessableEntityError
    assert caught.value.error_code == 9999


def test_server_error_on_a_send_is_not_repeated(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/email", status_code=500, json={"ErrorCode": 0, "Message": "Internal Server Error"}
    )

    with pytest.raises(ServerError) as caught:
        server_client.email.send(_email())

    assert caught.value.status_code == 500
    assert mock_api.call_count == 1


def test_server_error_on_a_read_is_retried_then_raised(mock_api, server_client) -> None:
    mock_api.get(f"{API}/stats/outbound", status_code=503, text="maintenance")

    with pytest.raises(ServerError) as caught:
        server_client.stats.get_outbound_overview()

    assert caught.value.status_code == 503
    assert mock_api.call_count == 4  # first try + 3 retries (no-sleep policy)


def test_server_error_then_success_on_a_read(mock_api, server_client) -> None:
    mock_api.get(
        f"{API}/deliverystats",
        [{"status_code": 500, "text": ""}, {"json": {"InactiveMails": 1, "Bounces": []}}],
    )

    assert server_client.bounces.get_delivery_stats().inactive_mails == 1
    assert mock_api.call_count == 2


def test_rate_limit(mock_api) -> None:
    mock_api.post(
        f"{API}/email",
        status_code=429,
        headers={"Retry-After": "7"},
        json={"ErrorCode": 0, "Message": "slow down"},
    )
    slept: list[float] = []

    with (
        ServerClient(
            SERVER_TOKEN, base_url=API, retries=RetryPolicy(max_retries=1, sleep=slept.append)
        ) as client,
        pytest.raises(RateLimitError) as caught,
    ):
        client.email.send(_email())

    assert caught.value.retry_after == 7.0
    assert slept == [7.0]  # a 429 means Postmark did not act: even a send is retried
    assert mock_api.call_count == 2


def test_success_with_a_body_that_is_not_json(mock_api, server_client) -> None:
    mock_api.get(f"{API}/bounces/1", text="<html>proxy</html>")

    with pytest.raises(InvalidResponseError):
        server_client.bounces.get(1)


def test_client_validation_error_is_a_value_error(mock_api, server_client) -> None:
    with pytest.raises(ValueError):
        server_client.outbound.list(count=501)
    assert issubclass(ClientValidationError, PostmarkError)
    assert mock_api.call_count == 0


# --- the token never leaks ---------------------------------------------------------------------

SECRET = "d7c0ffee-5ec2-47e7-b0b0-5ecre7700000"


def _every_text(error: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "status_code": 401,
                "json": {"ErrorCode": 10, "Message": "Bad or missing Server API token"},
            },
            InvalidTokenError,
        ),
        (
            {"status_code": 422, "json": {"ErrorCode": 406, "Message": INACTIVE}},
            InactiveRecipientError,
        ),
        ({"status_code": 500, "text": "boom"}, ServerError),
        ({"status_code": 429, "json": {"Message": "slow"}}, RateLimitError),
    ],
    ids=["401", "406", "500", "429"],
)
def test_token_is_absent_from_errors_and_logs(mock_api, caplog, answer, expected) -> None:
    caplog.set_level(logging.DEBUG)
    mock_api.get(f"{API}/messages/outbound", **answer)
    mock_api.post(
        f"{API}/email/batch",
        [{"json": [{"ErrorCode": 0, "Message": "OK", "To": "a@example.com"}]}, answer],
    )

    with ServerClient(
        SECRET, base_url=API, retries=RetryPolicy(max_retries=2, sleep=lambda _s: None)
    ) as client:
        assert SECRET not in repr(client) and SECRET not in repr(client.outbound)
        with pytest.raises(expected) as read_error:
            client.outbound.list()
        with pytest.raises(BatchSendError) as batch_error:
            client.email.send_batch((_email(f"u{i}@example.com") for i in range(2)), chunk_size=1)

    assert mock_api.request_history[0].headers["X-Postmark-Server-Token"] == SECRET
    for error in (read_error.value, batch_error.value):
        assert SECRET not in _every_text(error)
    if answer["status_code"] in (429, 500):
        assert any(r.name.startswith("postmark_kit") for r in caplog.records), "retries are logged"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args)
        assert SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text


def test_token_is_absent_from_transport_failures(mock_api, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    mock_api.get(f"{API}/deliverystats", exc=requests.ConnectionError("connection reset"))

    with (
        ServerClient(
            SECRET, base_url=API, retries=RetryPolicy(max_retries=1, sleep=lambda _s: None)
        ) as client,
        pytest.raises(PostmarkError) as caught,
    ):
        client.bounces.get_delivery_stats()

    assert SECRET not in _every_text(caught.value)
    assert SECRET not in caplog.text


def test_request_carries_the_token_only_in_its_header(mock_api, server_client) -> None:
    mock_api.get(f"{API}/deliverystats", json={"InactiveMails": 0, "Bounces": []})

    server_client.bounces.get_delivery_stats()

    request = only_request(mock_api)
    assert SERVER_TOKEN not in request.url
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN


def test_response_of_the_wrong_shape_is_an_invalid_response_error(mock_api, server_client) -> None:
    from postmark_kit import InvalidResponseError

    mock_api.get(f"{API}/bounces/7", json={"BouncedAt": "not a timestamp"})
    with pytest.raises(InvalidResponseError) as info:
        server_client.bounces.get(7)
    assert info.value.path == "/bounces/7"

    mock_api.get(f"{API}/bounces", json={"TotalCount": 1, "Bounces": [17]})
    with pytest.raises(InvalidResponseError):
        server_client.bounces.list(count=1)
