"""Plugins run inside the host app's application context in every dispatch mode, and reach the
host app and its whole config (``postmark_configure(app=...)``)."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask, current_app, g

from postmark_kit import hookimpl
from postmark_kit.cli import main
from postmark_kit.events import parse_event
from postmark_kit.receiver import PostmarkReceiver, Webhook, worker_state
from postmark_kit.receiver.journal import JournalDispatcher
from tests.conftest import load_webhook
from tests.receiver import _host_app
from tests.receiver._receiver_support import AUTH_CONFIG, DURABLE, clean_env, post  # noqa: F401

BOUNCE = load_webhook("bounce")
REPLAY = ("events", "replay", "--journal")


class AppProbe:
    """Records, per event, the app it ran under and a host setting outside POSTMARK_*."""

    plugin_name = "app-probe"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.configured: list[tuple[Flask, str, Any]] = []
        self.unconfigured: list[Any] = []

    @hookimpl
    def postmark_configure(self, config: dict[str, Any], client: Any, app: Flask) -> None:
        # In the app's context too: current_app works here, as in the event hooks.
        self.configured.append((app, current_app.name, app.config["DATABASE_URL"]))

    @hookimpl
    def postmark_unconfigure(self, app: Flask | None) -> None:
        self.unconfigured.append(app)

    @hookimpl
    def postmark_bounce(self, event: Any) -> None:
        g.touched = True  # an app-context global: fails outside any context
        self.seen.append((current_app.name, current_app.config.get("DATABASE_URL")))


def host(**config: Any) -> Flask:
    app = Flask("host-app")
    app.config.update(DATABASE_URL="postgresql://host/db", POSTMARK_LOAD_ENTRYPOINTS=False)
    app.config.update(AUTH_CONFIG)
    app.config.update(config)
    return app


def test_configure_gets_the_app_and_its_whole_config() -> None:
    probe = AppProbe()
    app = host()
    PostmarkReceiver(app, plugins=[probe])
    assert probe.configured == [(app, "host-app", "postgresql://host/db")]
    PostmarkReceiver.shutdown(app)
    assert probe.unconfigured == [app]


def test_old_lifecycle_signatures_still_work() -> None:
    calls: list[str] = []

    class Old:
        @hookimpl
        def postmark_configure(self, config: dict[str, Any], client: Any) -> None:
            calls.append("configure")

        @hookimpl
        def postmark_unconfigure(self, config: dict[str, Any]) -> None:
            calls.append("unconfigure")

    app = host()
    PostmarkReceiver(app, plugins=[Old()])
    PostmarkReceiver.shutdown(app)
    assert calls == ["configure", "unconfigure"]


def test_inline_plugins_run_in_the_app_context() -> None:
    probe = AppProbe()
    app = host()
    PostmarkReceiver(app, plugins=[probe])
    try:
        assert post(app.test_client(), BOUNCE).status_code == 200
    finally:
        PostmarkReceiver.shutdown(app)
    assert probe.seen == [("host-app", "postgresql://host/db")]


def test_journal_worker_runs_plugins_in_the_app_context(tmp_path: Path) -> None:
    probe = AppProbe()
    app = host(
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_JOURNAL_POLL=0.01,
    )
    PostmarkReceiver(app, plugins=[probe])
    try:
        assert post(app.test_client(), BOUNCE).status_code == 200
        deadline = time.monotonic() + 10
        while not probe.seen:
            assert time.monotonic() < deadline, "the journal worker never ran the plugin"
            time.sleep(0.01)
        dispatcher = PostmarkReceiver.state_for(app).dispatcher
        assert isinstance(dispatcher, JournalDispatcher)
    finally:
        PostmarkReceiver.shutdown(app)
    # The worker thread had no context of its own: the receiver pushed the app's.
    assert probe.seen == [("host-app", "postgresql://host/db")]


def test_journal_drain_outside_any_context(tmp_path: Path) -> None:
    probe = AppProbe()
    app = host(
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_JOURNAL_WORKER=False,
    )
    PostmarkReceiver(app, plugins=[probe])
    try:
        post(app.test_client(), BOUNCE)
        dispatcher = PostmarkReceiver.state_for(app).dispatcher
        assert isinstance(dispatcher, JournalDispatcher)
        assert dispatcher.drain() == 1
    finally:
        PostmarkReceiver.shutdown(app)
    assert probe.seen == [("host-app", "postgresql://host/db")]


def test_replay_now_runs_the_host_apps_plugins_in_its_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    # The host app (factory, loaded by name) journals an event; nobody dispatches it.
    for key, value in {
        "HOST_POSTMARK_DISPATCH": "journal",
        "HOST_POSTMARK_JOURNAL": journal,
        "HOST_POSTMARK_JOURNAL_WORKER": "false",
    }.items():
        monkeypatch.setenv(key, value)
    writer = _host_app.create_app()
    assert post(writer.test_client(), BOUNCE).status_code == 200
    PostmarkReceiver.shutdown(writer)
    _host_app.SEEN.clear()
    monkeypatch.setenv("POSTMARK_FLASK_APP", "tests.receiver._host_app:create_app")
    result = CliRunner().invoke(
        main, ["events", "replay", "--journal", journal, "--id", "1", "--now"]
    )
    assert result.exit_code == 0, result.output
    assert "dispatched 1" in result.output
    assert [("host-app", "sqlite:///host.db", BOUNCE["ID"])] == _host_app.SEEN


def test_replay_now_refuses_a_host_app_on_another_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    monkeypatch.setenv("HOST_POSTMARK_DISPATCH", "journal")
    monkeypatch.setenv("HOST_POSTMARK_JOURNAL", journal)
    monkeypatch.setenv("HOST_POSTMARK_JOURNAL_WORKER", "false")
    writer = _host_app.create_app()
    post(writer.test_client(), BOUNCE)
    PostmarkReceiver.shutdown(writer)
    monkeypatch.setenv("HOST_POSTMARK_JOURNAL", str(tmp_path / "other.sqlite3"))
    monkeypatch.setenv("POSTMARK_FLASK_APP", "tests.receiver._host_app:create_app")
    result = CliRunner().invoke(
        main, ["events", "replay", "--journal", journal, "--id", "1", "--now"]
    )
    assert result.exit_code == 2
    assert "does not dispatch from" in result.output and "Traceback" not in result.output


def _webhook() -> tuple[Any, Webhook]:
    body = __import__("json").dumps(BOUNCE).encode()
    webhook = Webhook(
        body=body,
        payload=BOUNCE,
        dedupe_key=f"bounce:{BOUNCE['ID']}",
        kind="bounce",
        received_at=datetime.now(UTC),
    )
    return parse_event(BOUNCE), webhook


def test_worker_state_of_a_host_app_runs_in_its_context() -> None:
    from postmark_kit.receiver.dispatch import call_event_hooks

    _host_app.SEEN.clear()
    state = worker_state({"POSTMARK_FLASK_APP": "tests.receiver._host_app:create_app"})
    try:
        assert state.app is not None and state.app.name == "host-app"
        event, webhook = _webhook()
        result = call_event_hooks(state.plugin_manager, event, state.client, webhook)
        assert result.ok
    finally:
        state.close()
    assert [("host-app", "sqlite:///host.db", BOUNCE["ID"])] == _host_app.SEEN


def test_worker_state_without_a_host_app_has_a_context_too() -> None:
    from postmark_kit.receiver.dispatch import call_event_hooks

    _host_app.SEEN.clear()
    state = worker_state(
        {
            "POSTMARK_PLUGINS": "tests.receiver._host_app:ContextProbe",
            "POSTMARK_LOAD_ENTRYPOINTS": "false",
            "DATABASE_URL": "sqlite:///worker.db",
        }
    )
    try:
        event, webhook = _webhook()
        assert call_event_hooks(state.plugin_manager, event, state.client, webhook).ok
    finally:
        state.close()
    assert [("postmark_kit.worker", "sqlite:///worker.db", BOUNCE["ID"])] == _host_app.SEEN


# -- a Celery worker (the task run in this process, against a real redis-server) ----------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("celery")
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *(*DURABLE, "--dir", str(tmp_path_factory.mktemp("redis"))),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    conn = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "no redis-server"
                time.sleep(0.05)
        yield url
    finally:
        conn.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow  # Celery (a worker subprocess and redis)
def test_celery_task_runs_the_host_apps_plugins_in_its_context(redis_url: str) -> None:
    import redis

    from postmark_kit.receiver.celery_dispatch import (
        TASK_NAME,
        make_celery,
        redis_durability_problems,
        webhook_message,
    )

    with redis.Redis.from_url(redis_url, socket_timeout=5) as conn:
        assert redis_durability_problems(conn) == []  # Redis as docs/celery.md requires it

    _host_app.SEEN.clear()
    celery_app = make_celery(
        {
            "POSTMARK_CELERY_BROKER": redis_url,
            "POSTMARK_CELERY_KEY_PREFIX": "app-context-test",
            "POSTMARK_FLASK_APP": "tests.receiver._host_app:create_app",
        }
    )
    try:
        _event, webhook = _webhook()
        outcome = celery_app.tasks[TASK_NAME].apply(args=[webhook_message(webhook)])
        assert outcome.successful(), outcome.traceback
    finally:
        celery_app.postmark_worker.close()
        celery_app.close()
    assert [("host-app", "sqlite:///host.db", BOUNCE["ID"])] == _host_app.SEEN


def test_a_plugin_refusing_its_settings_leaves_nothing_running(tmp_path: Path) -> None:
    import threading

    class Picky:
        @hookimpl
        def postmark_configure(self, app: Flask) -> None:
            raise ValueError("CRM_URL is not set")

    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "postmark-journal-worker"}

    before = workers()
    app = host(
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_SERVER_TOKEN="server-token-0123",
    )
    with pytest.raises(ValueError, match="CRM_URL"):
        PostmarkReceiver(app, plugins=[Picky()])
    with pytest.raises(RuntimeError, match="init_app was not called"):
        PostmarkReceiver.state_for(app)
    assert workers() <= before  # the journal worker it started is stopped


def test_worker_state_picks_a_receiver_by_name() -> None:
    app = host()
    PostmarkReceiver(app)
    PostmarkReceiver(app, name="billing", config={"POSTMARK_URL_PREFIX": "/billing"})
    try:
        with pytest.raises(RuntimeError, match="pass name="):
            worker_state({}, app=app)
        assert worker_state({"POSTMARK_RECEIVER": "billing"}, app=app).name == "billing"
    finally:
        PostmarkReceiver.shutdown(app)
