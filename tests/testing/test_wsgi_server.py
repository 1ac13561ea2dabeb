"""The simulator's HTTP/1.1 keep-alive WSGI server, over real sockets on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request

from postmark_kit import ServerClient
from postmark_kit.models.email import Email
from postmark_kit.testing import FakePostmark
from postmark_kit.testing.wsgi_server import KeepAliveWSGIServer

Environ = dict[str, Any]
StartResponse = Any


def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Answers the request's environ (its str values) and body as JSON."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the app fails")
    data: dict[str, Any] = {k: v for k, v in environ.items() if isinstance(v, str)}
    data["body"] = body.decode("latin-1")
    data["wsgi.input_terminated"] = environ.get("wsgi.input_terminated")
    out = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", "1")])
    return [out]


@pytest.fixture
def server() -> Iterator[KeepAliveWSGIServer]:
    with KeepAliveWSGIServer(echo, idle_timeout=10) as srv:
        yield srv


def connect(srv: KeepAliveWSGIServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.server_port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(rfile: io.BufferedReader, *, head: bool = False) -> Answer:
    """One response off a connection, framed by its Content-Length (nothing read past it)."""
    status_line = rfile.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := rfile.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    length = 0 if head or status < 200 else int(headers.get("content-length", "0"))
    return Answer(status, headers, rfile.read(length))


def test_a_session_reuses_one_connection(server: KeepAliveWSGIServer) -> None:
    with requests.Session() as session:
        ports = set()
        for i in range(20):
            resp = session.get(f"{server.url}/n/{i}", timeout=5)
            assert resp.status_code == 200
            assert resp.json()["PATH_INFO"] == f"/n/{i}"
            assert "connection" not in resp.headers  # HTTP/1.1: persistent by default
            ports.add(resp.json()["REMOTE_PORT"])
    assert server.connections_accepted == 1
    assert len(ports) == 1


def test_post_body_then_get_on_the_same_connection(server: KeepAliveWSGIServer) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    body = b'{"To": "a@example.com"}'
    sock.sendall(
        b"POST /email?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    first = read_answer(rfile)
    sock.sendall(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    second = read_answer(rfile)
    assert first.status == second.status == 200
    assert first.json()["body"] == body.decode()
    assert first.json()["CONTENT_LENGTH"] == str(len(body))
    assert first.json()["CONTENT_TYPE"] == "application/json"
    assert second.json()["REQUEST_METHOD"] == "GET"
    assert second.json()["body"] == ""  # wsgi.input is bounded to each request's body
    assert server.connections_accepted == 1
    sock.close()


def test_pipelined_requests_are_answered_in_order(server: KeepAliveWSGIServer) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        b"\r\n"  # a stray CRLF after a body, as old clients send: ignored
        b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nde"
        b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    answers = [read_answer(rfile).json() for _ in range(3)]
    assert [(a["PATH_INFO"], a["body"]) for a in answers] == [
        ("/a", "abc"),
        ("/b", "de"),
        ("/c", ""),
    ]
    sock.close()


def test_chunked_request_body(server: KeepAliveWSGIServer) -> None:
    parts = [b"first,", b"second,", b"x" * 70_000]
    with requests.Session() as session:
        resp = session.post(f"{server.url}/chunked", data=iter(parts), timeout=5)
        assert resp.json()["HTTP_TRANSFER_ENCODING"] == "chunked"  # requests chunked it
        assert resp.json()["body"] == b"".join(parts).decode()
        assert "CONTENT_LENGTH" not in resp.json()
        assert resp.json()["wsgi.input_terminated"] is True
        assert session.get(f"{server.url}/after", timeout=5).json()["body"] == ""
    assert server.connections_accepted == 1


def test_chunked_body_with_extensions_and_trailers(server: KeepAliveWSGIServer) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(
        b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert read_answer(rfile).json()["body"] == "Wikipedia"
    assert read_answer(rfile).json()["PATH_INFO"] == "/next"
    sock.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \u00b2\r\n\r\nab".encode("latin-1"),
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/x.y\r\n\r\n",
        b"GET / extra words HTTP/1.1\r\n\r\n",
        b"PUT /\r\n\r\n",
        b"GET /\r\n\r\n",  # HTTP/0.9
    ],
)
def test_malformed_requests_get_400_and_a_closed_connection(
    server: KeepAliveWSGIServer, request_bytes: bytes
) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(request_bytes)
    answer = read_answer(rfile)
    assert answer.status == 400
    assert answer.headers["connection"] == "close"
    assert rfile.read() == b""  # closed
    sock.close()
    # the server is unharmed
    assert requests.get(f"{server.url}/ok", timeout=5).status_code == 200


def test_unsupported_transfer_coding_and_http2_are_refused(server: KeepAliveWSGIServer) -> None:
    for raw, status in [
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
    ]:
        with connect(server) as sock:
            sock.sendall(raw)
            assert read_answer(sock.makefile("rb")).status == status


@pytest.mark.parametrize("value", [b"close", b"TE, Close"])
def test_connection_close_is_honoured(server: KeepAliveWSGIServer, value: bytes) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(b"GET /once HTTP/1.1\r\nHost: h\r\nConnection: %s\r\n\r\n" % value)
    answer = read_answer(rfile)
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert rfile.read() == b""  # the server closed its side
    sock.close()


def test_http_1_0_closes_unless_keep_alive(server: KeepAliveWSGIServer) -> None:
    with connect(server) as sock:
        rfile = sock.makefile("rb")
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        answer = read_answer(rfile)
        assert answer.json()["SERVER_PROTOCOL"] == "HTTP/1.0"
        assert answer.headers["connection"] == "close"
        assert rfile.read() == b""
    with connect(server) as sock:
        rfile = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert read_answer(rfile).headers["connection"] == "keep-alive"
    assert server.connections_accepted == 2


def test_head_has_no_body_and_the_connection_goes_on() -> None:
    app = Flask(__name__)

    @app.get("/thing")
    def thing() -> str:
        return "a body of 17 byte"

    with KeepAliveWSGIServer(app) as srv:
        sock = connect(srv)
        rfile = sock.makefile("rb")
        sock.sendall(
            b"HEAD /thing HTTP/1.1\r\nHost: h\r\n\r\nGET /thing HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        head = read_answer(rfile, head=True)
        get = read_answer(rfile)
        assert head.status == 200 and head.body == b""
        assert head.headers["content-length"] == "17"  # the GET body's length, as Flask says
        assert get.body == b"a body of 17 byte"
        sock.close()


def test_expect_100_continue(server: KeepAliveWSGIServer) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(
        b"POST /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    interim = read_answer(rfile)
    assert interim.status == 100
    sock.sendall(b"hello")
    final = read_answer(rfile)
    assert final.status == 200 and final.json()["body"] == "hello"
    sock.close()


def test_a_body_over_the_limit_is_refused_before_100_continue() -> None:
    with KeepAliveWSGIServer(echo, max_body=10) as srv, connect(srv) as sock:
        rfile = sock.makefile("rb")
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
        )
        answer = read_answer(rfile)
        assert answer.status == 413  # no 100 Continue first: the client need not send it
        assert answer.headers["connection"] == "close"


def test_an_app_exception_is_a_500_and_the_server_goes_on(
    server: KeepAliveWSGIServer, caplog: pytest.LogCaptureFixture
) -> None:
    with requests.Session() as session:
        resp = session.post(f"{server.url}/boom", data=b"x", timeout=5)
        assert resp.status_code == 500
        assert resp.headers["connection"] == "close"
        assert "the app fails" not in resp.text  # no traceback to the client
        assert session.get(f"{server.url}/ok", timeout=5).status_code == 200
    assert server.connections_accepted == 2  # the next request came on a new connection
    assert "the app fails" in caplog.text


def test_an_app_that_breaks_wsgi_is_a_500() -> None:
    def no_start(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"never started"]

    def text_not_bytes(environ: Environ, start_response: StartResponse) -> list[str]:
        start_response("200 OK", [])
        return ["text"]

    def header_injection(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: b")])
        return [b""]

    for app in (no_start, text_not_bytes, header_injection):
        with KeepAliveWSGIServer(app) as srv:  # type: ignore[arg-type]
            assert requests.get(srv.url, timeout=5).status_code == 500, app


def test_start_response_with_exc_info_replaces_the_answer() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("late")
        except ValueError as exc:
            start_response("502 Bad Gateway", [], (type(exc), exc, exc.__traceback__))
        return [b"sorry"]

    with KeepAliveWSGIServer(app) as srv:
        resp = requests.get(srv.url, timeout=5)
        assert (resp.status_code, resp.text, resp.headers.get("X-First")) == (502, "sorry", None)


def test_environ(server: KeepAliveWSGIServer) -> None:
    sock = connect(server)
    rfile = sock.makefile("rb")
    sock.sendall(
        b"GET /caf%C3%A9/a%20b%2Bc?q=%C3%A9t%C3%A9&x=a+b HTTP/1.1\r\nHost: example.test\r\n"
        b"X-Custom: one\r\nX-Custom: two\r\nX_Spoofed: dropped\r\n\r\n"
    )
    env = read_answer(rfile).json()
    sock.close()
    assert env["PATH_INFO"] == "/café/a b+c".encode().decode("latin-1")  # PEP 3333
    assert env["QUERY_STRING"] == "q=%C3%A9t%C3%A9&x=a+b"
    assert env["REQUEST_URI"] == "/caf%C3%A9/a%20b%2Bc?q=%C3%A9t%C3%A9&x=a+b"
    assert env["SCRIPT_NAME"] == ""
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(server.server_port))
    assert env["HTTP_HOST"] == "example.test"
    assert env["HTTP_X_CUSTOM"] == "one,two"
    assert "HTTP_X_SPOOFED" not in env
    assert env["wsgi.url_scheme"] == "http"
    assert env["SERVER_SOFTWARE"].startswith("postmark-kit ")


def test_flask_routes_with_special_characters() -> None:
    app = Flask(__name__)

    @app.get("/items/<name>")
    def item(name: str) -> dict[str, Any]:
        return {"name": name, "tag": request.args.get("tag")}

    with KeepAliveWSGIServer(app) as srv:
        resp = requests.get(
            f"{srv.url}/items/caf%C3%A9%20%26%20%25%3F%23", params={"tag": "été & co"}, timeout=5
        )
        assert resp.json() == {"name": "café & %?#", "tag": "été & co"}


def test_idle_connections_do_not_hold_up_stop() -> None:
    srv = KeepAliveWSGIServer(echo, idle_timeout=60, name="stop-test").start()
    socks = [connect(srv) for _ in range(3)]
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_answer(sock.makefile("rb")).status == 200
    assert srv.open_connections == 3  # idle, kept alive
    threads = [t for t in threading.enumerate() if t.name == "stop-test-connection"]
    srv.stop(timeout=30)  # a thread left waiting on its idle socket would use all 30 s
    assert srv.open_connections == 0
    assert not any(t.is_alive() for t in threads)
    for sock in socks:
        assert sock.recv(1) == b""  # the server closed them
        sock.close()
    with pytest.raises(OSError):
        connect(srv)


def test_an_idle_connection_times_out() -> None:
    with KeepAliveWSGIServer(echo, idle_timeout=0.05) as srv, connect(srv) as sock:
        assert sock.recv(1) == b""  # closed by the server (the socket timeout is 5 s)
        assert srv.connections_accepted == 1


def test_concurrent_clients_are_served_in_parallel() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        barrier.wait()  # breaks (500) unless three requests are inside the app at once
        start_response("200 OK", [])
        return [b"together"]

    results: list[int] = []
    with KeepAliveWSGIServer(app) as srv:

        def call() -> None:
            results.append(requests.get(srv.url, timeout=10).status_code)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [200, 200, 200]
        assert srv.connections_accepted == 3


def test_access_log() -> None:
    log = io.StringIO()
    with KeepAliveWSGIServer(echo, access_log=log) as srv:
        requests.get(f"{srv.url}/logged?x=1", timeout=5)
    assert '"GET /logged?x=1 HTTP/1.1" 200' in log.getvalue()
    assert log.getvalue().startswith("127.0.0.1 - - [")


def test_a_large_body_keeps_the_connection(server: KeepAliveWSGIServer) -> None:
    big = b"a" * (2 * 1024 * 1024)  # far more than a socket buffer: many reads
    with requests.Session() as session:
        assert len(session.post(f"{server.url}/big", data=big, timeout=30).json()["body"]) == len(
            big
        )
        assert session.get(f"{server.url}/small", timeout=5).status_code == 200
    assert server.connections_accepted == 1


# -- the simulator over it -----------------------------------------------------------


def test_the_simulator_keeps_a_clients_connection() -> None:
    with (
        FakePostmark() as fake,
        ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as client,
    ):
        for _ in range(10):
            client.server.get()
        client.email.send(
            Email(from_email=fake.sender_email, to="a@example.com", subject="s", text_body="t")
        )
        assert fake.connections_accepted == 1


def test_the_simulator_accepts_a_chunked_body() -> None:
    """requests chunks a generator body; werkzeug accepted it, so does this server."""
    with FakePostmark() as fake:
        body = json.dumps(
            {"From": fake.sender_email, "To": "a@example.com", "Subject": "s", "TextBody": "t"}
        ).encode()
        resp = requests.post(
            f"{fake.base_url}/email",
            data=iter([body[:10], body[10:]]),
            headers={
                "X-Postmark-Server-Token": fake.server_token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=5,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["ErrorCode"] == 0


def test_simulator_paths_with_special_characters() -> None:
    alias = "café été & %20 ?#+"
    with (
        FakePostmark() as fake,
        ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as client,
    ):
        client.templates.create(name="T", alias=alias, subject="s", text_body="t")
        assert client.templates.get(alias).alias == alias
        client.email.send(
            Email(
                from_email=fake.sender_email,
                to="a@example.com",
                subject="s",
                text_body="t",
                tag="été & co",
            )
        )
        assert client.outbound.list(tag="été & co").total == 1
