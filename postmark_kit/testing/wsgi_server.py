"""A small threaded HTTP/1.1 keep-alive WSGI server on the standard library.

:class:`~postmark_kit.testing.FakePostmark` serves the simulator with it.
werkzeug's development server closes the connection after every answer (it
cannot drain a request body before the next request line), so each call
through ``requests`` paid a new TCP connection, and a client's connection pool
was never exercised the way Postmark (which keeps connections alive) exercises
it.  This server reads every request body in full (``Content-Length`` or
``Transfer-Encoding: chunked``) before the app runs, buffers the app's answer
and sends it with a ``Content-Length`` in one ``sendall`` (``TCP_NODELAY``: no
40 ms Nagle/delayed-ACK stall), and keeps the connection open unless the client
asks otherwise.

It is meant for tests and local tools, not production: one thread per
connection, whole bodies in memory (bounded by ``max_body``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import unquote_to_bytes, urlsplit
from wsgiref.types import WSGIApplication, WSGIEnvironment

__all__ = ["KeepAliveWSGIServer"]

logger = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection (or a client stalled mid-request) may
#: hold its thread; clients' pools notice the close and reconnect.
DEFAULT_IDLE_TIMEOUT = 60.0
#: The largest request body read into memory (Postmark's batch limit is 50 MB).
DEFAULT_MAX_BODY = 100 * 1024 * 1024
#: The longest chunk-size line of a chunked body (hex size plus extensions).
_MAX_CHUNK_LINE = 1024
#: Headers the server owns: an app's own values would contradict the framing.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
)
_NO_BODY_STATUSES = frozenset({204, 304})

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def _is_decimal(text: str) -> bool:
    """Digits only, ASCII only ("²".isdigit() is true; int() takes "+1", " 1", "1_0")."""
    return text.isascii() and text.isdigit()


class _BadRequest(Exception):
    """The request cannot be framed: answer ``status`` and close the connection."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Handler(BaseHTTPRequestHandler):
    """One connection: http.server parses each request, we frame body and answer."""

    server: KeepAliveWSGIServer
    protocol_version = "HTTP/1.1"
    server_version = "postmark-kit"
    # Headers and body go out in one sendall anyway; this also covers 100 Continue.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)

    def handle(self) -> None:
        """Serve requests until the client closes, asks to, idles out, or the server stops."""
        self.close_connection = True
        try:
            self.handle_one_request()
            while not self.close_connection and not self.server.stopping:
                self.handle_one_request()
        except OSError:  # a reset, an idle timeout, stop() shutting the socket down
            self.close_connection = True

    def handle_one_request(self) -> None:
        self._expect_continue = False
        self.raw_requestline = self.rfile.readline(65537)
        if self.raw_requestline in (b"\r\n", b"\n"):
            # RFC 9112 2.2: ignore an empty line before a request (old clients
            # send CRLF after a POST body).
            self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.command = ""
            self.request_version = "HTTP/1.1"
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        if not self.parse_request():  # it answered 400/414/431/505 itself
            self.close_connection = True
            return
        tokens = {t.strip().lower() for t in self.headers.get("Connection", "").split(",")}
        if "close" in tokens:  # parse_request only knows a bare "close"
            self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # so the answer has a status line
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return
        try:
            body, chunked = self._read_body()
        except _BadRequest as exc:
            self.send_error(exc.status, exc.reason)
            return
        if body is None:  # the client went away mid-body
            self.close_connection = True
            return
        self._run_wsgi(body, chunked)

    def handle_expect_100(self) -> bool:
        # Deferred to _read_body: a body that will be refused gets its final
        # answer (413, 400) instead of a 100 Continue.
        self._expect_continue = True
        return True

    def _continue(self) -> None:
        if self._expect_continue:
            self._expect_continue = False
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_body(self) -> tuple[bytes | None, bool]:
        """The whole request body, so the next request line is where the reader is."""
        codings = [
            c.strip().lower()
            for value in self.headers.get_all("Transfer-Encoding", [])
            for c in value.split(",")
            if c.strip()
        ]
        if codings:
            if codings != ["chunked"]:
                raise _BadRequest(
                    HTTPStatus.NOT_IMPLEMENTED, f"Unsupported Transfer-Encoding {codings!r}"
                )
            if self.headers.get("Content-Length") is not None:
                # RFC 9112 6.3: chunked wins, but such a message may be smuggling.
                self.close_connection = True
            self._continue()
            return self._read_chunked(), True
        lengths = {v.strip() for v in self.headers.get_all("Content-Length", [])}
        if not lengths:
            return b"", False
        if len(lengths) != 1 or not _is_decimal(raw := lengths.pop()):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
        length = int(raw)
        if length > self.server.max_body:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large")
        if length == 0:
            return b"", False
        self._continue()
        body = self.rfile.read(length)
        return (body if len(body) == length else None), False

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            if not line:
                return None
            if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n"):
                raise _BadRequest(HTTPStatus.BAD_REQUEST, "Invalid chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            # int() alone would take "0x10", "+1", "1_0"
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF") or len(size_text) > 16:
                raise _BadRequest(HTTPStatus.BAD_REQUEST, "Invalid chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > self.server.max_body:
                raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large")
            data = self.rfile.read(size)
            if len(data) != size:
                return None
            parts.append(data)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(HTTPStatus.BAD_REQUEST, "Chunk not followed by CRLF")
        # Trailer fields (ignored) up to the empty line that ends the message.
        for _ in range(100):
            line = self.rfile.readline(65537)
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                return b"".join(parts)
        raise _BadRequest(HTTPStatus.BAD_REQUEST, "Too many trailer fields")

    def _environ(self, body: bytes, chunked: bool) -> WSGIEnvironment:
        """PEP 3333's environ; PATH_INFO percent-decoded as latin-1 (like werkzeug)."""
        target = self.path
        if target.startswith("/"):
            path, _, query = target.partition("?")
            path = path.partition("#")[0]
            host = None
        else:  # absolute-form (a proxy-style request) or "*"
            parts = urlsplit(target)
            path, query = (parts.path or "/", parts.query) if parts.scheme else (target, "")
            host = parts.netloc or None
        server_host, server_port = self.server.server_address[:2]
        environ: WSGIEnvironment = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            # The body is read in full: an app may read to EOF (werkzeug does
            # for chunked bodies, which have no CONTENT_LENGTH).
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": self.version_string(),
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path.encode("latin-1")).decode("latin-1"),
            "QUERY_STRING": query,
            "REQUEST_URI": target,
            "RAW_URI": target,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "SERVER_NAME": str(server_host),
            "SERVER_PORT": str(server_port),
            "SERVER_PROTOCOL": self.request_version,
        }
        for name, value in self.headers.items():
            if "_" in name:  # X_Forwarded would pose as X-Forwarded (werkzeug drops them too)
                continue
            key = name.upper().replace("-", "_")
            value = value.replace("\r\n", "").replace("\n", "")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if key in environ:
                if key == "CONTENT_LENGTH":
                    continue
                value = f"{environ[key]},{value}"
            environ[key] = value
        if chunked:
            environ.pop("CONTENT_LENGTH", None)
        if host is not None:
            environ["HTTP_HOST"] = host
        return environ

    def _run_wsgi(self, body: bytes, chunked: bool) -> None:
        environ = self._environ(body, chunked)
        started: list[Any] = []  # [status, headers] once start_response was called
        output: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            if started and not exc_info:
                raise AssertionError("start_response called twice without exc_info")
            started[:] = [status, headers]  # nothing is sent before the app returns
            return output.append

        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                for data in result:
                    if not isinstance(data, bytes):
                        raise TypeError(f"the app yielded {type(data).__name__}, not bytes")
                    output.append(data)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if not started:
                raise AssertionError("the app returned without calling start_response")
            answer = self._answer(str(started[0]), started[1], b"".join(output))
        except Exception:
            logger.exception("Error on request %r", self.requestline)
            self.close_connection = True  # the answer is not the app's: start afresh
            self._send(500, "Internal Server Error", [], b"Internal Server Error\n")
            return
        self.connection.sendall(answer)

    def _answer(self, status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """Status line, headers and body as one buffer (one sendall)."""
        code_text, _, reason = status.partition(" ")
        if len(code_text) != 3 or not code_text.isdigit():
            raise ValueError(f"invalid status {status!r}")
        code = int(code_text)
        no_body = self.command == "HEAD" or code < 200 or code in _NO_BODY_STATUSES
        kept: list[tuple[str, str]] = []
        for name, value in headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-length" and not no_body):
                continue
            kept.append((name, value))
        if not no_body:
            kept.append(("Content-Length", str(len(body))))
        return self._message(code, reason, kept, b"" if no_body else body)

    def _message(
        self, code: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        if self.server.stopping:
            self.close_connection = True
        names = {name.lower() for name, _ in headers}
        lines = [f"{self.protocol_version} {code} {reason}"]
        if "server" not in names:
            lines.append(f"Server: {self.version_string()}")
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}")
        for name, value in headers:
            if any(c in name or c in value for c in "\r\n"):
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        self.log_request(code, len(body) if body else "-")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _send(self, code: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        headers = [*headers, ("Content-Type", "text/plain; charset=utf-8")]
        if self.command != "HEAD":
            headers.append(("Content-Length", str(len(body))))
        else:
            body = b""
        self.connection.sendall(self._message(code, reason, headers, body))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """An error the server itself answers (malformed request...): plain text, then close."""
        status = HTTPStatus(code)
        self.close_connection = True
        text = f"{status.value} {status.phrase}: {message or status.description}\n"
        self._send(status.value, status.phrase, [], text.encode("utf-8", "replace"))

    def log_message(self, format: str, *args: Any) -> None:
        stream = self.server.access_log
        if stream is not None:
            stream.write(
                f"{self.address_string()} - - [{self.log_date_time_string()}] {format % args}\n"
            )


class KeepAliveWSGIServer(socketserver.TCPServer):
    """Serve ``app`` on ``host:port`` with HTTP/1.1 persistent connections.

    ``start()`` accepts in a daemon thread and serves each connection in its
    own daemon thread; ``stop()`` closes the listening socket and every open
    connection (idle keep-alive ones included) and returns in bounded time.
    ``access_log`` (a text stream) gets one line per request.  Also a context
    manager.
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: IO[str] | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_body: int = DEFAULT_MAX_BODY,
        name: str = "wsgi-server",
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.app = app
        self.access_log = access_log
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.name = name
        #: TCP connections accepted so far (a keep-alive client reuses one).
        self.connections_accepted = 0
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._serving = threading.Event()
        self._stopped_serving = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.server_port}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def open_connections(self) -> int:
        """Connections being served now (idle keep-alive ones included)."""
        with self._lock:
            return len(self._connections)

    def start(self) -> Self:
        """Accept connections in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name=self.name, daemon=True)
            self._thread.start()
        return self

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept until ``shutdown()``/``stop()``, which wakes the loop at once."""
        self._serving.set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                self.socket.setblocking(False)
                while not self._stopping.is_set():
                    ready = selector.select(poll_interval)
                    if self._stopping.is_set():
                        break
                    if any(key.fileobj is self.socket for key, _ in ready):
                        self._accept()
        finally:
            self._stopped_serving.set()

    def _accept(self) -> None:
        try:
            conn, address = self.socket.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        conn.setblocking(True)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(conn, address),
            name=f"{self.name}-connection",
            daemon=True,
        )
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                return
            self.connections_accepted += 1
            self._connections[conn] = thread
        thread.start()

    def _serve_connection(self, conn: socket.socket, address: Any) -> None:
        try:
            self.finish_request(conn, address)
        except Exception:
            logger.exception("Error on a connection from %s", address)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            self.shutdown_request(conn)

    def shutdown(self) -> None:
        """Stop accepting (serve_forever returns); open connections are left to ``stop()``."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._serving.is_set():
            self._stopped_serving.wait(5)

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listening socket and every connection; join the threads.

        A request still inside the app (a long ``/wait`` of the control API)
        is not interrupted: its daemon thread is given up on after ``timeout``.
        """
        self.shutdown()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()
        with self._lock:
            threads = list(self._connections.values())
            for conn in self._connections:
                # Wakes the thread blocked reading the next request line;
                # that thread closes the socket itself (no fd reuse race).
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
