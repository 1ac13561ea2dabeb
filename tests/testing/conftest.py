"""Fixtures for the simulator tests: a tiny webhook sink on loopback."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Sink:
    """Records webhook POSTs; answers ``fail_first`` requests with 500 first."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        #: Statuses to answer, in order, before the default 200 (after ``fail_first``).
        self.script: list[int] = []
        self.lock = threading.Lock()
        self.url = ""

    def bodies(self, record_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = [r["json"] for r in self.requests if r["status"] == 200]
        return [b for b in out if record_type is None or b.get("RecordType") == record_type]


@pytest.fixture
def sink() -> Iterator[Sink]:
    state = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                if state.fail_first > 0:
                    status = 500
                elif state.script:
                    status = state.script.pop(0)
                else:
                    status = 200
                state.fail_first -= 1
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    user = base64.b64decode(auth[6:]).decode()
                state.requests.append(
                    {
                        "json": json.loads(raw),
                        "basic": user,
                        "headers": dict(self.headers),
                        "status": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
