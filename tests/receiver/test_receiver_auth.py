"""Who may post: basic auth, the shared-secret header, the IP allowlist with proxies.

Arbitrary headers and credentials are fuzzed in test_receiver_auth_fuzz.py (slow).
"""

# Fixtures are imported from _receiver_support (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

import base64
import hmac
import http.client
import json
import logging
import socket
import time
from typing import Any

import pytest

from postmark_kit import hookimpl
from postmark_kit.receiver import ConfigError, PostmarkReceiver, create_app
from tests.conftest import load_webhook
from tests.receiver._receiver_support import (  # noqa: F401
    AUTH,
    Recorder,
    clean_env,
    make_app,
    post,
    recorder,
    serve_wsgi,
    shared_app,
    shared_recorder,
    store_path,
)

BOUNCE = load_webhook("bounce")


@pytest.mark.parametrize(
    "auth", [None, ("postmark", "wrong"), ("other", AUTH[1]), ("", ""), ("postmark", "")]
)
def test_missing_or_wrong_basic_auth_is_401_with_challenge(
    shared_app: Any, recorder: Recorder, auth: Any
) -> None:
    client = shared_app(recorded=True).test_client()
    response = post(client, BOUNCE, auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="postmark-kit"')
    assert AUTH[1] not in response.get_data(as_text=True)
    assert recorder.calls == []


def test_non_basic_authorization_scheme_is_401(shared_app: Any) -> None:
    client = shared_app().test_client()
    response = post(client, BOUNCE, auth=None, headers={"Authorization": "Bearer abc"})
    assert response.status_code == 401


def test_right_basic_auth_passes(shared_app: Any) -> None:
    assert post(shared_app().test_client(), BOUNCE).status_code == 200


def test_non_ascii_password(shared_app: Any) -> None:
    client = shared_app(
        {"POSTMARK_WEBHOOK_USERNAME": "pm", "POSTMARK_WEBHOOK_PASSWORD": "pässwörd"}
    ).test_client()
    assert post(client, BOUNCE, auth=("pm", "pässwörd")).status_code == 200
    assert post(client, BOUNCE, auth=("pm", "passwort")).status_code == 401


SECRET = {
    "POSTMARK_WEBHOOK_SECRET_HEADER": "X-Webhook-Secret",
    "POSTMARK_WEBHOOK_SECRET_VALUE": "k3y",
}


def test_secret_header_alone(shared_app: Any, recorder: Recorder) -> None:
    client = shared_app(
        {**SECRET, "POSTMARK_WEBHOOK_USERNAME": "", "POSTMARK_WEBHOOK_PASSWORD": ""},
        recorded=True,
    ).test_client()
    assert post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3y"}).status_code == 200
    missing = post(client, BOUNCE, auth=None)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert "missing X-Webhook-Secret" in missing.get_json()["error"]
    wrong = post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3"})
    assert wrong.status_code == 401
    assert "k3y" not in wrong.get_data(as_text=True)
    assert len(recorder.calls) == 2  # one accepted event, two hooks


def test_secret_header_and_basic_auth_both_required(shared_app: Any) -> None:
    client = shared_app(SECRET).test_client()
    assert post(client, BOUNCE, headers={"X-Webhook-Secret": "k3y"}).status_code == 200
    assert post(client, BOUNCE).status_code == 401
    assert post(client, BOUNCE, auth=None, headers={"X-Webhook-Secret": "k3y"}).status_code == 401


def test_ip_allowlist_direct(shared_app: Any) -> None:
    client = shared_app({"POSTMARK_ALLOWED_IPS": "postmark, 10.0.0.0/8"}).test_client()
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


def test_ip_allowlist_behind_trusted_proxies(shared_app: Any) -> None:
    client = shared_app(
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
    open_app = {
        "POSTMARK_EVENT_STORE": "",
        "POSTMARK_INSECURE_NO_AUTH": True,
        "POSTMARK_URL_PREFIX": "/open-warned",  # a prefix no other test warned about
    }
    with caplog.at_level(logging.WARNING, logger="postmark_kit.receiver"):
        app = create_app(open_app)
    assert any("NO AUTHENTICATION" in r.getMessage() for r in caplog.records)
    assert post(app.test_client(), BOUNCE, url="/open-warned/webhook", auth=None).status_code == 200
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


# -- malformed credentials ------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _refused(response: Any, recorder: Recorder, status: int = 401) -> None:
    """A refusal: the status, a JSON one-line reason, the challenge on 401, no plugin call."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    reason = response.get_json()["error"]
    assert reason and "\n" not in reason and len(reason) < 100
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="postmark-kit"')
    assert recorder.calls == []


GOOD = _b64(f"{AUTH[0]}:{AUTH[1]}".encode())


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + GOOD[:-2],  # truncated base64
        "Basic =",
        "Basic " + _b64(b"no-colon-at-all"),
        "Basic " + _b64(AUTH[0].encode()),  # user, no password
        "Basic " + _b64(b":" + AUTH[1].encode()),  # password, no user
        "Basic " + _b64(b"\xff\xfe:\xff"),  # not UTF-8
        "Basic " + _b64(f"{AUTH[0]}:{AUTH[1]}".encode("utf-16")),
        "Basic " + _b64(f"{AUTH[0]}:{AUTH[1]}\x00".encode()),
        "Basic " + _b64(f"{AUTH[0]}:{AUTH[1]} ".encode()),
        "Basic " + _b64(f"{AUTH[0].upper()}:{AUTH[1]}".encode()),
        "Basic " + GOOD + " trailing",
        "Basic " + GOOD + "," + GOOD,
        "Basic " + "A" * 100_000,
        "Bearer " + GOOD,
        "Digest username=postmark, realm=postmark-kit, response=x",
        "Token " + GOOD,
        GOOD,  # credentials without a scheme
        "Basic:" + GOOD,
        "Basic\t" + GOOD,
    ],
)
def test_malformed_authorization_headers_are_401(
    shared_app: Any, recorder: Recorder, header: str
) -> None:
    client = shared_app(recorded=True).test_client()
    response = post(client, BOUNCE, auth=None, headers={"Authorization": header})
    _refused(response, recorder)


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "Basic  "])
def test_the_scheme_is_case_insensitive(shared_app: Any, scheme: str) -> None:
    """RFC 7235: auth schemes are case-insensitive; the right credentials pass in any case."""
    client = shared_app().test_client()
    response = post(client, BOUNCE, auth=None, headers={"Authorization": f"{scheme} {GOOD}"})
    assert response.status_code == 200


def test_a_password_with_colons(shared_app: Any) -> None:
    """Only the first colon separates user and password (RFC 7617)."""
    client = shared_app(
        {"POSTMARK_WEBHOOK_USERNAME": "pm", "POSTMARK_WEBHOOK_PASSWORD": "a:b:c"}
    ).test_client()
    assert post(client, BOUNCE, auth=("pm", "a:b:c")).status_code == 200
    assert post(client, BOUNCE, auth=("pm", "a:b")).status_code == 401
    assert post(client, BOUNCE, auth=("pm", "a:b:c:")).status_code == 401


# -- the secret header ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Webhook-Secret": ""}, 401),
        ({"X-Webhook-Secret": "k3"}, 401),  # a prefix
        ({"X-Webhook-Secret": "k3y0"}, 401),  # an extension
        ({"X-Webhook-Secret": "K3Y"}, 401),  # values are case-sensitive
        ({"X-Webhook-Secret-2": "k3y"}, 401),
        ({"Authorization": "k3y"}, 401),
        ({"x-webhook-secret": "k3y"}, 200),  # header names are not
        ({"X-WEBHOOK-SECRET": "k3y"}, 200),
    ],
)
def test_secret_header_variants(
    shared_app: Any, recorder: Recorder, headers: dict[str, str], status: int
) -> None:
    client = shared_app(
        {**SECRET, "POSTMARK_WEBHOOK_USERNAME": "", "POSTMARK_WEBHOOK_PASSWORD": ""},
        recorded=True,
    ).test_client()
    response = post(client, BOUNCE, auth=None, headers=headers)
    if status == 200:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Header")
        assert recorder.calls == []
        assert "k3y" not in response.get_data(as_text=True)


def test_non_ascii_secret_header_value_over_a_real_server(shared_app: Any) -> None:
    """Header bytes reach WSGI as latin-1 text: a UTF-8 secret must still match its bytes."""
    app = shared_app(
        {
            "POSTMARK_WEBHOOK_SECRET_HEADER": "X-Webhook-Secret",
            "POSTMARK_WEBHOOK_SECRET_VALUE": "schlüssel-✓",
            "POSTMARK_WEBHOOK_USERNAME": "",
            "POSTMARK_WEBHOOK_PASSWORD": "",
        }
    )
    secret = "schlüssel-✓".encode()
    mojibake = secret.decode("latin-1").encode()  # the secret's UTF-8 read as latin-1, re-encoded
    with _serve(app) as port:
        right = _raw_post(port, {"X-Webhook-Secret": secret})
        wrong = _raw_post(port, {"X-Webhook-Secret": "schlussel-✓".encode()})
        latin1 = _raw_post(port, {"X-Webhook-Secret": mojibake})
    assert right[0] == 200, right
    assert wrong[0] == 401 and latin1[0] == 401


# -- timing-safe comparison -----------------------------------------------------------------------


@pytest.fixture
def compares(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every hmac.compare_digest call the auth module makes (the real one still answers)."""
    from postmark_kit.receiver import auth

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        (("other", "wrong"), False),
        (("other", AUTH[1]), False),  # wrong user: the password is still compared
        ((AUTH[0], "wrong"), False),
        (("", ""), False),
        (AUTH, True),
    ],
)
def test_credentials_are_compared_in_constant_time(
    shared_app: Any, compares: list[tuple[bytes, bytes]], given: tuple[str, str], ok: bool
) -> None:
    """Both user and password go through compare_digest every time: no early exit to time."""
    client = shared_app().test_client()
    compares.clear()
    response = post(client, BOUNCE, auth=given)
    assert response.status_code == (200 if ok else 401)
    assert compares == [
        (given[0].encode(), AUTH[0].encode()),
        (given[1].encode(), AUTH[1].encode()),
    ]


