"""What the client put on the wire, checked exactly (for the tests of tests/api/).

requests-mock matches URLs case-insensitively and lowercases ``.qs``, so the
path and query are parsed here from the raw URL: ``fromdate``/``messageID``/
``metadata_Color`` must be spelled exactly as Postmark documents them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conftest import API, SERVER_TOKEN

#: ``body=NO_BODY``: the call has nothing to send.  GET/DELETE then carry no body and
#: no Content-Type; POST/PUT/PATCH carry ``{}`` as JSON, as the official clients send
#: (Postmark wants a JSON Content-Type on them).
NO_BODY: Any = object()
_BODY_METHODS = ("POST", "PUT", "PATCH")


def query_of(request: Any) -> dict[str, str]:
    """The request's query string as a dict; a repeated name fails the test."""
    pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True, strict_parsing=False)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"repeated query parameter in {request.url}"
    return dict(pairs)


def assert_request(
    request: Any,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = NO_BODY,
    token: str = SERVER_TOKEN,
) -> None:
    """Method, exact path, full query, auth/content headers and the exact JSON body."""
    url = urlsplit(request.url)
    assert request.method == method
    assert f"{url.scheme}://{url.netloc}" == API
    assert url.path == path
    assert query_of(request) == (query or {})
    headers = request.headers
    assert headers["X-Postmark-Server-Token"] == token
    assert "X-Postmark-Account-Token" not in headers
    assert headers["Accept"] == "application/json"
    assert "postmark-kit" in headers["User-Agent"]
    if body is NO_BODY and method in _BODY_METHODS:
        assert headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == {}
    elif body is NO_BODY:
        assert not request.body, f"unexpected body {request.body!r}"
        assert "Content-Type" not in headers
    else:
        assert headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == body


def only_request(mock: Any) -> Any:
    """The one request a call made (fails when it made none or several)."""
    assert mock.call_count == 1, [r.url for r in mock.request_history]
    return mock.last_request


def sent_json(request: Any) -> Any:
    return json.loads(request.body)


def sent_exactly(
    mock: Any,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = NO_BODY,
    account: bool = False,
) -> None:
    """The one request made: method, exact path and query (case kept), token, exact JSON."""
    from tests.conftest import ACCOUNT_TOKEN

    req = only_request(mock)
    url = urlsplit(req.url)
    assert req.method == method
    assert url.path == path
    assert dict(parse_qsl(url.query, keep_blank_values=True)) == (query or {})
    used, unused = "X-Postmark-Server-Token", "X-Postmark-Account-Token"
    if account:
        used, unused = unused, used
    assert req.headers[used] == (ACCOUNT_TOKEN if account else SERVER_TOKEN)
    assert unused not in req.headers
    if body is NO_BODY and method in _BODY_METHODS:
        assert req.headers["Content-Type"] == "application/json"
        assert json.loads(req.body) == {}
    elif body is NO_BODY:
        assert not req.body
    else:
        assert req.headers["Content-Type"] == "application/json"
        assert json.loads(req.body) == body


def all_modelled(obj: Any) -> None:
    """Every documented key, at any depth, landed in a typed field (none in ``.extra``)."""
    import attrs

    from postmark_kit.convert import Model

    if isinstance(obj, list):
        for item in obj:
            all_modelled(item)
    elif isinstance(obj, Model):
        assert obj.extra == {}, f"{type(obj).__name__}.extra = {obj.extra}"
        for field in attrs.fields(type(obj)):
            all_modelled(getattr(obj, field.name))
