"""A network failure names the host and the reason: refused, DNS, TLS, timeout."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from postmark_kit import ServerClient
from postmark_kit.errors import NetworkError, RequestTimeoutError


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections on 127.0.0.1 and answers nothing (for TLS and read timeouts)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.01)  # how soon the accept loop sees the stop
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    """Answers any bytes with a plain HTTP response: what TLS finds on a non-TLS port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.01)  # how soon the accept loop sees the stop
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _fail(base_url: str, timeout: float = 2.0) -> Exception:
    client = ServerClient("token-never-shown", base_url=base_url, retries=0, timeout=timeout)
    with client, pytest.raises((NetworkError, RequestTimeoutError)) as info:
        client.stats.get_outbound_overview()
    assert "token-never-shown" not in str(info.value)
    return info.value


def test_refused_names_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = _fail(f"http://127.0.0.1:{port}")
    assert str(error) == f"cannot reach 127.0.0.1:{port}: connection refused"


def test_dns_failure() -> None:
    error = _fail("https://no-such-host.invalid")
    assert isinstance(error, NetworkError)
    assert str(error).startswith("cannot reach no-such-host.invalid: DNS lookup failed")


def test_tls_failure(plain_http_server: int) -> None:
    error = _fail(f"https://127.0.0.1:{plain_http_server}")
    assert str(error).startswith(f"cannot reach 127.0.0.1:{plain_http_server}: TLS handshake")


def test_read_timeout(silent_server: int) -> None:
    error = _fail(f"http://127.0.0.1:{silent_server}", timeout=0.1)
    assert isinstance(error, RequestTimeoutError)
    assert str(error) == f"127.0.0.1:{silent_server}: read timeout after 0.1s"