def test_secret_header_is_compared_in_constant_time(
    shared_app: Any, compares: list[tuple[bytes, bytes]]
) -> None:
    client = shared_app(SECRET).test_client()
    compares.clear()
    assert post(client, BOUNCE, headers={"X-Webhook-Secret": "k3x"}).status_code == 401
    assert compares[-1] == (b"k3x", b"k3y")
    assert len(compares) == 3  # user, password, secret
    compares.clear()
    assert post(client, BOUNCE, headers={"X-Webhook-Secret": "k3y"}).status_code == 200
    assert compares[-1] == (b"k3y", b"k3y")


# -- IP allowlist ---------------------------------------------------------------------------------

POSTMARK_IP = "50.31.156.6"
STRANGER = "203.0.113.9"


def _from(client: Any, remote: str, xff: str | list[str] | None = None, **kw: Any) -> Any:
    headers: Any = {}
    if isinstance(xff, list):
        headers = [("X-Forwarded-For", v) for v in xff]
    elif xff is not None:
        headers = {"X-Forwarded-For": xff}
    data = json.dumps(BOUNCE)
    return client.post(
        "/postmark/webhook",
        data=data,
        content_type="application/json",
        auth=kw.get("auth", AUTH),
        headers=headers,
        environ_base={"REMOTE_ADDR": remote},
    )


