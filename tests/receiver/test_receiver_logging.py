"""What the standalone receiver logs under gunicorn (``serve`` and receiver/gunicorn.conf.py):
one line per event, plugin errors with time, level and pid, the access log on stdout, each
line as it happens; and no gunicorn control socket in $HOME."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import requests

from tests.conftest import ROOT, load_webhook
from tests.receiver._receiver_support import AUTH, die_with_parent

pytest.importorskip("gunicorn")

STAMP = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\]"
EVENT_LINE = re.compile(STAMP + r" \[INFO\] postmark_kit\.events: postmark (\w+) ")
PLUGIN_ERROR = re.compile(
    STAMP + r" \[ERROR\] postmark_kit\.receiver(?:\.journal)?: plugin broken-on-click failed"
)
ACCESS = re.compile(r'"POST /postmark/webhook HTTP/1\.1" (\d{3})')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Output:
    """A process's stdout and stderr, read line by line as they come (not at exit)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, lines: list[str], pattern: re.Pattern[str], count: int) -> list[str]:
        deadline = time.monotonic() + 20
        while True:
            found = [line for line in list(lines) if pattern.search(line)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTMARK_", "GUNICORN_")) and k != "XDG_RUNTIME_DIR"
    }
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        POSTMARK_WEBHOOK_USERNAME=AUTH[0],
        POSTMARK_WEBHOOK_PASSWORD=AUTH[1],
        POSTMARK_LOG_EVENTS="true",
        POSTMARK_LOAD_ENTRYPOINTS="false",
        POSTMARK_PLUGINS="tests.receiver._host_app:BrokenOnClick",
        POSTMARK_EVENT_STORE=str(tmp_path / "events.sqlite3"),
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_JOURNAL_RETRY_BASE="30",
    )
    env.pop("PYTHONUNBUFFERED", None)  # line by line must not depend on it
    env.update(extra)
    return env


@contextmanager
def running(cmd: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[Output]:
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )
    output = Output(proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = f"http://127.0.0.1:{port}/postmark/health"
                if requests.get(health, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + "\n".join(output.err[-30:]))
            time.sleep(0.1)
        yield output
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _exercise(port: int, output: Output) -> None:
    """Two events and a failing plugin; every line is read while the server still runs."""
    url = f"http://127.0.0.1:{port}/postmark/webhook"
    with requests.Session() as http:
        statuses = [
            http.post(url, json=load_webhook(name), auth=AUTH, timeout=10).status_code
            for name in ("bounce", "click")
        ]
    events = output.wait_for(output.err, EVENT_LINE, 2)
    assert [EVENT_LINE.search(line).group(2) for line in events] == ["bounce", "click"], (  # type: ignore[union-attr]
        output.err
    )
    errors = output.wait_for(output.err, PLUGIN_ERROR, 1)
    assert errors, output.err
    assert "RuntimeError: the CRM is down" in "\n".join(output.err)
    access = output.wait_for(output.out, ACCESS, 2)
    assert [ACCESS.search(line).group(1) for line in access] == [str(s) for s in statuses]  # type: ignore[union-attr]
    assert not any(EVENT_LINE.search(line) for line in output.out)  # app logs: stderr only
    # The worker's pid, not the master's: the line comes from the process that ran the plugin.
    assert EVENT_LINE.search(events[0]).group(1) == PLUGIN_ERROR.search(errors[0]).group(1)  # type: ignore[union-attr]


@pytest.mark.slow  # a server subprocess (postmark-kit serve)
def test_serve_logs_events_plugin_errors_and_access(tmp_path: Path) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "postmark_kit.cli", "serve", "--port", str(port)]
    cmd += ["--workers", "1", "--dispatch", "inline", "--log-level", "warning"]
    env = _env(tmp_path)
    with running(cmd, env, tmp_path, port) as output:
        _exercise(port, output)
    assert not (Path(env["HOME"]) / ".gunicorn").exists()


@pytest.mark.slow  # gunicorn
def test_shipped_gunicorn_config_logs_events_plugin_errors_and_access(tmp_path: Path) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-c", "receiver/gunicorn.conf.py", "receiver.wsgi:app"]
    env = _env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    with running(cmd, env, ROOT, port) as output:
        _exercise(port, output)  # journal mode: the worker thread logs the failure
    assert not (Path(env["HOME"]) / ".gunicorn").exists()
