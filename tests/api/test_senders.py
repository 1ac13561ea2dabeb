"""account.senders: every operation's request and typed answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock

from postmark_kit import AccountClient, ClientValidationError, NotFoundError
from postmark_kit.convert import unstructure
from postmark_kit.models import ActionResult, SenderSignature
from tests.conftest import ACCOUNT_TOKEN, API, load_response


def _sent(mock: requests_mock.Mocker, method: str, path: str) -> Any:
    """The one request sent: its method, exact path and account token."""
    assert mock.call_count == 1
    req = mock.last_request
    assert req.method == method
    assert urlsplit(req.url).path == path
    assert req.headers["X-Postmark-Account-Token"] == ACCOUNT_TOKEN
    assert "X-Postmark-Server-Token" not in req.headers
    return req


def _query(req: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(req.url).query, keep_blank_values=True)


def _assert_full_signature(signature: SenderSignature, op_id: str) -> None:
    """Every documented key is modelled (none in ``extra``) and converts back unchanged."""
    assert isinstance(signature, SenderSignature)
    assert signature.extra == {}
    assert unstructure(signature) == load_response(op_id)


def test_list_sends_count_offset_and_returns_summaries(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/senders", json=load_response("list_sender_signatures"))
    page = account_client.senders.list(count=20, offset=40)
    req = _sent(mock_api, "GET", "/senders")
    assert _query(req) == {"count": ["20"], "offset": ["40"]}
    assert req.body is None
    assert page.total == 2
    assert page.items[0] == SenderSignature(
        id=36735,
        domain="postmarkapp.com",
        email_address="jp@postmarkapp.com",
        reply_to_email_address="info@postmarkapp.com",
        name="JP Toto",
        confirmed=True,
    )
    assert [unstructure(s) for s in page.items] == load_response("list_sender_signatures")[
        "SenderSignatures"
    ]
    assert all(s.extra == {} for s in page.items)


def test_list_refuses_a_negative_offset(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError, match="offset"):
        account_client.senders.list(offset=-1)
    assert mock_api.call_count == 0


def test_stream_walks_every_page(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    listed = load_response("list_sender_signatures")["SenderSignatures"]
    mock_api.get(
        f"{API}/senders",
        [
            {"json": {"TotalCount": 3, "SenderSignatures": listed}},
            {"json": {"TotalCount": 3, "SenderSignatures": [{**listed[0], "ID": 7}]}},
        ],
    )
    ids = [s.id for s in account_client.senders.stream(page_size=2)]
    assert ids == [36735, 81605, 7]
    assert [_query(r) for r in mock_api.request_history] == [
        {"count": ["2"], "offset": ["0"]},
        {"count": ["2"], "offset": ["2"]},
    ]


def test_get(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.get(f"{API}/senders/1234", json=load_response("get_sender_signature"))
    signature = account_client.senders.get(1234)
    req = _sent(mock_api, "GET", "/senders/1234")
    assert req.body is None
    assert _query(req) == {}
    _assert_full_signature(signature, "get_sender_signature")
    assert signature.id == 1234
    assert signature.confirmed is True
    assert signature.confirmation_personal_note is not None


def test_get_unknown_signature_raises_not_found(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(
        f"{API}/senders/5",
        status_code=422,
        json={"ErrorCode": 501, "Message": "Sender signature not found."},
    )
    with pytest.raises(NotFoundError):
        account_client.senders.get(5)


def test_create_sends_every_given_field(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/senders", json=load_response("create_sender_signature"))
    signature = account_client.senders.create(
        from_email="john.doe@example.com",
        name="John Doe",
        reply_to_email="reply@example.com",
        return_path_domain="pm-bounces.example.com",
        confirmation_personal_note="Hi, this is Postmark.",
    )
    req = _sent(mock_api, "POST", "/senders")
    assert req.json() == {
        "FromEmail": "john.doe@example.com",
        "Name": "John Doe",
        "ReplyToEmail": "reply@example.com",
        "ReturnPathDomain": "pm-bounces.example.com",
        "ConfirmationPersonalNote": "Hi, this is Postmark.",
    }
    _assert_full_signature(signature, "create_sender_signature")
    assert signature.confirmed is False


def test_create_leaves_out_unset_fields(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/senders", json=load_response("create_sender_signature"))
    account_client.senders.create(from_email="john.doe@example.com", name="John Doe")
    assert mock_api.last_request.json() == {"FromEmail": "john.doe@example.com", "Name": "John Doe"}


@pytest.mark.parametrize(
    ("from_email", "name", "missing"),
    [("", "John", "from_email"), ("john@example.com", " ", "name")],
)
def test_create_requires_address_and_name(
    mock_api: requests_mock.Mocker,
    account_client: AccountClient,
    from_email: str,
    name: str,
    missing: str,
) -> None:
    with pytest.raises(ClientValidationError, match=missing):
        account_client.senders.create(from_email=from_email, name=name)
    assert mock_api.call_count == 0


def test_update_sends_only_the_fields_set(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/senders/1", json=load_response("edit_sender_signature"))
    signature = account_client.senders.update(
        1, name="Jane Doe", reply_to_email="jane.doe@example.com"
    )
    req = _sent(mock_api, "PUT", "/senders/1")
    assert req.json() == {"Name": "Jane Doe", "ReplyToEmail": "jane.doe@example.com"}
    _assert_full_signature(signature, "edit_sender_signature")


def test_update_sends_every_field_set_and_empty_strings(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/senders/1", json=load_response("edit_sender_signature"))
    account_client.senders.update(
        1,
        name="Jane Doe",
        reply_to_email="",  # set to empty on purpose: sent, not dropped
        return_path_domain="pm-bounces.example.com",
        confirmation_personal_note="note",
    )
    assert mock_api.last_request.json() == {
        "Name": "Jane Doe",
        "ReplyToEmail": "",
        "ReturnPathDomain": "pm-bounces.example.com",
        "ConfirmationPersonalNote": "note",
    }


@pytest.mark.parametrize("name", ["", "   "])
def test_update_without_a_name_sends_nothing(
    mock_api: requests_mock.Mocker, account_client: AccountClient, name: str
) -> None:
    """Postmark refuses an edit without Name (422/520): caught before the call."""
    with pytest.raises(ClientValidationError, match="name is required"):
        account_client.senders.update(1, name=name, reply_to_email="a@example.com")
    assert mock_api.call_count == 0


def test_delete(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.delete(f"{API}/senders/1234", json=load_response("delete_sender_signature"))
    result = account_client.senders.delete(1234)
    req = _sent(mock_api, "DELETE", "/senders/1234")
    assert req.body is None
    assert result == ActionResult(error_code=0, message="Signature ID 1234 removed.")
    assert result.extra == {}


def test_resend_confirmation(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.post(f"{API}/senders/1234/resend", json=load_response("resend_sender_confirmation"))
    result = account_client.senders.resend_confirmation(1234)
    req = _sent(mock_api, "POST", "/senders/1234/resend")
    assert req.body == b"{}" and req.headers["Content-Type"] == "application/json"
    assert result.error_code == 0
    assert result.message == load_response("resend_sender_confirmation")["Message"]
    assert result.extra == {}


def test_verify_spf_warns_and_still_works(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/senders/1/verifyspf", json=load_response("verify_sender_spf"))
    with pytest.warns(DeprecationWarning, match="verify_spf is deprecated") as record:
        signature = account_client.senders.verify_spf(1)
    assert record[0].filename == __file__
    req = _sent(mock_api, "POST", "/senders/1/verifyspf")
    assert req.body == b"{}" and req.headers["Content-Type"] == "application/json"
    _assert_full_signature(signature, "verify_sender_spf")


def test_request_new_dkim_warns_and_still_works(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(
        f"{API}/senders/1234/requestnewdkim", json=load_response("request_sender_new_dkim")
    )
    with pytest.warns(DeprecationWarning, match="rotate_dkim") as record:
        result = account_client.senders.request_new_dkim(1234)
    assert record[0].filename == __file__
    req = _sent(mock_api, "POST", "/senders/1234/requestnewdkim")
    assert req.body == b"{}" and req.headers["Content-Type"] == "application/json"
    assert result == ActionResult(
        error_code=0, message="New DKIM key requested for Sender Signature 1234."
    )
    assert result.extra == {}