@pytest.mark.parametrize(
    "spoof",
    [
        POSTMARK_IP,
        f"{STRANGER}, {POSTMARK_IP}",
        f"{POSTMARK_IP}, {STRANGER}",
        [POSTMARK_IP, POSTMARK_IP],
        "50.31.156.0/24",
    ],
)
def test_without_trusted_proxies_forwarded_headers_are_ignored(
    shared_app: Any, recorder: Recorder, spoof: Any
) -> None:
    client = shared_app(
        {"POSTMARK_ALLOWED_IPS": "postmark", "POSTMARK_TRUSTED_PROXIES": "0"}, recorded=True
    ).test_client()
    _refused(_from(client, STRANGER, spoof), recorder, 403)
    for header in ("X-Real-IP", "Forwarded", "True-Client-IP", "CF-Connecting-IP"):
        value = f"for={POSTMARK_IP}" if header == "Forwarded" else POSTMARK_IP
        response = client.post(
            "/postmark/webhook",
            data=json.dumps(BOUNCE),
            content_type="application/json",
            auth=AUTH,
            headers={header: value},
            environ_base={"REMOTE_ADDR": STRANGER},
        )
        _refused(response, recorder, 403)
    # An allowed peer stays allowed whatever it forwards.
    assert _from(client, POSTMARK_IP, STRANGER).status_code == 200


