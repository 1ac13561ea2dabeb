"""client.webhooks: every operation's request and typed answer."""

from __future__ import annotations

import pytest
import requests_mock

from postmark_kit import ClientValidationError, Header, NotFoundError, ServerClient
from postmark_kit.models import (
    ActionResult,
    BounceTrigger,
    HttpAuth,
    OpenTrigger,
    SpamComplaintTrigger,
    Trigger,
    Webhook,
    WebhookTriggers,
)
from tests.api._wire import all_modelled as _all_modelled
from tests.api._wire import sent_exactly as _sent
from tests.conftest import API, load_response

DOCUMENTED_TRIGGERS = WebhookTriggers(
    open=OpenTrigger(enabled=True, post_first_open_only=False),
    click=Trigger(enabled=True),
    delivery=Trigger(enabled=True),
    bounce=BounceTrigger(enabled=False, include_content=False),
    spam_complaint=SpamComplaintTrigger(enabled=False, include_content=False),
    subscription_change=Trigger(enabled=True),
)

DOCUMENTED_TRIGGERS_JSON = {
    "Open": {"Enabled": True, "PostFirstOpenOnly": False},
    "Click": {"Enabled": True},
    "Delivery": {"Enabled": True},
    "Bounce": {"Enabled": False, "IncludeContent": False},
    "SpamComplaint": {"Enabled": False, "IncludeContent": False},
    "SubscriptionChange": {"Enabled": True},
}


def _assert_documented_webhook(webhook: Webhook, url: str) -> None:
    assert isinstance(webhook, Webhook)
    _all_modelled(webhook)
    assert webhook.id == 1234567
    assert webhook.url == url
    assert webhook.message_stream == "outbound"
    assert webhook.http_auth == HttpAuth(username="user", password="pass")
    assert webhook.http_headers == [Header(name="name", value="value")]


