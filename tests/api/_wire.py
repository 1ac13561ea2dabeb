"""What the client put on the wire, checked exactly (for the tests of tests/api/).

requests-mock matches URLs case-insensitively and lowercases ``.qs``, so the
path and query are parsed here from the raw URL: ``fromdate``/``messageID``/
``metadata_Color`` must be spelled exactly as Postmark documents them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conftest import API, SERVER_TOKEN

#: ``body=NO_BODY``: the request must carry no body and no Content-Type.
NO_BODY: Any = object()


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
    if body is NO_BODY:
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
