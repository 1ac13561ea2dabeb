"""Proxy settings: read from the environment once per client, session changes honoured.

The transport works out proxies/verify/cert once instead of on every call
(requests scans the whole environment per call); these pin what that means.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmark_kit import ServerClient
from postmark_kit.errors import NetworkError
from tests.conftest import SERVER_TOKEN, load_response
from tests.transport.faultserver import FaultServer, Reply, closed_port

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer(default=Reply(200, load_response("get_server"))) as server:
        yield server


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_VARS, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def _client(srv: FaultServer) -> ServerClient:
    return ServerClient(SERVER_TOKEN, base_url=srv.url, retries=0, timeout=(2.0, 5.0))


def test_a_proxy_in_the_environment_is_used(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    client = _client(srv)
    with pytest.raises(NetworkError):
        client.server.get()
    assert srv.requests == []
    # Turning the environment off on the session is seen on the next call.
    client.session.trust_env = False
    assert client.server.get().name
    client.close()


def test_session_proxies_set_after_the_first_call_are_used(srv: FaultServer) -> None:
    client = _client(srv)
    assert client.server.get().name
    client.session.proxies = {"http": f"http://127.0.0.1:{closed_port()}"}
    with pytest.raises(NetworkError):
        client.server.get()
    assert len(srv.requests) == 1
    client.close()


def test_the_environment_is_read_once_per_client(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(srv)
    assert client.server.get().name
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert client.server.get().name  # the documented trade-off: no rescan per call
    assert len(srv.requests) == 2
    with pytest.raises(NetworkError):
        _client(srv).server.get()  # a new client reads it
    client.close()
