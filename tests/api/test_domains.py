"""account.domains: every operation's request and typed answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock

from postmark_kit import AccountClient, ClientValidationError, NotFoundError
from postmark_kit.convert import unstructure
from postmark_kit.models import ActionResult, Domain
from tests.conftest import ACCOUNT_TOKEN, API, load_response


def _sent(mock: requests_mock.Mocker, method: str, path: str) -> Any:
    """The one request sent: its method, exact path (case included) and account token."""
    assert mock.call_count == 1
    req = mock.last_request
    assert req.method == method
    assert urlsplit(req.url).path == path
    assert req.headers["X-Postmark-Account-Token"] == ACCOUNT_TOKEN
    assert "X-Postmark-Server-Token" not in req.headers
    return req


def _query(req: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(req.url).query, keep_blank_values=True)


def _assert_full_domain(domain: Domain, op_id: str) -> None:
    """Every documented key is modelled (none in ``extra``) and converts back unchanged."""
    assert isinstance(domain, Domain)
    assert domain.extra == {}
    assert unstructure(domain) == load_response(op_id)


def test_list_sends_count_offset_and_returns_summaries(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/domains", json=load_response("list_domains"))
    page = account_client.domains.list(count=50, offset=10)
    req = _sent(mock_api, "GET", "/domains")
    assert _query(req) == {"count": ["50"], "offset": ["10"]}
    assert req.body is None
    assert page.total == 2
    assert [d.id for d in page] == [36735, 81605]
    first = page.items[0]
    assert first == Domain(
        id=36735,
        name="postmarkapp.com",
        spf_verified=True,
        dkim_verified=True,
        weak_dkim=False,
        return_path_domain_verified=False,
    )
    assert all(d.extra == {} for d in page.items)
    assert [unstructure(d) for d in page.items] == load_response("list_domains")["Domains"]


def test_list_defaults_to_first_100(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/domains", json=load_response("list_domains"))
    account_client.domains.list()
    assert _query(mock_api.last_request) == {"count": ["100"], "offset": ["0"]}


def test_list_refuses_a_count_postmark_would_refuse(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError, match="count"):
        account_client.domains.list(count=501)
    assert mock_api.call_count == 0


def test_stream_walks_every_page(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    listed = load_response("list_domains")
    pages = [
        {"json": {"TotalCount": 2, "Domains": [listed["Domains"][0]]}},
        {"json": {"TotalCount": 2, "Domains": [listed["Domains"][1]]}},
    ]
    mock_api.get(f"{API}/domains", pages)
    names = [d.name for d in account_client.domains.stream(page_size=1)]
    assert names == ["postmarkapp.com", "example.com"]
    assert [_query(r) for r in mock_api.request_history] == [
        {"count": ["1"], "offset": ["0"]},
        {"count": ["1"], "offset": ["1"]},
    ]


def test_stream_stops_at_max_items(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/domains", json=load_response("list_domains"))
    assert len(list(account_client.domains.stream(max_items=1))) == 1
    assert _query(mock_api.last_request)["count"] == ["1"]


def test_get(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.get(f"{API}/domains/1234", json=load_response("get_domain"))
    domain = account_client.domains.get(1234)
    req = _sent(mock_api, "GET", "/domains/1234")
    assert _query(req) == {}
    assert req.body is None
    _assert_full_domain(domain, "get_domain")
    assert domain.id == 1234
    assert domain.safe_to_remove_revoked_key_from_dns is False
    assert domain.dkim_update_status == "Pending"
    assert domain.return_path_domain_cname_value == "pm.mtasv.net"


def test_get_unknown_domain_raises_not_found(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(
        f"{API}/domains/9", status_code=422, json={"ErrorCode": 510, "Message": "Domain not found."}
    )
    with pytest.raises(NotFoundError) as info:
        account_client.domains.get(9)
    assert info.value.error_code == 510


def test_create_sends_name_and_return_path(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/domains", json=load_response("create_domain"))
    domain = account_client.domains.create(
        name="example.com", return_path_domain="pm-bounces.example.com"
    )
    req = _sent(mock_api, "POST", "/domains")
    assert req.json() == {"Name": "example.com", "ReturnPathDomain": "pm-bounces.example.com"}
    assert req.headers["Content-Type"] == "application/json"
    _assert_full_domain(domain, "create_domain")


def test_create_without_return_path_sends_only_the_name(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/domains", json=load_response("create_domain"))
    account_client.domains.create(name="example.com")
    assert mock_api.last_request.json() == {"Name": "example.com"}


@pytest.mark.parametrize("name", ["", "   "])
def test_create_requires_a_name(
    mock_api: requests_mock.Mocker, account_client: AccountClient, name: str
) -> None:
    with pytest.raises(ClientValidationError, match="domain name"):
        account_client.domains.create(name=name)
    assert mock_api.call_count == 0


def test_update_sends_only_return_path(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/domains/1234", json=load_response("edit_domain"))
    domain = account_client.domains.update(1234, return_path_domain="pm-bounces.example.com")
    req = _sent(mock_api, "PUT", "/domains/1234")
    assert req.json() == {"ReturnPathDomain": "pm-bounces.example.com"}
    _assert_full_domain(domain, "edit_domain")


def test_update_with_nothing_set_sends_nothing(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError, match="nothing to update"):
        account_client.domains.update(1234)
    assert mock_api.call_count == 0


def test_delete(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.delete(f"{API}/domains/1234", json=load_response("delete_domain"))
    result = account_client.domains.delete(1234)
    req = _sent(mock_api, "DELETE", "/domains/1234")
    assert req.body is None
    assert result == ActionResult(error_code=0, message="Domain example.com removed.")
    assert result.extra == {}


@pytest.mark.parametrize(
    ("action", "method", "suffix", "op_id"),
    [
        ("verify_dkim", "PUT", "verifyDkim", "verify_domain_dkim"),
        ("verify_return_path", "PUT", "verifyReturnPath", "verify_domain_return_path"),
        ("rotate_dkim", "POST", "rotatedkim", "rotate_domain_dkim"),
    ],
)
def test_actions_send_no_body_and_return_the_domain(
    mock_api: requests_mock.Mocker,
    account_client: AccountClient,
    action: str,
    method: str,
    suffix: str,
    op_id: str,
) -> None:
    mock_api.register_uri(method, f"{API}/domains/1234/{suffix}", json=load_response(op_id))
    domain = getattr(account_client.domains, action)(1234)
    req = _sent(mock_api, method, f"/domains/1234/{suffix}")
    assert req.body == b"{}" and req.headers["Content-Type"] == "application/json"
    _assert_full_domain(domain, op_id)


def test_verify_dkim_reports_the_new_state(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/domains/1234/verifyDkim", json=load_response("verify_domain_dkim"))
    domain = account_client.domains.verify_dkim(1234)
    assert domain.dkim_verified is True
    assert domain.dkim_update_status == "Verified"


def test_verify_spf_warns_and_still_works(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/domains/1234/verifyspf", json=load_response("verify_domain_spf"))
    with pytest.warns(DeprecationWarning, match="verify_spf is deprecated") as record:
        domain = account_client.domains.verify_spf(1234)
    # stacklevel=2: the warning points at the caller, not at postmark_kit.
    assert record[0].filename == __file__
    req = _sent(mock_api, "POST", "/domains/1234/verifyspf")
    assert req.body == b"{}" and req.headers["Content-Type"] == "application/json"
    _assert_full_domain(domain, "verify_domain_spf")
    assert domain.spf_verified is True
