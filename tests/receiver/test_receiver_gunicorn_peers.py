"""Hostile peers against the shipped deployment: receiver/wsgi.py under receiver/gunicorn.conf.py.

One gunicorn for the module (about a second to start), bounded counts and
times.  Each test failed before this round: slow bodies held every worker
thread, and gunicorn's own chunked-framing errors reached the app as 500s.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import ROOT, load_webhook
from tests.receiver._receiver_support import AUTH, die_with_parent
from tests.receiver.test_receiver_http import _free_port, _wait_until_healthy

pytest.importorskip("gunicorn")

pytestmark = pytest.mark.slow  # gunicorn: run by the full suite; skipped by -m "not slow"

BOUNCE = json.dumps(load_webhook("bounce")).encode()
TOKEN = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """receiver/wsgi.py under the shipped gunicorn.conf.py (its workers and threads)."""
    tmp = tmp_path_factory.mktemp("gunicorn-peers")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POSTMARK_", "GUNICORN_"))},
        "POSTMARK_WEBHOOK_USERNAME": AUTH[0],
        "POSTMARK_WEBHOOK_PASSWORD": AUTH[1],
        "POSTMARK_EVENT_STORE": str(tmp / "events.sqlite3"),
        "POSTMARK_JOURNAL": str(tmp / "journal.sqlite3"),
        "POSTMARK_LOAD_ENTRYPOINTS": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "receiver/gunicorn.conf.py", "receiver.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        _wait_until_healthy(proc, f"http://127.0.0.1:{port}/postmark", "gunicorn")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def _head(headers: str, auth: bool = True) -> bytes:
    credentials = f"Authorization: Basic {TOKEN}\r\n" if auth else ""
    return (
        "POST /postmark/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{credentials}Content-Type: application/json\r\n{headers}\r\n"
    ).encode()


def _answer(sock: socket.socket) -> tuple[int, str]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read().decode()


def test_slow_unauthenticated_bodies_do_not_delay_webhooks(server: int) -> None:
    # Before: each refused request left its body to be drained before the
    # connection could be reused, and 16 bodies trickled a byte a second held
    # all 8 worker threads: /health and real webhooks timed out.
    url = f"http://127.0.0.1:{server}/postmark"
    stop = threading.Event()
    answers: list[int] = []
    closed: list[bool] = []
    waits: list[float] = []

    def read(sock: socket.socket) -> None:
        answers.append(_answer(sock)[0])
        try:
            closed.append(sock.recv(1) == b"")  # then the server hung up
        except OSError:
            closed.append(True)  # (or reset the connection)

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", server), timeout=15) as sock:
            sock.sendall(_head("Content-Length: 100000\r\n", auth=False) + b"{")
            reader = threading.Thread(target=read, args=(sock,))
            reader.start()
            try:
                while not stop.wait(1.0):
                    sock.sendall(b" ")  # a byte a second, for as long as the test runs
            except OSError:
                pass  # the server is gone: it stopped waiting for us
            reader.join(timeout=15)

    slow = [threading.Thread(target=trickle) for _ in range(16)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.5)  # all 16 connected and trickling
        for n in range(5):
            started = time.monotonic()
            response = requests.post(
                f"{url}/webhook",
                data=json.dumps({**load_webhook("bounce"), "ID": 900 + n}),
                auth=AUTH,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            waited = time.monotonic() - started
            waits.append(waited)
            assert response.status_code == 200
            assert waited < 2.0, f"a webhook waited {waited:.2f}s behind the slow peers"
            health = requests.get(f"{url}/health", timeout=10)
            assert health.status_code == 200
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=20)
    print(f"\nwebhooks behind 16 slow peers: slowest {max(waits):.3f}s of {len(waits)}")
    assert answers == [401] * 16  # refused at once, without waiting for the body
    assert closed == [True] * 16


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not a hex size
        b"5\r\nabcdefgh\r\n0\r\n\r\n",  # chunk longer than declared
        b"5\r\nabcde0\r\n\r\n",  # no CRLF after the data
        b"5\r\nab",  # cut short
        b"-5\r\nabcde\r\n0\r\n\r\n",  # negative size
        b"5;" + b"x" * 20000 + b"\r\nabcde\r\n0\r\n\r\n",  # endless chunk extension
    ],
)
def test_broken_chunked_framing_under_gunicorn_is_400(server: int, body: bytes) -> None:
    # Before: gunicorn's ChunkMissingTerminator, InvalidChunkSize and NoMoreData
    # escaped the body read: 4 of these 6 were 500s.
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(_head("Transfer-Encoding: chunked\r\n") + body)
        sock.shutdown(socket.SHUT_WR)
        status, text = _answer(sock)
    assert status == 400, text
    assert "Traceback" not in text
    # And the server still serves.
    ok = requests.post(
        f"http://127.0.0.1:{server}/postmark/webhook",
        data=BOUNCE,
        auth=AUTH,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert ok.status_code == 200
