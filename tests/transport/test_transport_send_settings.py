"""The session does the sending: its own settings and a caller's Session subclass.

Every call goes through ``session.request`` itself, so the session's own
settings and what a caller's ``requests.Session`` subclass adds are honoured
as they are.  The environment (read once per client) is in test_transport_env.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

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


def test_session_proxies_set_after_the_first_call_are_used(srv: FaultServer) -> None:
    client = _client(srv)
    assert client.server.get().name
    client.session.proxies = {"http": f"http://127.0.0.1:{closed_port()}"}
    with pytest.raises(NetworkError):
        client.server.get()
    assert len(srv.requests) == 1
    client.close()


class _TaggingSession(requests.Session):
    """What OAuth or base-URL sessions do: override ``request``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((str(method), str(url)))
        headers = dict(kwargs.pop("headers", None) or {})
        headers["X-Tagged"] = "yes"
        return super().request(method, url, *args, headers=headers, **kwargs)


def test_a_session_subclass_overriding_request_is_called(srv: FaultServer) -> None:
    session = _TaggingSession()
    client = ServerClient(SERVER_TOKEN, base_url=srv.url, retries=0, session=session)
    assert client.server.get().name
    assert session.calls == [("GET", f"{srv.url}/server")]
    assert srv.requests[0].header("X-Tagged") == "yes"
    client.close()
    assert session.calls  # the caller's session stays open and usable
    session.close()
