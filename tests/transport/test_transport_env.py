"""Proxy and CA-bundle variables are read once, when the client creates its session.

As httpx does: requests with ``trust_env`` on scans all of ``os.environ`` (and
``~/.netrc``) on every call.  A ``session=`` passed in keeps requests'
per-call behaviour and gets no settings of ours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock

from postmark_kit import ServerClient
from postmark_kit.errors import NetworkError, PostmarkError, TransportError
from tests.conftest import SERVER_TOKEN, load_response
from tests.transport.faultserver import FaultServer, Reply, closed_port

ENV_VARS = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NETRC",
)


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer(default=Reply(200, load_response("get_server"))) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _client(base_url: str, **kwargs: Any) -> ServerClient:
    return ServerClient(SERVER_TOKEN, base_url=base_url, retries=0, timeout=(2.0, 5.0), **kwargs)


def _recording(client: ServerClient) -> requests_mock.Adapter:
    """requests-mock's adapter on the client's session: its history keeps what
    requests worked out for each call (``verify``, ``proxies``)."""
    adapter = requests_mock.Adapter()
    adapter.register_uri(requests_mock.ANY, requests_mock.ANY, json=load_response("get_server"))
    client.session.mount("https://", adapter)
    client.session.mount("http://", adapter)
    return adapter


def test_a_proxy_set_before_the_client_is_used(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fault server plays the proxy: an http:// call reaches it in absolute form.
    monkeypatch.setenv("HTTP_PROXY", srv.url)
    client = _client("http://api.postmark.invalid")
    assert client.server.get().name
    assert [r.path for r in srv.requests] == ["http://api.postmark.invalid/server"]
    assert srv.requests[0].header("X-Postmark-Server-Token") == SERVER_TOKEN
    assert client.session.trust_env is False
    client.close()


def test_an_https_proxy_is_asked_to_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    # The "proxy" refuses the CONNECT: the call fails at once, typed (a 200
    # would start a TLS handshake with a plain-HTTP peer, which may only end
    # with the connect timeout).
    refused = Reply(403, b"", close=True)
    with FaultServer(default=refused) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        client = _client("https://api.postmark.invalid")
        with pytest.raises(PostmarkError):
            client.server.get()
        assert proxy.requests[0].method == "CONNECT"
        assert proxy.requests[0].path == "api.postmark.invalid:443"
        client.close()


def test_no_proxy_covering_the_host_goes_direct(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client = _client(srv.url)
    assert client.server.get().name
    assert [r.path for r in srv.requests] == ["/server"]
    client.close()


def test_the_environment_changed_after_creation_is_not_seen(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(srv.url)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert client.server.get().name
    assert len(srv.requests) == 1
    # A client created now reads it.
    later = _client(srv.url)
    with pytest.raises(NetworkError):
        later.server.get()
    assert len(srv.requests) == 1
    monkeypatch.delenv("HTTP_PROXY")
    with pytest.raises(NetworkError):
        later.server.get()  # and keeps it
    client.close()
    later.close()


def test_a_ca_bundle_from_the_environment_is_the_verify_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "corp-ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = _client("https://api.postmark.invalid")
    adapter = _recording(client)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "changed.pem"))
    client.server.get()
    assert adapter.request_history[0].verify == str(bundle)
    client.close()


def test_curl_ca_bundle_is_read_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "ca.pem"))
    client = _client("https://api.postmark.invalid")
    adapter = _recording(client)
    client.server.get()
    assert adapter.request_history[0].verify == str(tmp_path / "ca.pem")
    client.close()


@pytest.mark.parametrize(
    "env",
    [{}, {"REQUESTS_CA_BUNDLE": ""}, {"CURL_CA_BUNDLE": ""}, {"HTTPS_PROXY": "http://p:3128"}],
)
def test_tls_verification_is_never_turned_off(
    monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = _client("https://api.postmark.invalid")
    adapter = _recording(client)
    client.server.get()
    client.server.get()
    assert [r.verify for r in adapter.request_history] == [True, True]
    client.close()


def test_what_is_set_on_the_session_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "env.pem"))
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    client = _client("https://api.postmark.invalid")
    adapter = _recording(client)
    client.server.get()
    assert adapter.request_history[-1].proxies["https"] == "http://env-proxy:3128"
    client.session.verify = str(tmp_path / "mine.pem")
    client.session.proxies = {"https": "http://my-proxy:8080"}
    client.server.get()
    assert adapter.request_history[-1].verify == str(tmp_path / "mine.pem")
    assert adapter.request_history[-1].proxies["https"] == "http://my-proxy:8080"
    # None for a scheme drops the environment's proxy (requests' merge rule).
    client.session.proxies = {"https": None}  # type: ignore[dict-item]
    client.server.get()
    assert "https" not in adapter.request_history[-1].proxies
    client.close()


def test_netrc_credentials_are_not_added(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\nlogin someone\npassword secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = _client(srv.url)
    assert client.server.get().name
    assert srv.requests[0].header("Authorization") is None
    # requests itself would send them: the check above can fail.
    with requests.Session() as plain:
        plain.get(f"{srv.url}/server", timeout=5)
    assert (srv.requests[1].header("Authorization") or "").startswith("Basic ")
    client.close()


class _KwargsSession(requests.Session):
    """A caller's session that overrides ``request`` and keeps the kwargs it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.kwargs.append(dict(kwargs))
        return super().request(method, url, *args, **kwargs)


def test_a_callers_session_keeps_requests_per_call_behaviour(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nowhere/ca.pem")
    session = _KwargsSession()
    client = _client(srv.url, session=session)
    assert client.server.get().name
    assert session.trust_env is True
    assert "proxies" not in session.kwargs[0]
    assert "verify" not in session.kwargs[0]
    # requests reads the environment on this call, as it always does.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(NetworkError):
        client.server.get()
    assert len(srv.requests) == 1
    client.close()
    assert session.trust_env is True
    session.close()


def test_a_ca_bundle_that_cannot_be_read_is_a_postmark_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    client = _client(f"https://127.0.0.1:{closed_port()}")
    with pytest.raises(TransportError, match="CA bundle") as info:
        client.server.get()
    assert SERVER_TOKEN not in repr(info.value)
    client.close()
