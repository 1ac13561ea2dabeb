"""account.servers: every operation's request and typed answer (account token)."""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests_mock

from postmark_kit import AccountClient, ClientValidationError, NotFoundError, TrackLinks
from postmark_kit.models import ActionResult, DeliveryType, Server, ServerColor
from tests.api._wire import all_modelled as _all_modelled
from tests.api._wire import sent_exactly
from tests.conftest import API, load_response

_sent = functools.partial(sent_exactly, account=True)


def test_list_returns_a_page_of_servers(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/servers", json=load_response("list_servers"))

    page = account_client.servers.list(count=2, offset=0, name="Production")

    _sent(
        mock_api,
        "GET",
        "/servers",
        query={"count": "2", "offset": "0", "name": "Production"},
    )
    assert page.total == 2
    _all_modelled(page.items)
    first, second = page.items
    assert (first.id, first.name, first.color, first.delivery_type) == (
        1,
        "Production01",
        "red",
        "Live",
    )
    assert (first.post_first_open_only, first.inbound_spam_threshold) == (True, 5)
    assert (second.id, second.name, second.delivery_type) == (2, "Production02", "Sandbox")
    assert (second.track_opens, second.track_links) == (True, TrackLinks.HTML_AND_TEXT)
    assert second.inbound_hook_url == ""


def test_list_defaults_send_count_and_offset_only(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(f"{API}/servers", json={"TotalCount": 0, "Servers": []})

    account_client.servers.list()

    _sent(mock_api, "GET", "/servers", query={"count": "100", "offset": "0"})


def test_stream_walks_every_page(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    servers = load_response("list_servers")["Servers"]
    mock_api.get(
        f"{API}/servers",
        [
            {"json": {"TotalCount": 2, "Servers": servers[:1]}},
            {"json": {"TotalCount": 2, "Servers": servers[1:]}},
        ],
    )

    names = [s.name for s in account_client.servers.stream(page_size=1, name="Prod")]

    assert names == ["Production01", "Production02"]
    queries = [dict(parse_qsl(urlsplit(r.url).query)) for r in mock_api.request_history]
    assert queries == [
        {"count": "1", "offset": "0", "name": "Prod"},
        {"count": "1", "offset": "1", "name": "Prod"},
    ]


def test_get(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.get(f"{API}/servers/1", json=load_response("get_server_by_id"))

    server = account_client.servers.get(1)

    _sent(mock_api, "GET", "/servers/1")
    assert isinstance(server, Server)
    _all_modelled(server)
    assert (server.id, server.name, server.api_tokens) == (1, "Staging Testing", ["server token"])
    assert (server.smtp_api_activated, server.enable_smtp_api_error_hooks) == (True, False)
    assert server.inbound_address == "yourhash@inbound.postmarkapp.com"
    assert server.server_link == "https://postmarkapp.com/servers/1/streams"
    assert server.click_hook_url == "http://hooks.example.com/click"


def test_create_sends_name_and_the_settings_given(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/servers", json=load_response("create_server"))

    server = account_client.servers.create(
        name="Staging Testing",
        color=ServerColor.RED,
        smtp_api_activated=True,
        raw_email_enabled=False,
        inbound_hook_url="http://hooks.example.com/inbound",
        inbound_spam_threshold=5,
        track_links=TrackLinks.NONE,
        include_bounce_content_in_hook=True,
        delivery_type=DeliveryType.LIVE,
    )

    _sent(
        mock_api,
        "POST",
        "/servers",
        body={
            "Name": "Staging Testing",
            "Color": "Red",
            "SmtpApiActivated": True,
            "RawEmailEnabled": False,
            "InboundHookUrl": "http://hooks.example.com/inbound",
            "InboundSpamThreshold": 5,
            "TrackLinks": "None",
            "IncludeBounceContentInHook": True,
            "DeliveryType": "Live",
        },
    )
    _all_modelled(server)
    assert (server.id, server.name, server.inbound_spam_threshold) == (1, "Staging Testing", 5)
    assert (server.bounce_hook_url, server.inbound_hash) == ("", "yourhash")


def test_create_with_just_a_name(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.post(f"{API}/servers", json=load_response("create_server"))

    account_client.servers.create(name="Bare")

    _sent(mock_api, "POST", "/servers", body={"Name": "Bare"})


def test_create_refuses_an_empty_name(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError, match="name"):
        account_client.servers.create(name="")
    assert mock_api.call_count == 0


def test_update_sends_every_editable_setting(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/servers/1", json=load_response("edit_server_by_id"))

    server = account_client.servers.update(
        1,
        name="Production Testing",
        color="Blue",
        raw_email_enabled=False,
        smtp_api_activated=False,
        inbound_hook_url="http://hooks.example.com/inbound",
        bounce_hook_url="http://hooks.example.com/bounce",
        open_hook_url="http://hooks.example.com/open",
        delivery_hook_url="http://hooks.example.com/delivery",
        click_hook_url="http://hooks.example.com/click",
        post_first_open_only=False,
        inbound_domain="inbound.example.com",
        inbound_spam_threshold=10,
        track_opens=False,
        track_links="None",
        include_bounce_content_in_hook=True,
        enable_smtp_api_error_hooks=False,
    )

    _sent(
        mock_api,
        "PUT",
        "/servers/1",
        body={
            "Name": "Production Testing",
            "Color": "Blue",
            "RawEmailEnabled": False,
            "SmtpApiActivated": False,
            "InboundHookUrl": "http://hooks.example.com/inbound",
            "BounceHookUrl": "http://hooks.example.com/bounce",
            "OpenHookUrl": "http://hooks.example.com/open",
            "DeliveryHookUrl": "http://hooks.example.com/delivery",
            "ClickHookUrl": "http://hooks.example.com/click",
            "PostFirstOpenOnly": False,
            "InboundDomain": "inbound.example.com",
            "InboundSpamThreshold": 10,
            "TrackOpens": False,
            "TrackLinks": "None",
            "IncludeBounceContentInHook": True,
            "EnableSmtpApiErrorHooks": False,
        },
    )
    _all_modelled(server)
    assert (server.id, server.name, server.color, server.inbound_spam_threshold) == (
        1,
        "Production Testing",
        "blue",
        10,
    )


def test_update_sends_only_the_settings_set(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(f"{API}/servers/7", json=load_response("edit_server_by_id"))

    account_client.servers.update(7, color="Green", post_first_open_only=True)

    _sent(mock_api, "PUT", "/servers/7", body={"Color": "Green", "PostFirstOpenOnly": True})


def test_update_with_nothing_to_change_is_refused(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        account_client.servers.update(7)
    assert mock_api.call_count == 0


def test_delete(mock_api: requests_mock.Mocker, account_client: AccountClient) -> None:
    mock_api.delete(f"{API}/servers/2", json=load_response("delete_server"))

    result = account_client.servers.delete(2)

    _sent(mock_api, "DELETE", "/servers/2")
    assert isinstance(result, ActionResult)
    assert (result.error_code, result.message) == (0, "Server Production Server 2 removed.")


def test_unknown_server_raises_not_found(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.get(
        f"{API}/servers/999",
        status_code=422,
        json={"ErrorCode": 601, "Message": "Server does not exist."},
    )

    with pytest.raises(NotFoundError) as info:
        account_client.servers.get(999)

    assert (info.value.status_code, info.value.error_code) == (422, 601)
    assert mock_api.call_count == 1  # a 422 is not retried
