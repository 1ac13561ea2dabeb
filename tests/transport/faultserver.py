"""A scriptable, fault-injecting HTTP/1.1 server on 127.0.0.1 for transport tests.

Each incoming request consumes the next scripted action (``Reply``, ``Reset``);
when the script is empty the ``default`` reply is sent.  Keep-alive is kept
unless an action closes the connection, so the number of accepted TCP
connections shows whether the client reuses its pool.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer.

    ``body``: bytes are sent as is, anything else as JSON.  ``delay`` seconds
    pass before anything is written (a read timeout); with ``slow_body`` the
    headers go out at once and the body only after ``delay`` (a stalled body).
    ``content_length`` overrides the header (larger than the body = truncated,
    the connection is then closed).  ``close`` ends the connection afterwards.
    """

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    slow_body: bool = False
    content_length: int | None = None
    close: bool = False
    #: Close afterwards while the headers promised keep-alive (an idle
    #: timeout on the server side): the client's pooled connection goes stale.
    silent_close: bool = False

    def encoded_body(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Reset:
    """Read the request, then drop the connection without answering (RST)."""


Action = Reply | Reset


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        sock: socket.socket = self.request
        owner._track(sock)
        reader = sock.makefile("rb")
        try:
            while not owner._stopping.is_set():
                recorded = self._read_request(reader)
                if recorded is None:
                    return
                action = owner._next(recorded)
                if not self._act(sock, action):
                    return
        except OSError:
            return
        finally:
            reader.close()

    @staticmethod
    def _read_request(reader: Any) -> Recorded | None:
        line = reader.readline(65536)
        if not line:
            return None
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = reader.readline(65536)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip()] = value.strip()
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
        body = reader.read(length) if length else b""
        return Recorded(method, target, headers, body)

    def _act(self, sock: socket.socket, action: Action) -> bool:
        """Perform one action; False when the connection is finished."""
        owner = self.server.owner
        if isinstance(action, Reset):
            # SO_LINGER 0: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if action.delay and not action.slow_body and owner._stopping.wait(action.delay):
            return False
        body = action.encoded_body()
        length = len(body) if action.content_length is None else action.content_length
        close = action.close or length != len(body)
        head = [f"HTTP/1.1 {action.status} {_REASONS.get(action.status, 'Status')}"]
        head.append("Content-Type: application/json")
        head.append(f"Content-Length: {length}")
        head.append(f"Connection: {'close' if close else 'keep-alive'}")
        head.extend(f"{k}: {v}" for k, v in action.headers.items())
        head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if action.slow_body:
            sock.sendall(head_bytes)
            if owner._stopping.wait(action.delay):
                return False
            sock.sendall(body)
        else:
            sock.sendall(head_bytes + body)
        return not (close or action.silent_close)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.owner._closed_cv:
            self.owner.closed += 1
            self.owner._closed_cv.notify_all()


class FaultServer:
    """``with FaultServer() as srv: srv.script(Reply(503), Reply(200, {...}))``."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.requests: list[Recorded] = []
        self.connections = 0
        #: Connections this server has closed (after their handler finished).
        self.closed = 0
        self._script: deque[Action] = deque()
        self._lock = threading.Lock()
        self._closed_cv = threading.Condition()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = _TCPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *actions: Action | Iterable[Action]) -> None:
        with self._lock:
            for action in actions:
                if isinstance(action, Reply | Reset):
                    self._script.append(action)
                else:
                    self._script.extend(action)

    def wait_closed(self, count: int, timeout: float = 5.0) -> bool:
        """Block until the server has closed ``count`` connections."""
        with self._closed_cv:
            return self._closed_cv.wait_for(lambda: self.closed >= count, timeout)

    def _next(self, recorded: Recorded) -> Action:
        with self._lock:
            self.requests.append(recorded)
            return self._script.popleft() if self._script else self.default

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
