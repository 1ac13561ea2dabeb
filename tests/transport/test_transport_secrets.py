"""Tokens never leak, and Postmark's Retry-After is always a usable delay.

A token with surrounding whitespace or a line break (an env file with CRLF
endings) is refused when the client is built, naming the argument and never
the value; no exception a call raises carries the token anywhere in its chain.
"""

from __future__ import annotations

import logging
import traceback

import pytest
import requests
import requests_mock

from postmark_kit import (
    AccountClient,
    ClientValidationError,
    PostmarkError,
    RateLimitError,
    RetryPolicy,
    ServerClient,
)
from tests.conftest import API

SECRET = "s3cr3t-token-9f8e7d"


def _chain(exc: BaseException) -> str:
    """Everything a log or a traceback could show of ``exc``: the whole chain, reprs too."""
    text = "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text += (
            repr(current)
            + str(current.args)
            + repr(vars(current) if hasattr(current, "__dict__") else "")
        )
        for holder in (current, getattr(current, "response", None)):
            request = getattr(holder, "request", None)  # requests' errors keep it
            if request is not None:
                text += repr(dict(request.headers)) + repr(getattr(request, "body", ""))
        current = current.__cause__ or current.__context__
    return text


@pytest.mark.parametrize(
    "token",
    [f" {SECRET}", f"{SECRET} ", f"{SECRET}\r", f"{SECRET}\n", f"{SECRET}\r\n", "\t" + SECRET],
)
@pytest.mark.parametrize(
    ("cls", "name"), [(ServerClient, "server_token"), (AccountClient, "account_token")]
)
def test_whitespace_or_a_line_break_around_a_token_is_refused_by_name(
    token: str, cls: type[ServerClient] | type[AccountClient], name: str
) -> None:
    with pytest.raises(ClientValidationError) as info:
        cls(token, base_url=API)
    assert name in str(info.value)
    assert SECRET not in _chain(info.value)


@pytest.mark.parametrize("token", ["", f"{SECRET}\x00x", f"a\r\nX-Evil: {SECRET}", "tok\u00e9n"])
def test_empty_or_control_characters_are_refused(token: str) -> None:
    with pytest.raises(ClientValidationError) as info:
        ServerClient(token, base_url=API)
    assert "server_token" in str(info.value)
    assert SECRET not in _chain(info.value)


class _ExplodingSession(requests.Session):
    """A session whose transport fails with errors quoting the request's headers."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def request(
        self, method: str | bytes, url: str | bytes, *args: object, **kwargs: object
    ) -> requests.Response:  # type: ignore[override]
        headers = kwargs.get("headers") or {}
        raise type(self.error)(f"{self.error} {headers!r}")


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.InvalidHeader("bad header"),
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
        requests.exceptions.TooManyRedirects("loop"),
    ],
)
def test_no_exception_chain_carries_the_token(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ServerClient(
        SECRET,
        base_url=API,
        session=_ExplodingSession(error),
        retries=RetryPolicy(max_retries=2, sleep=lambda _s: None),
    )
    with pytest.raises(PostmarkError) as info:
        client.server.get()
    assert SECRET not in _chain(info.value)
    assert SECRET not in caplog.text
    assert SECRET not in repr(client) and SECRET not in repr(client._transport)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("Infinity", None),
        ("-5", 0.0),
        ("1e400", None),
        ("2.5", 2.5),
        ("0", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_is_finite_and_not_negative_or_none(
    header: str, expected: float | None, mock_api: requests_mock.Mocker
) -> None:
    mock_api.get(
        f"{API}/server",
        status_code=429,
        headers={"Retry-After": header},
        json={"ErrorCode": 429, "Message": "slow down"},
    )
    slept: list[float] = []
    client = ServerClient(
        SECRET, base_url=API, retries=RetryPolicy(max_retries=1, sleep=slept.append)
    )
    with pytest.raises(RateLimitError) as info:
        client.server.get()
    assert info.value.retry_after == expected
    assert len(slept) == 1 and 0.0 <= slept[0] <= RetryPolicy().max_backoff


def test_a_real_connection_failure_keeps_no_token_in_its_chain() -> None:
    """requests' ConnectionError holds the prepared request, token header and all."""
    from tests.transport.faultserver import closed_port

    client = ServerClient(SECRET, base_url=f"http://127.0.0.1:{closed_port()}", retries=0)
    with pytest.raises(PostmarkError) as info:
        client.server.get()
    assert info.value.__cause__ is not None  # the cause is kept, redacted
    assert SECRET not in _chain(info.value)
