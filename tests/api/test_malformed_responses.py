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

import json
import warnings
from typing import Any

import pytest
import requests_mock

from postmark_kit import AccountClient, InvalidResponseError, PostmarkError, ServerClient
from tests.api.test_coverage import CALLS, OPERATIONS
from tests.conftest import load_response

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


@pytest.mark.parametrize("op_id", IDS)
def test_a_malformed_body_is_an_invalid_response_error(
    op_id: str,
    mock_api: requests_mock.Mocker,
    server_client: ServerClient,
    account_client: AccountClient,
) -> None:
    for name, body in _bodies(op_id).items():
        mock_api.register_uri(requests_mock.ANY, requests_mock.ANY, content=body)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(InvalidResponseError) as info:
                CALLS[op_id](server_client, account_client)
        assert isinstance(info.value, PostmarkError), name
        assert info.value.method and info.value.path, name  # says which call it was
        assert "\n" not in str(info.value), name


@pytest.mark.parametrize("op_id", sorted(IDS))
def test_one_swapped_field_at_a_time_never_escapes_as_another_exception(
    op_id: str,
    mock_api: requests_mock.Mocker,
    server_client: ServerClient,
    account_client: AccountClient,
) -> None:
    """Each documented key swapped alone: accepted, or an InvalidResponseError naming it."""
    doc = load_response(op_id)
    items = doc if isinstance(doc, list) else [doc]
    for key in sorted({k for item in items for k in item}):
        swapped = [{k: _swap(v) if k == key else v for k, v in item.items()} for item in items]
        body = swapped if isinstance(doc, list) else swapped[0]
        mock_api.register_uri(requests_mock.ANY, requests_mock.ANY, json=body)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                CALLS[op_id](server_client, account_client)
            except InvalidResponseError as exc:
                assert key in str(exc) or "results" in str(exc), (key, str(exc))
