"""Who may post: basic auth, the shared-secret header, the IP allowlist with proxies."""

# Fixtures are imported from _receiver_support (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

import logging
from typing import Any

import pytest
from _receiver_support import AUTH, Recorder, clean_env, make_app, post, store_path  # noqa: F401
from conftest import load_webhook

from postmark_kit.receiver import ConfigError, PostmarkReceiver, create_app

BOUNCE = load_webhook("bounce")


@pytest.mark.parametrize(
    "auth", [None, ("postmark", "wrong"), ("other", AUTH[1]), ("", ""), ("postmark", "")]
)
def test_missing_or_wrong_basic_auth_is_401_with_challenge(make_app: Any, auth: Any) -> None:
    recorder = Recorder()
    client = make_app(plugins=[recorder]).test_client()
    response = post(client, BOUNCE, auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="postmark-kit"')
    assert AUTH[1] not in response.get_data(as_text=True)
    assert recorder.calls == []


def test_non_basic_authorization_scheme_is_401(make_app: Any) -> None:
    client = make_app().test_client()
    response = post(client, BOUNCE, auth=None, headers={"Authorization": "Bearer abc"})
    assert response.status_code == 401


def test_right_basic_auth_passes(make_app: Any) -> None:
    assert post(make_app().test_client(), BOUNCE).status_code == 200


def test_non_ascii_password(make_app: Any) -> None:
    client = make_app(
        {"POSTMARK_WEBHOOK_USERNAME": "pm", "POSTMARK_WEBHOOK_PASSWORD": "pässwörd"}
    ).test_client()
    assert post(client, BOUNCE, auth=("pm", "pässwörd")).status_code == 200
    assert post(client, BOUNCE, auth=("pm", "passwort")).status_code == 401


SECRET = {
    "POSTMARK_WEBHOOK_SECRET_HEADER": "X-Webhook-Secret",
    "POSTMARK_WEBHOOK_SECRET_VALUE": "k3y",
}


def test_secret_header_alone(make_app: Any) -> None:
    recorder = Recorder()
    client = make_app(
        {**SECRET, "POSTMARK_WEBHOOK_USERNAME": "", "POSTMARK_WEBHOOK_PASSWORD": ""},
        plugins=[recorder],
    ).test_client()
    assert post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3y"}).status_code == 200
    missing = post(client, BOUNCE, auth=None)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert "missing X-Webhook-Secret" in missing.get_json()["error"]
    wrong = post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3"})
    assert wrong.status_code == 401
    assert "k3y" not in wrong.get_data(as_text=True)
    assert len(recorder.calls) == 2  # one accepted event, two hooks


def test_secret_header_and_basic_auth_both_required(make_app: Any) -> None:
    client = make_app(SECRET).test_client()
    assert post(client, BOUNCE, headers={"X-Webhook-Secret": "k3y"}).status_code == 200
    assert post(client, BOUNCE).status_code == 401
    assert post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3y"}).status_code == 401


def test_ip_allowlist_direct(make_app: Any) -> None:
    client = make_app({"POSTMARK_ALLOWED_IPS": "postmark, 10.0.0.0/8"}).test_client()
    ok = post(client, BOUNCE, environ_base={"REMOTE_ADDR": "50.31.156.6"})
    assert ok.status_code == 200
    assert post(client, BOUNCE, environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200
    denied = post(client, BOUNCE, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert denied.status_code == 403
    assert denied.get_json() == {"error": "source address not allowed"}
    # Without trusted proxies a forged X-Forwarded-For changes nothing.
    forged = post(
        client,
        BOUNCE,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
        headers={"X-Forwarded-For": "50.31.156.6"},
    )
    assert forged.status_code == 403


def test_ip_allowlist_behind_trusted_proxies(make_app: Any) -> None:
    client = make_app(
        {"POSTMARK_ALLOWED_IPS": "3.134.147.250", "POSTMARK_TRUSTED_PROXIES": "2"}
    ).test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}

    def send(xff: str | None) -> int:
        headers = {"X-Forwarded-For": xff} if xff is not None else {}
        return int(post(client, BOUNCE, environ_base=proxy, headers=headers).status_code)

    # Postmark -> CDN (adds Postmark's IP) -> nginx (adds the CDN's IP) -> us.
    assert send("3.134.147.250, 172.16.0.5") == 200
    # The client prepended a forged allowed address: ignored, the real one is checked.
    assert send("3.134.147.250, 198.51.100.7, 172.16.0.5") == 403
    # Fewer hops than trusted proxies: the request bypassed them.
    assert send("3.134.147.250") == 403
    assert send(None) == 403


def test_no_auth_configured_logs_loud_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="postmark_kit.receiver"):
        app = create_app({"POSTMARK_EVENT_STORE": ""})
    assert any("NO AUTHENTICATION" in r.getMessage() for r in caplog.records)
    assert post(app.test_client(), BOUNCE, auth=None).status_code == 200
    PostmarkReceiver.shutdown(app)


def test_auth_configured_logs_no_warning(caplog: pytest.LogCaptureFixture, make_app: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="postmark_kit.receiver"):
        make_app()
    assert not any("NO AUTHENTICATION" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "config",
    [
        {"POSTMARK_WEBHOOK_USERNAME": "u", "POSTMARK_WEBHOOK_PASSWORD": ""},
        {"POSTMARK_WEBHOOK_SECRET_HEADER": "X-S"},
        {"POSTMARK_ALLOWED_IPS": "not-an-ip"},
        {"POSTMARK_TRUSTED_PROXIES": "two"},
        {"POSTMARK_FAILURE_STATUS": "404"},
        {"POSTMARK_DISPATCH": "carrier-pigeon"},
    ],
)
def test_unusable_settings_fail_at_startup(make_app: Any, config: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        make_app(config)


def test_secrets_are_not_in_config_repr(make_app: Any) -> None:
    from postmark_kit.receiver import ReceiverConfig

    config = ReceiverConfig.from_mapping(
        {
            **SECRET,
            "POSTMARK_SERVER_TOKEN": "tok-123",
            "POSTMARK_WEBHOOK_PASSWORD": "pw-456",
            "POSTMARK_WEBHOOK_USERNAME": "u",
        }
    )
    text = repr(config)
    assert "tok-123" not in text and "pw-456" not in text and "k3y" not in text