@pytest.mark.parametrize(
    ("xff", "status"),
    [
        (POSTMARK_IP, 200),
        (f"{STRANGER}, {POSTMARK_IP}", 200),  # the client's own claim is left of the proxy's
        (f"{POSTMARK_IP}, {STRANGER}", 403),  # the right-most entry is the one that counts
        ([STRANGER, POSTMARK_IP], 200),  # several headers are one list, in order
        ([POSTMARK_IP, STRANGER], 403),
        (f" , {POSTMARK_IP} ,", 200),
        (None, 403),  # no header: the request did not come through the proxy
        ("", 403),
        ("unknown", 403),
        (f"{POSTMARK_IP}:443", 403),
        ("not an ip, at all", 403),
        ("999.1.1.1", 403),
        ("[::1]", 403),
    ],
)
def test_one_trusted_proxy(shared_app: Any, recorder: Recorder, xff: Any, status: int) -> None:
    client = shared_app(
        {"POSTMARK_ALLOWED_IPS": "postmark", "POSTMARK_TRUSTED_PROXIES": "1"}, recorded=True
    ).test_client()
    response = _from(client, "127.0.0.1", xff)
    if status == 200:
        assert response.status_code == 200
        assert recorder.calls[0][3].remote_addr == POSTMARK_IP
    else:
        _refused(response, recorder, 403)


def test_the_postmark_keyword(shared_app: Any) -> None:
    from postmark_kit.receiver.config import POSTMARK_WEBHOOK_IPS

    for setting in ("postmark", "Postmark", " POSTMARK ", "10.0.0.0/8, postmark"):
        client = shared_app({"POSTMARK_ALLOWED_IPS": setting}).test_client()
        for ip in POSTMARK_WEBHOOK_IPS:
            assert _from(client, ip).status_code == 200, (setting, ip)
        for ip in ("50.31.156.5", "50.31.156.7", "3.134.147.251", "127.0.0.1", STRANGER):
            assert _from(client, ip).status_code == 403, (setting, ip)


def test_ipv4_mapped_ipv6_peer(shared_app: Any) -> None:
    """A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: still the same address."""
    client = shared_app({"POSTMARK_ALLOWED_IPS": "postmark, 2001:db8::/32"}).test_client()
    assert _from(client, f"::ffff:{POSTMARK_IP}").status_code == 200
    assert _from(client, f"::ffff:{STRANGER}").status_code == 403
    assert _from(client, "2001:db8::7").status_code == 200
    assert _from(client, "2001:db9::7").status_code == 403


def test_allowlist_comes_before_credentials(shared_app: Any) -> None:
    client = shared_app({"POSTMARK_ALLOWED_IPS": "postmark"}).test_client()
    assert _from(client, STRANGER).status_code == 403  # right credentials, wrong place
    assert _from(client, POSTMARK_IP, auth=("postmark", "nope")).status_code == 401


_serve = serve_wsgi  # a real peer address


def _raw_post(port: int, headers: dict[str, bytes], auth: bool = False) -> tuple[int, str]:
    """POST the bounce with headers as raw bytes (http.client would re-encode them)."""
    body = json.dumps(BOUNCE).encode()
    lines = [
        b"POST /postmark/webhook HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
    ]
    if auth:
        lines.append(b"Authorization: Basic " + GOOD.encode())
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode()


def test_allowlist_on_a_real_server(shared_app: Any) -> None:
    """The peer address comes from the socket: 127.0.0.1 here, whatever headers claim."""
    local = shared_app({"POSTMARK_ALLOWED_IPS": "127.0.0.1"})
    with _serve(local) as port:
        assert _raw_post(port, {}, auth=True)[0] == 200
    remote = shared_app({"POSTMARK_ALLOWED_IPS": "postmark"})
    with _serve(remote) as port:
        spoof = {"X-Forwarded-For": POSTMARK_IP.encode()}
        assert _raw_post(port, spoof, auth=True)[0] == 403
    proxied = shared_app({"POSTMARK_ALLOWED_IPS": "postmark", "POSTMARK_TRUSTED_PROXIES": "1"})
    with _serve(proxied) as port:
        assert _raw_post(port, {"X-Forwarded-For": POSTMARK_IP.encode()}, auth=True)[0] == 200
        both = {"X-Forwarded-For": f"{POSTMARK_IP}, {STRANGER}".encode()}
        assert _raw_post(port, both, auth=True)[0] == 403


