"""Built-in plugins that act: blocking inbound senders through the API, logging."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

import logging
from typing import Any

import pytest

from postmark_kit import ServerClient
from postmark_kit.plugins import BlockSendersPlugin, LoggingPlugin
from tests.conftest import API, SERVER_TOKEN, load_webhook
from tests.receiver._receiver_support import clean_env, make_app, post, store_path  # noqa: F401

RULES = f"{API}/triggers/inboundrules"
INBOUND = load_webhook("inbound")


def test_blocked_sender_gets_an_inbound_rule_and_a_403(
    make_app: Any, mock_api: Any, server_client: ServerClient
) -> None:
    mock_api.post(RULES, json={"ID": 15, "Rule": "support@postmarkapp.com"})
    app = make_app(
        {"POSTMARK_BLOCKED_SENDERS": "*@postmarkapp.com, spam@example.com"}, client=server_client
    )
    response = post(app.test_client(), INBOUND)
    assert response.status_code == 403
    assert "support@postmarkapp.com is blocked" in response.get_json()["error"]
    (request,) = mock_api.request_history
    assert request.json() == {"Rule": "support@postmarkapp.com"}
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN


def test_client_from_server_token_setting(make_app: Any, mock_api: Any) -> None:
    mock_api.post(RULES, json={"ID": 16, "Rule": "postmarkapp.com"})
    plugin = BlockSendersPlugin(["support@*"], rule="domain")
    app = make_app(
        {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_BASE_URL": API}, plugins=[plugin]
    )
    client = app.test_client()
    assert post(client, INBOUND).status_code == 403
    assert post(client, {**INBOUND, "MessageID": "another"}).status_code == 403
    # One rule, not one per message.
    assert [r.json() for r in mock_api.request_history] == [{"Rule": "postmarkapp.com"}]


def test_other_senders_pass(make_app: Any, mock_api: Any, server_client: ServerClient) -> None:
    app = make_app({"POSTMARK_BLOCKED_SENDERS": "*@spam.example"}, client=server_client)
    assert post(app.test_client(), INBOUND).status_code == 200
    assert mock_api.request_history == []


def test_api_error_still_rejects(make_app: Any, mock_api: Any, server_client: ServerClient) -> None:
    mock_api.post(RULES, status_code=422, json={"ErrorCode": 1, "Message": "Rule already exists."})
    app = make_app({"POSTMARK_BLOCKED_SENDERS": "support@postmarkapp.com"}, client=server_client)
    assert post(app.test_client(), INBOUND).status_code == 403


def test_without_a_client_it_still_rejects(make_app: Any) -> None:
    app = make_app({"POSTMARK_BLOCKED_SENDERS": "support@postmarkapp.com"})
    assert post(app.test_client(), INBOUND).status_code == 403


def test_bad_rule_kind() -> None:
    with pytest.raises(ValueError, match="rule"):
        BlockSendersPlugin(["x"], rule="ip")


def test_logging_plugin_logs_one_line_per_event(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app({"POSTMARK_SERVER_TOKEN": SERVER_TOKEN})
    with caplog.at_level(logging.INFO, logger="postmark_kit.events"):
        post(app.test_client(), load_webhook("bounce"), headers={"X-PM-Retries-Remaining": "4"})
    (record,) = [r for r in caplog.records if r.name == "postmark_kit.events"]
    text = record.getMessage()
    assert "bounce HardBounce john@example.com key=bounce:4323372036854775807" in text
    assert "retries_remaining=4" in text
    assert SERVER_TOKEN not in caplog.text


def test_logging_plugin_custom_logger() -> None:
    logger = logging.getLogger("custom")
    assert LoggingPlugin(logger).logger is logger
