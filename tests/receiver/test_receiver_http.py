"""The receiver under real WSGI servers on 127.0.0.1, over real HTTP."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from postmark_kit.plugins import EventStore
from tests.conftest import ROOT, load_webhook
from tests.receiver._receiver_support import (  # noqa: F401
    AUTH,
    KINDS,
    Recorder,
    clean_env,
    die_with_parent,
    make_app,
    store_path,
)


@pytest.fixture
def served(make_app: Any) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    app = make_app(plugins=[recorder])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recorder
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_every_type_over_http(served: tuple[str, Recorder], store_path: Path) -> None:
    base, recorder = served
    with requests.Session() as http:
        for name in KINDS:
            response = http.post(
                f"{base}/postmark/webhook",
                json=load_webhook(name),
                auth=AUTH,
                headers={"X-PM-Webhook-Trace-Id": f"http-{name}"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
        denied = http.post(f"{base}/postmark/webhook", json={}, timeout=10)
        assert denied.status_code == 401 and "WWW-Authenticate" in denied.headers
        bad = http.post(
            f"{base}/postmark/webhook",
            data=b"{",
            auth=AUTH,
            timeout=10,
            headers={"Content-Type": "application/json"},
        )
        assert bad.status_code == 400
    assert recorder.hooks().count("postmark_event") == len(KINDS)
    store = EventStore(store_path, create=False)
    assert store.count() == len(KINDS)
    store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_healthy(proc: subprocess.Popen[bytes], url: str, what: str) -> None:
    """Poll ``<url>/health`` until it answers 200; fail with the server's stderr if it dies."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/health", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            pytest.fail(f"{what} did not start: {err}")
        time.sleep(0.1)


def _wait_for_kinds(store: Path, kinds: list[str], timeout: float = 20) -> list[str]:
    """The standalone app journals, then a worker fills the store: wait for it."""
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        if store.exists():
            events = EventStore(store, create=False)
            found = [e.kind for e in events.query()]
            events.close()
            if found == kinds:
                break
        time.sleep(0.05)
    return found


@pytest.mark.slow
def test_gunicorn_serves_the_wsgi_module(tmp_path: Path) -> None:
    """receiver/wsgi.py under gunicorn with receiver/gunicorn.conf.py, as deployed."""
    pytest.importorskip("gunicorn")
    port = _free_port()
    store = tmp_path / "events.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POSTMARK_")},
        "POSTMARK_WEBHOOK_USERNAME": AUTH[0],
        "POSTMARK_WEBHOOK_PASSWORD": AUTH[1],
        "POSTMARK_EVENT_STORE": str(store),
        "POSTMARK_JOURNAL": str(tmp_path / "journal.sqlite3"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
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
        url = f"http://127.0.0.1:{port}/postmark"
        _wait_until_healthy(proc, url, "gunicorn")
        body = json.dumps(load_webhook("inbound"))
        for _ in range(2):  # a Postmark retry: stored once
            response = requests.post(
                f"{url}/webhook",
                data=body,
                auth=AUTH,
                headers={"Content-Type": "application/json", "X-PM-Webhook-Trace-Id": "g-1"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
        assert _wait_for_kinds(store, ["inbound"]) == ["inbound"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.slow
def test_serve_command_runs_gunicorn(tmp_path: Path) -> None:
    """``postmark-kit serve`` starts a production server that answers webhooks."""
    pytest.importorskip("gunicorn")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POSTMARK_")},
        "POSTMARK_WEBHOOK_USERNAME": AUTH[0],
        "POSTMARK_WEBHOOK_PASSWORD": AUTH[1],
    }
    store = tmp_path / "serve.sqlite3"
    cmd = [
        sys.executable,
        "-m",
        "postmark_kit.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--event-store",
        str(store),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        url = f"http://127.0.0.1:{port}/postmark"
        _wait_until_healthy(proc, url, "serve")
        response = requests.post(
            f"{url}/webhook", json=load_webhook("click"), auth=AUTH, timeout=10
        )
        assert response.status_code == 200
        assert _wait_for_kinds(store, ["click"]) == ["click"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def test_serve_without_gunicorn_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from postmark_kit.cli import main

    monkeypatch.setitem(sys.modules, "gunicorn.app.base", None)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "pip install 'postmark-kit[server]'" in result.output


def test_serve_with_bad_settings_fails_before_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from postmark_kit.cli import main

    monkeypatch.setenv("POSTMARK_FAILURE_STATUS", "404")
    result = CliRunner().invoke(main, ["serve", "--event-store", ""])
    assert result.exit_code == 2
    assert "POSTMARK_FAILURE_STATUS" in result.output