# -- no secret in logs or reprs -------------------------------------------------------------------

TOKEN = "server-tok-9f8e7d6c"
PASSWORD = "pw-5a4b3c2d1e"
SECRET_VALUE = "hdr-0a1b2c3d4e"
ALL_SECRETS = {
    "POSTMARK_SERVER_TOKEN": TOKEN,
    "POSTMARK_WEBHOOK_USERNAME": "hooks",
    "POSTMARK_WEBHOOK_PASSWORD": PASSWORD,
    "POSTMARK_WEBHOOK_SECRET_HEADER": "X-Webhook-Secret",
    "POSTMARK_WEBHOOK_SECRET_VALUE": SECRET_VALUE,
    "POSTMARK_BASE_URL": "http://127.0.0.1:9",
}


def _secret_forms() -> list[str]:
    """The secrets and their encoded forms (a logged Authorization header would show base64)."""
    return [
        TOKEN,
        PASSWORD,
        SECRET_VALUE,
        _b64(f"hooks:{PASSWORD}".encode()),
        PASSWORD[:8],
        SECRET_VALUE[:8],
    ]


class _Failing:
    """A plugin that fails, so the error path (log.exception) runs too."""

    plugin_name = "failing"

    @hookimpl
    def postmark_event(self, event: Any) -> None:
        raise RuntimeError("plugin exploded")


@pytest.mark.parametrize("dispatch", ["inline", "journal"])
def test_no_secret_in_logs_responses_or_reprs(
    make_app: Any, caplog: pytest.LogCaptureFixture, dispatch: str
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    app = make_app({**ALL_SECRETS, "POSTMARK_DISPATCH": dispatch, "POSTMARK_LOG_EVENTS": True})
    client = app.test_client()
    right = ("hooks", PASSWORD)
    header = {"X-Webhook-Secret": SECRET_VALUE}
    attempts: list[tuple[Any, dict[str, str], int]] = [
        (None, {}, 401),
        (("hooks", "wrong"), header, 401),
        (("hooks", PASSWORD + "x"), header, 401),
        (("hooks", PASSWORD[:-1]), header, 401),
        (("other", PASSWORD), header, 401),
        (right, {}, 401),
        (right, {"X-Webhook-Secret": SECRET_VALUE[:-1]}, 401),
        (right, {"X-Webhook-Secret": SECRET_VALUE + "x"}, 401),
        (right, header, 200),
    ]
    for auth, headers, status in attempts:
        response = post(client, BOUNCE, auth=auth, headers=headers)
        assert response.status_code == status
        seen.append(response.get_data(as_text=True))
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    # A failing plugin and a bad body: the error paths log too.
    PostmarkReceiver.plugin_manager(app).register(_Failing())
    seen.append(post(client, {**BOUNCE, "ID": 99}, auth=right, headers=header).get_data(True))
    seen.append(post(client, "{bad json", auth=right, headers=header).get_data(as_text=True))
    # Through a real server as well (werkzeug logs each request line).
    with _serve(app) as port:
        raw_headers = {"X-Webhook-Secret": SECRET_VALUE.encode()}
        seen.append(_raw_post(port, raw_headers, auth=False)[1])
    deadline = time.monotonic() + 10  # journal mode: the worker thread runs the plugins
    # (and the server thread logs its request line after the answer has gone out)
    while (
        "plugin exploded" not in caplog.text or len(caplog.records) <= 3
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    state = app.extensions["postmark_kit"]
    seen += [repr(state), repr(state.config), repr(PostmarkReceiver.client_for(app)), str(state)]
    seen += [r.getMessage() for r in caplog.records]
    seen.append(caplog.text)  # formatted records, tracebacks included
    assert any("plugin exploded" in text for text in seen)  # the capture did see the logs
    assert len(caplog.records) > 3
    for text in seen:
        for secret in _secret_forms():
            assert secret not in text, (secret, text[:500])
