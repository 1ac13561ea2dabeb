"""Every operation of the catalog: a malformed 2xx body is an InvalidResponseError.

Each public call of ``test_coverage.CALLS`` gets, as a 200, bodies no
operation documents: empty, not JSON, a bare scalar, an array where an object
is due (an object for the batch sends), every value of its documented answer
swapped for a value of another JSON type, and nesting too deep for the
decoder or for an untyped field.  Whatever the body, the call raises
:class:`InvalidResponseError` (a :class:`PostmarkError`): a caller's
``except PostmarkError`` always sees an outcome it cannot trust.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests_mock

from postmark_kit import AccountClient, InvalidResponseError, PostmarkError, ServerClient
from tests.api.test_coverage import CALLS, OPERATIONS
from tests.conftest import ACCOUNT_TOKEN, API, SERVER_TOKEN, load_response

IDS = [op["id"] for op in OPERATIONS if op["id"] in CALLS]

#: Operations whose documented answer is a JSON array (the batch sends).
ARRAY_ANSWERS = {"send_email_batch", "send_email_batch_with_templates"}

#: Answers whose keys are data, not schema (a breakdown by client or browser
#: name): any value type is theirs to keep, so a type swap is not an error.
DYNAMIC_KEYS = {"get_open_client_usage", "get_click_browser_usage", "get_open_read_times"}

DEEP = 100_000  # past what json's decoder recurses into
NESTED = "[" * 500 + "]" * 500  # decodable, far past MAX_DEPTH


def _swap(value: Any) -> Any:
    """A value of another JSON type, the same shape one level down."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "12"
    if isinstance(value, str):
        return 12
    if isinstance(value, list):
        return {"0": value}
    if isinstance(value, dict):
        return [value]
    return value  # null stays null: every field may be absent


def _swapped(op_id: str) -> Any:
    doc = load_response(op_id)
    if isinstance(doc, list):
        return [{k: _swap(v) for k, v in item.items()} for item in doc]
    return {k: _swap(v) for k, v in doc.items()}


def _with_later_key(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a deeply nested unknown key where the model keeps it (in ``extra``).

    A list answer's envelope keeps nothing but its list: the key goes in its first item.
    """
    nested = json.loads(NESTED)
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return {**doc, key: [{**value[0], "Later": nested}, *value[1:]]}
    return {**doc, "Later": nested}


def _bodies(op_id: str) -> dict[str, bytes]:
    doc = load_response(op_id)
    wrong_container = b"{}" if op_id in ARRAY_ANSWERS else b"[]"
    bodies = {
        "empty": b"",
        "not JSON": b"<html>502 Bad Gateway</html>",
        "truncated": json.dumps(doc).encode()[:-3],
        "null": b"null",
        "number": b"42",
        "string": b'"OK"',
        "wrong container": wrong_container,
        "deep nesting": b"[" * DEEP + b"]" * DEEP,
    }
    if isinstance(doc, dict) and doc:
        bodies["deep in an unknown key"] = json.dumps(_with_later_key(doc)).encode()
    if op_id not in DYNAMIC_KEYS and doc:
        bodies["every value of another type"] = json.dumps(_swapped(op_id)).encode()
    return bodies


class CannedSession(requests.Session):
    """A caller's session (the clients' ``session=``) answering every call 200 with ``body``.

    What is tested here is how each operation reads a body; requests' own
    preparing, adapters and requests-mock were three quarters of the time of
    ~1,500 calls.  ``test_the_canned_session_answers_as_requests_mock_does``
    runs a representative through requests-mock and the clients' own session.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = b""
        self.calls = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> Any:
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.url = str(url)
        response.headers["Content-Type"] = "application/json"
        response.raw = io.BytesIO(self.body)  # read as requests reads any file-like raw
        self.calls += 1
        return response


@pytest.fixture(scope="module")
def canned() -> Iterator[tuple[CannedSession, ServerClient, AccountClient]]:
    """One session and two clients for the module: every answer is a 200, so the
    clients keep no state from one call to the next (no 429, no pause)."""
    session = CannedSession()
    server = ServerClient(SERVER_TOKEN, base_url=API, session=session)
    account = AccountClient(ACCOUNT_TOKEN, base_url=API, session=session)
    yield session, server, account
    server.close()
    account.close()
    session.close()


def _assert_each_body_is_invalid(
    op_id: str, bodies: dict[str, bytes], answer: Any, server: ServerClient, account: AccountClient
) -> None:
    for name, body in bodies.items():
        answer(body)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(InvalidResponseError) as info:
                CALLS[op_id](server, account)
        assert isinstance(info.value, PostmarkError), name
        assert info.value.method and info.value.path, name  # says which call it was
        assert "\n" not in str(info.value), name


@pytest.mark.parametrize("op_id", IDS)
def test_a_malformed_body_is_an_invalid_response_error(
    op_id: str, canned: tuple[CannedSession, ServerClient, AccountClient]
) -> None:
    session, server, account = canned
    bodies = _bodies(op_id)
    calls = session.calls

    def answer(body: bytes) -> None:
        session.body = body

    _assert_each_body_is_invalid(op_id, bodies, answer, server, account)
    assert session.calls - calls == len(bodies)  # each one was answered, none refused before


@pytest.mark.parametrize("op_id", ["get_server", "send_email_batch", "list_outbound_messages"])
def test_the_canned_session_answers_as_requests_mock_does(
    op_id: str,
    mock_api: requests_mock.Mocker,
    server_client: ServerClient,
    account_client: AccountClient,
) -> None:
    """An object, an array and a page answer, each body through the clients' own session."""

    def answer(body: bytes) -> None:
        mock_api.register_uri(requests_mock.ANY, requests_mock.ANY, content=body)

    _assert_each_body_is_invalid(op_id, _bodies(op_id), answer, server_client, account_client)


@pytest.mark.parametrize("op_id", sorted(IDS))
def test_one_swapped_field_at_a_time_never_escapes_as_another_exception(
    op_id: str, canned: tuple[CannedSession, ServerClient, AccountClient]
) -> None:
    """Each documented key swapped alone: accepted, or an InvalidResponseError naming it."""
    session, server, account = canned
    doc = load_response(op_id)
    items = doc if isinstance(doc, list) else [doc]
    for key in sorted({k for item in items for k in item}):
        swapped = [{k: _swap(v) if k == key else v for k, v in item.items()} for item in items]
        session.body = json.dumps(swapped if isinstance(doc, list) else swapped[0]).encode()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                CALLS[op_id](server, account)
            except InvalidResponseError as exc:
                assert key in str(exc) or "results" in str(exc), (key, str(exc))
