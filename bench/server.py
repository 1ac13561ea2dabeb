"""A canned-bytes HTTP/1.1 server for client benchmarks.

It must never be the bottleneck: every response is pre-built (status line,
headers and body in one ``bytes``), sent with one ``sendall`` on a socket with
TCP_NODELAY, over keep-alive connections, one thread per connection.  With
``latency`` it waits that long before each answer, as a real network would, and
``connect_latency`` more before a new connection's first answer.  It counts
requests and accepted connections so the batch benchmark can check them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CannedServer", "response_bytes"]

#: (method, path without query) -> full response bytes; path prefix match on "*"
Routes = dict[tuple[str, str], bytes]
#: (method, target with query) -> response bytes, or None for a 404
Fallback = Callable[[str, str], bytes | None]
NOT_FOUND = b'{"ErrorCode":404,"Message":"not found"}'


def response_bytes(body: bytes, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    return head + body


class CannedServer:
    """Serve ``routes`` on 127.0.0.1 (free port) until :meth:`stop`."""

    def __init__(
        self,
        routes: Routes,
        default: Callable[[str, str], bytes | None] | None = None,
        *,
        latency: float = 0.0,
        connect_latency: float = 0.0,
    ) -> None:
        self.routes = routes
        self.default = default
        #: Seconds added before each answer: a network round trip to Postmark.
        self.latency = latency
        #: Seconds added before a new connection's first answer: TCP + TLS handshakes.
        self.connect_latency = connect_latency
        self.requests = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.connections = 0

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        handshake = self.connect_latency
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    chunk = conn.recv(max(65536, length - len(rest)))
                    if not chunk:
                        return
                    rest += chunk
                buf = rest[length:]
                path = target.split("?", 1)[0]
                with self._lock:
                    self.requests += 1
                out = self.routes.get((method, path))
                if out is None and self.default is not None:
                    out = self.default(method, target)
                if out is None:
                    out = response_bytes(
                        b'{"ErrorCode":404,"Message":"not found"}', "404 Not Found"
                    )
                if self.latency or handshake:
                    time.sleep(self.latency + handshake)
                    handshake = 0.0
                conn.sendall(out)
        except OSError:
            return
        finally:
            conn.close()
