"""client.server: the server that owns the token (get, update)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest
import requests_mock

from postmark_kit import ClientValidationError, ServerClient, TrackLinks, UnprocessableEntityError
from postmark_kit.convert import Model
from postmark_kit.models import Server, ServerColor
from tests.conftest import API, SERVER_TOKEN, load_response

NO_BODY: Any = object()

ALL_SETTINGS: dict[str, Any] = {
    "name": "Production Testing",
    "color": ServerColor.BLUE,
    "raw_email_enabled": False,
    "smtp_api_activated": False,
    "inbound_hook_url": "http://hooks.example.com/inbound",
    "bounce_hook_url": "http://hooks.example.com/bounce",
    "open_hook_url": "http://hooks.example.com/open",
    "delivery_hook_url": "http://hooks.example.com/delivery",
    "click_hook_url": "http://hooks.example.com/click",
    "post_first_open_only": False,
    "inbound_domain": "",
    "inbound_spam_threshold": 10,
    "track_opens": False,
    "track_links": TrackLinks.NONE,
    "include_bounce_content_in_hook": True,
    "enable_smtp_api_error_hooks": False,
}

ALL_SETTINGS_JSON: dict[str, Any] = {
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
    "InboundDomain": "",
    "InboundSpamThreshold": 10,
    "TrackOpens": False,
    "TrackLinks": "None",
    "IncludeBounceContentInHook": True,
    "EnableSmtpApiErrorHooks": False,
}


def _sent(mock: requests_mock.Mocker, method: str, path: str, *, body: Any = NO_BODY) -> None:
    """The one request made: method, exact path, no query, server token, exact JSON."""
    assert mock.call_count == 1, [r.url for r in mock.request_history]
    req = mock.last_request
    url = urlsplit(req.url)
    assert (req.method, url.path) == (method, path)
    assert parse_qsl(url.query) == []
    assert req.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    assert "X-Postmark-Account-Token" not in req.headers
    if body is NO_BODY:
        assert not req.body
    else:
        assert req.headers["Content-Type"] == "application/json"
        assert json.loads(req.body) == body


def _all_modelled(obj: Any) -> None:
    if isinstance(obj, Model):
        assert obj.extra == {}, f"{type(obj).__name__}.extra = {obj.extra}"
        for field in attrs.fields(type(obj)):
            _all_modelled(getattr(obj, field.name))


def test_get_returns_every_documented_setting(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/server", json=load_response("get_server"))

    server = server_client.server.get()

    _sent(mock_api, "GET", "/server")
    _all_modelled(server)
    assert server == Server(
        id=1,
        name="Staging Testing",
        api_tokens=["server token"],
        color="red",
        smtp_api_activated=True,
        raw_email_enabled=False,
        delivery_type="Live",
        server_link="https://postmarkapp.com/servers/1/streams",
        inbound_address="yourhash@inbound.postmarkapp.com",
        inbound_hook_url="http://hooks.example.com/inbound",
        bounce_hook_url="http://hooks.example.com/bounce",
        open_hook_url="http://hooks.example.com/open",
        delivery_hook_url="http://hooks.example.com/delivery",
        click_hook_url="http://hooks.example.com/click",
        post_first_open_only=False,
        inbound_domain="",
        inbound_hash="yourhash",
        inbound_spam_threshold=0,
        track_opens=False,
        track_links="None",
        include_bounce_content_in_hook=True,
        enable_smtp_api_error_hooks=False,
    )


def test_repr_never_shows_the_api_tokens(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    data = load_response("get_server")
    data["ApiTokens"] = ["11111111-secret-token"]
    mock_api.get(f"{API}/server", json=data)

    server = server_client.server.get()

    assert server.api_tokens == ["11111111-secret-token"]
    assert "11111111-secret-token" not in repr(server)
    assert "Staging Testing" in repr(server)


def test_update_sends_every_editable_setting(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/server", json=load_response("edit_server"))

    server = server_client.server.update(**ALL_SETTINGS)

    _sent(mock_api, "PUT", "/server", body=ALL_SETTINGS_JSON)
    assert isinstance(server, Server)
    _all_modelled(server)
    assert (server.id, server.name, server.color) == (1, "Production Testing", "blue")
    assert server.api_tokens == ["Server Token"]
    assert (server.smtp_api_activated, server.inbound_spam_threshold) == (False, 10)


def test_update_sends_only_the_settings_set(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/server", json=load_response("edit_server"))

    server_client.server.update(name="Renamed", track_opens=False, bounce_hook_url="")

    # False and "" are values the caller chose; every other setting is absent, not null.
    _sent(
        mock_api,
        "PUT",
        "/server",
        body={"Name": "Renamed", "TrackOpens": False, "BounceHookUrl": ""},
    )


def test_update_with_nothing_to_change_is_refused(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        server_client.server.update()
    assert mock_api.call_count == 0


@pytest.mark.parametrize("threshold", [-5, 3, 35, True])
def test_update_refuses_an_invalid_spam_threshold(
    mock_api: requests_mock.Mocker, server_client: ServerClient, threshold: Any
) -> None:
    with pytest.raises(ClientValidationError, match="steps of 5"):
        server_client.server.update(inbound_spam_threshold=threshold)
    assert mock_api.call_count == 0


def test_rejected_update_raises_unprocessable(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(
        f"{API}/server",
        status_code=422,
        json={"ErrorCode": 607, "Message": "Invalid server color."},
    )

    with pytest.raises(UnprocessableEntityError) as info:
        server_client.server.update(color="Chartreuse")

    assert (info.value.status_code, info.value.error_code) == (422, 607)
    assert info.value.message == "Invalid server color."
