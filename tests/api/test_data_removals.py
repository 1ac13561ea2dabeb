"""account.data_removals: create and follow an erasure request."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests_mock

from postmark_kit import AccountClient, ClientValidationError
from postmark_kit.models import DataRemoval, DataRemovalStatus
from tests.conftest import ACCOUNT_TOKEN, API, load_response


def _sent(mock: requests_mock.Mocker, method: str, path: str) -> Any:
    assert mock.call_count == 1
    req = mock.last_request
    assert req.method == method
    assert urlsplit(req.url).path == path
    assert urlsplit(req.url).query == ""
    assert req.headers["X-Postmark-Account-Token"] == ACCOUNT_TOKEN
    assert "X-Postmark-Server-Token" not in req.headers
    return req


def test_create_sends_every_field(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/data-removals", json=load_response("create_data_removal"))
    removal = account_client.data_removals.create(
        requested_by="dpo@example.com",
        requested_for="someone@example.org",
        notify_when_completed=True,
    )
    req = _sent(mock_api, "POST", "/data-removals")
    assert req.json() == {
        "RequestedBy": "dpo@example.com",
        "RequestedFor": "someone@example.org",
        "NotifyWhenCompleted": True,
    }
    assert removal == DataRemoval(id=1234, status="Pending")
    assert removal.extra == {}
    assert removal.done is False


def test_create_sends_notify_false_but_not_an_unset_notify(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/data-removals", json=load_response("create_data_removal"))
    account_client.data_removals.create(requested_by="a@example.com", requested_for="b@example.org")
    account_client.data_removals.create(
        requested_by="a@example.com", requested_for="b@example.org", notify_when_completed=False
    )
    first, second = (r.json() for r in mock_api.request_history)
    assert first == {"RequestedBy": "a@example.com", "RequestedFor": "b@example.org"}
    assert second == {**first, "NotifyWhenCompleted": False}


@pytest.mark.parametrize(
    ("by", "for_", "missing"),
    [("", "b@example.org", "requested_by"), ("a@example.com", "  ", "requested_for")],
)
def test_create_requires_both_addresses(
    mock_api: requests_mock.Mocker, account_client: AccountClient, by: str, for_: str, missing: str
) -> None:
    with pytest.raises(ClientValidationError, match=missing):
        account_client.data_removals.create(requested_by=by, requested_for=for_)
    assert mock_api.call_count == 0


def test_get(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.get(f"{API}/data-removals/1234", json=load_response("get_data_removal"))
    removal = account_client.data_removals.get(1234)
    req = _sent(mock_api, "GET", "/data-removals/1234")
    assert req.body is None
    assert removal == DataRemoval(id=1234, status=DataRemovalStatus.DONE)
    assert removal.extra == {}
    assert removal.done is True