def test_list_returns_typed_webhooks(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/webhooks", json=load_response("list_webhooks"))

    webhooks = server_client.webhooks.list()

    _sent(mock_api, "GET", "/webhooks")
    assert len(webhooks) == 2
    _assert_documented_webhook(webhooks[0], "http://www.example.com/webhook-test-tracking")
    assert webhooks[0].triggers == DOCUMENTED_TRIGGERS
    second = webhooks[1]
    _all_modelled(second)
    assert (second.id, second.url) == (1234568, "http://www.example.com/webhook-test-bounce")
    assert second.triggers is not None
    assert second.triggers.bounce == BounceTrigger(enabled=True, include_content=False)
    assert second.triggers.open == OpenTrigger(enabled=False, post_first_open_only=False)
    assert second.triggers.subscription_change == Trigger(enabled=False)


def test_list_filters_by_stream(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/webhooks", json={"Webhooks": []})

    assert server_client.webhooks.list(message_stream="broadcasts") == []

    _sent(mock_api, "GET", "/webhooks", query={"MessageStream": "broadcasts"})


def test_get(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.get(f"{API}/webhooks/1234567", json=load_response("get_webhook"))

    webhook = server_client.webhooks.get(1234567)

    _sent(mock_api, "GET", "/webhooks/1234567")
    _assert_documented_webhook(webhook, "http://www.example.com/webhook-test-tracking")
    assert webhook.triggers == DOCUMENTED_TRIGGERS


def test_create_sends_the_nested_models(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/webhooks", json=load_response("create_webhook"))

    webhook = server_client.webhooks.create(
        url="http://www.example.com/webhook-test-tracking",
        message_stream="outbound",
        http_auth=HttpAuth("user", "pass"),
        http_headers=[Header("name", "value")],
        triggers=DOCUMENTED_TRIGGERS,
    )

    _sent(
        mock_api,
        "POST",
        "/webhooks",
        body={
            "Url": "http://www.example.com/webhook-test-tracking",
            "MessageStream": "outbound",
            "HttpAuth": {"Username": "user", "Password": "pass"},
            "HttpHeaders": [{"Name": "name", "Value": "value"}],
            "Triggers": DOCUMENTED_TRIGGERS_JSON,
        },
    )
    _assert_documented_webhook(webhook, "http://www.example.com/webhook-test-tracking")
    assert webhook.triggers == DOCUMENTED_TRIGGERS


def test_create_takes_headers_as_a_mapping_and_sends_only_what_was_given(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/webhooks", json=load_response("create_webhook"))

    server_client.webhooks.create(
        url="https://hooks.example.com/postmark",
        http_headers={"X-Hook-Secret": "s3", "X-Env": "prod"},
        triggers=WebhookTriggers(bounce=BounceTrigger(enabled=True, include_content=True)),
    )

    _sent(
        mock_api,
        "POST",
        "/webhooks",
        body={
            "Url": "https://hooks.example.com/postmark",
            "HttpHeaders": [
                {"Name": "X-Hook-Secret", "Value": "s3"},
                {"Name": "X-Env", "Value": "prod"},
            ],
            "Triggers": {"Bounce": {"Enabled": True, "IncludeContent": True}},
        },
    )


def test_create_needs_a_url(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    with pytest.raises(ClientValidationError, match="url"):
        server_client.webhooks.create(url="")
    assert mock_api.call_count == 0


def test_update_sends_every_editable_field(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/webhooks/1234567", json=load_response("edit_webhook"))

    webhook = server_client.webhooks.update(
        1234567,
        url="http://www.example.com/webhook-modified",
        http_auth=HttpAuth("user", "pass"),
        http_headers={"name": "value"},
        triggers=WebhookTriggers(
            open=OpenTrigger(False, False),
            bounce=BounceTrigger(True, False),
        ),
    )

    _sent(
        mock_api,
        "PUT",
        "/webhooks/1234567",
        body={
            "Url": "http://www.example.com/webhook-modified",
            "HttpAuth": {"Username": "user", "Password": "pass"},
            "HttpHeaders": [{"Name": "name", "Value": "value"}],
            "Triggers": {
                "Open": {"Enabled": False, "PostFirstOpenOnly": False},
                "Bounce": {"Enabled": True, "IncludeContent": False},
            },
        },
    )
    _assert_documented_webhook(webhook, "http://www.example.com/webhook-modified")
    assert webhook.triggers is not None
    assert webhook.triggers.open == OpenTrigger(enabled=False, post_first_open_only=False)
    assert webhook.triggers.bounce == BounceTrigger(enabled=True, include_content=False)
    assert webhook.triggers.click == Trigger(enabled=True)


def test_update_sends_only_the_fields_set(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/webhooks/42", json=load_response("edit_webhook"))

    server_client.webhooks.update(
        42, triggers=WebhookTriggers(click=Trigger(enabled=False)), http_headers=[]
    )

    # No Url, HttpAuth or other triggers: Postmark keeps them.  An empty
    # header list is a value the caller set (remove every header), so it is sent.
    _sent(
        mock_api,
        "PUT",
        "/webhooks/42",
        body={"HttpHeaders": [], "Triggers": {"Click": {"Enabled": False}}},
    )


def test_update_with_nothing_to_change_is_refused(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        server_client.webhooks.update(42)
    assert mock_api.call_count == 0


def test_delete(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.delete(f"{API}/webhooks/1234", json=load_response("delete_webhook"))

    result = server_client.webhooks.delete(1234)

    _sent(mock_api, "DELETE", "/webhooks/1234")
    assert isinstance(result, ActionResult)
    assert (result.error_code, result.message) == (0, "Webhook 1234 removed.")


def test_repr_hides_the_password_and_header_values(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    data = load_response("get_webhook")
    data["HttpAuth"] = {"Username": "hookuser", "Password": "pw-very-secret"}
    data["HttpHeaders"] = [{"Name": "X-Hook-Secret", "Value": "hdr-very-secret"}]
    mock_api.get(f"{API}/webhooks/1234567", json=data)

    webhook = server_client.webhooks.get(1234567)

    assert webhook.http_auth is not None
    assert webhook.http_auth.password == "pw-very-secret"
    text = repr(webhook)
    assert "pw-very-secret" not in text
    assert "hdr-very-secret" not in text
    assert "hookuser" in text and "X-Hook-Secret" in text
    assert "pw-very-secret" not in repr(HttpAuth("u", "pw-very-secret"))


def test_unknown_stream_filter_raises_the_api_error(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(
        f"{API}/webhooks",
        status_code=404,
        json={"ErrorCode": 1226, "Message": "The message stream 'nope' was not found."},
    )

    with pytest.raises(NotFoundError) as info:
        server_client.webhooks.list(message_stream="nope")

    assert (info.value.status_code, info.value.error_code) == (404, 1226)
    assert info.value.message == "The message stream 'nope' was not found."
