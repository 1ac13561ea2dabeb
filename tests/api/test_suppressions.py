"""client.suppressions: dump, create and delete, chunked at Postmark's 50-address limit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock

from postmark_kit import ApiError, BatchSendError, ClientValidationError, ServerClient
from postmark_kit.convert import unstructure
from postmark_kit.models import (
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
    SuppressionResult,
    SuppressionStatus,
)
from tests.conftest import API, SERVER_TOKEN, load_response

BASE = f"{API}/message-streams/outbound/suppressions"


def _check_server_request(req: Any, method: str, path: str) -> None:
    assert req.method == method
    assert urlsplit(req.url).path == path
    assert req.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    assert "X-Postmark-Account-Token" not in req.headers


def _query(req: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(req.url).query, keep_blank_values=True)


def _without_nulls(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def _echo(status: str) -> Any:
    """A Postmark stand-in answering one result per address it was sent."""

    def answer(request: Any, context: Any) -> dict[str, Any]:
        return {
            "Suppressions": [
                {"EmailAddress": s["EmailAddress"], "Status": status, "Message": None}
                for s in request.json()["Suppressions"]
            ]
        }

    return answer


def test_list_without_filters(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.get(f"{BASE}/dump", json=load_response("list_suppressions"))
    dump = server_client.suppressions.list("outbound")
    assert mock_api.call_count == 1
    req = mock_api.last_request
    _check_server_request(req, "GET", "/message-streams/outbound/suppressions/dump")
    assert _query(req) == {}
    assert req.body is None
    assert all(isinstance(s, Suppression) and s.extra == {} for s in dump)
    assert [unstructure(s) for s in dump] == load_response("list_suppressions")["Suppressions"]
    first = dump[0]
    assert first.email_address == "address@wildbit.com"
    assert first.suppression_reason == SuppressionReason.MANUAL_SUPPRESSION
    assert first.origin == SuppressionOrigin.RECIPIENT
    assert first.created_at == datetime(2019, 12, 17, 13, 58, 33, tzinfo=UTC)


def test_list_sends_every_filter(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{BASE}/dump", json={"Suppressions": []})
    dump = server_client.suppressions.list(
        "outbound",
        suppression_reason=SuppressionReason.HARD_BOUNCE,
        origin="Customer",
        from_date=date(2024, 1, 1),
        # 02:00 UTC on Feb 1 is still Jan 31 in Postmark's (US Eastern) time zone.
        to_date=datetime(2024, 2, 1, 2, 0, tzinfo=UTC),
        email_address="someone@example.com",
    )
    assert dump == []
    assert _query(mock_api.last_request) == {
        "SuppressionReason": ["HardBounce"],
        "Origin": ["Customer"],
        "fromdate": ["2024-01-01"],
        "todate": ["2024-01-31"],
        "EmailAddress": ["someone@example.com"],
    }


def test_stream_id_is_one_escaped_path_segment(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(requests_mock.ANY, json={"Suppressions": []})
    server_client.suppressions.list("news/letter x")
    assert urlsplit(mock_api.last_request.url).path == (
        "/message-streams/news%2Fletter%20x/suppressions/dump"
    )


def test_empty_stream_id_is_refused(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="stream"):
        server_client.suppressions.create("", ["a@example.com"])
    assert mock_api.call_count == 0


def test_create(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.post(BASE, json=load_response("create_suppressions"))
    addresses = [
        "good.address@wildbit.com",
        "spammy.address@wildbit.com",
        "invalid-email-address",
    ]
    results = server_client.suppressions.create("outbound", addresses)
    assert mock_api.call_count == 1
    req = mock_api.last_request
    _check_server_request(req, "POST", "/message-streams/outbound/suppressions")
    assert _query(req) == {}
    assert req.json() == {"Suppressions": [{"EmailAddress": a} for a in addresses]}
    assert all(isinstance(r, SuppressionResult) and r.extra == {} for r in results)
    assert [unstructure(r) for r in results] == [
        _without_nulls(item) for item in load_response("create_suppressions")["Suppressions"]
    ]
    assert results[0] == SuppressionResult(
        email_address="good.address@wildbit.com", status="Suppressed", message=None
    )
    assert [r.ok for r in results] == [True, False, False]
    assert results[2].message == "An invalid email address was provided."


def test_delete_is_a_post_to_the_delete_path(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{BASE}/delete", json=load_response("delete_suppressions"))
    addresses = [
        "good.address@wildbit.com",
        "not.suppressed@wildbit.com",
        "spammy.address@wildbit.com",
    ]
    results = server_client.suppressions.delete("outbound", addresses)
    assert mock_api.call_count == 1
    req = mock_api.last_request
    _check_server_request(req, "POST", "/message-streams/outbound/suppressions/delete")
    assert req.json() == {"Suppressions": [{"EmailAddress": a} for a in addresses]}
    assert [unstructure(r) for r in results] == [
        _without_nulls(item) for item in load_response("delete_suppressions")["Suppressions"]
    ]
    assert [r.status for r in results] == [
        SuppressionStatus.DELETED,
        SuppressionStatus.DELETED,
        SuppressionStatus.FAILED,
    ]
    assert [r.ok for r in results] == [True, True, False]
    assert all(r.extra == {} for r in results)


@pytest.mark.parametrize("action", ["create", "delete"])
def test_more_than_50_addresses_go_out_in_chunks_of_50_in_order(
    mock_api: requests_mock.Mocker, server_client: ServerClient, action: str
) -> None:
    path = BASE if action == "create" else f"{BASE}/delete"
    mock_api.post(path, json=_echo("Suppressed" if action == "create" else "Deleted"))
    addresses = [f"user{i}@example.com" for i in range(120)]
    results = getattr(server_client.suppressions, action)("outbound", iter(addresses))
    sent = [[s["EmailAddress"] for s in r.json()["Suppressions"]] for r in mock_api.request_history]
    assert [len(chunk) for chunk in sent] == [50, 50, 20]
    assert [a for chunk in sent for a in chunk] == addresses
    assert [r.email_address for r in results] == addresses
    assert all(r.ok for r in results)


def test_exactly_50_addresses_is_one_call(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(BASE, json=_echo("Suppressed"))
    results = server_client.suppressions.create(
        "outbound", [f"u{i}@example.com" for i in range(50)]
    )
    assert mock_api.call_count == 1
    assert len(results) == 50


def test_a_single_address_string_is_one_address(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(BASE, json=_echo("Suppressed"))
    results = server_client.suppressions.create("outbound", "one@example.com")
    assert mock_api.last_request.json() == {"Suppressions": [{"EmailAddress": "one@example.com"}]}
    assert [r.email_address for r in results] == ["one@example.com"]


def test_no_addresses_sends_nothing(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    assert server_client.suppressions.delete("outbound", []) == []
    assert mock_api.call_count == 0


@pytest.mark.parametrize("bad", ["", None, 42])
def test_a_bad_address_anywhere_sends_nothing(
    mock_api: requests_mock.Mocker, server_client: ServerClient, bad: Any
) -> None:
    addresses = [f"u{i}@example.com" for i in range(60)] + [bad]
    with pytest.raises(ClientValidationError, match="address"):
        server_client.suppressions.create("outbound", addresses)
    assert mock_api.call_count == 0


def test_failure_of_the_first_call_is_raised_as_is(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(BASE, status_code=422, json={"ErrorCode": 1234, "Message": "Stream not found"})
    with pytest.raises(ApiError) as info:
        server_client.suppressions.create("outbound", ["a@example.com"])
    assert not isinstance(info.value, BatchSendError)
    assert info.value.error_code == 1234


def test_failure_after_a_chunk_went_through_keeps_its_results(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    ok = {
        "Suppressions": [
            {"EmailAddress": f"u{i}@example.com", "Status": "Suppressed"} for i in range(50)
        ]
    }
    mock_api.post(
        BASE,
        [
            {"json": ok},
            {"status_code": 422, "json": {"ErrorCode": 1234, "Message": "Stream not found"}},
        ],
    )
    with pytest.raises(BatchSendError) as info:
        server_client.suppressions.create("outbound", [f"u{i}@example.com" for i in range(70)])
    assert [r.email_address for r in info.value.results] == [f"u{i}@example.com" for i in range(50)]
    assert isinstance(info.value.error, ApiError)
    assert info.value.error.error_code == 1234
    assert mock_api.call_count == 2


def test_a_server_error_is_retried_because_the_change_is_idempotent(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(
        f"{BASE}/delete",
        [{"status_code": 503}, {"json": _echo("Deleted")}],
    )
    results = server_client.suppressions.delete("outbound", ["a@example.com"])
    assert mock_api.call_count == 2
    assert [r.status for r in results] == ["Deleted"]
