"""Receiver test support: a clean POSTMARK_* environment, an app factory, a recording plugin.

Test modules import the fixtures they use from here (``tests.receiver._receiver_support``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from postmark_kit import hookimpl
from postmark_kit.receiver import PostmarkReceiver, create_app
from tests.conftest import test_file

WEBHOOK = "/postmark/webhook"
KINDS = ("bounce", "delivery", "open", "click", "spam_complaint", "subscription_change", "inbound")
AUTH = ("postmark", "s3cret-pass")
AUTH_CONFIG = {"POSTMARK_WEBHOOK_USERNAME": AUTH[0], "POSTMARK_WEBHOOK_PASSWORD": AUTH[1]}
#: How docs/celery.md requires Redis to run (AOF, fsync every second, no eviction):
#: every test's redis-server uses it.
DURABLE = ("--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")


class Recorder:
    """Records every event hook call: (hook name, event, client, webhook)."""

    def __init__(self, name: str = "recorder") -> None:
        self.plugin_name = name
        self.calls: list[tuple[str, Any, Any, Any]] = []
        self.configured: dict[str, Any] | None = None
        self.unconfigured = False

    def hooks(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _record(self, hook: str, event: Any, client: Any, webhook: Any) -> None:
        self.calls.append((hook, event, client, webhook))

    @hookimpl
    def postmark_configure(self, config: dict[str, Any]) -> None:
        self.configured = config

    @hookimpl
    def postmark_unconfigure(self) -> None:
        self.unconfigured = True

    @hookimpl
    def postmark_event(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_event", event, client, webhook)

    @hookimpl
    def postmark_bounce(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_bounce", event, client, webhook)

    @hookimpl
    def postmark_delivery(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_delivery", event, client, webhook)

    @hookimpl
    def postmark_open(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_open", event, client, webhook)

    @hookimpl
    def postmark_click(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_click", event, client, webhook)

    @hookimpl
    def postmark_spam_complaint(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_spam_complaint", event, client, webhook)

    @hookimpl
    def postmark_subscription_change(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_subscription_change", event, client, webhook)

    @hookimpl
    def postmark_inbound(self, event: Any, client: Any, webhook: Any) -> None:
        self._record("postmark_inbound", event, client, webhook)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, receiver_defaults_dir: Path) -> None:
    """No POSTMARK_* variable of the developer's shell leaks into a test.

    The standalone app's journal and event store go to a temporary folder, never
    the checkout (a file per test, not ``tmp_path``: see ``tests.conftest.test_file``).
    """
    for key in list(os.environ):
        if key.startswith("POSTMARK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("POSTMARK_JOURNAL", test_file(receiver_defaults_dir, "env-journal.sqlite3"))
    monkeypatch.setenv(
        "POSTMARK_EVENT_STORE", test_file(receiver_defaults_dir, "env-events.sqlite3")
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(store_path: Path) -> Iterator[AppFactory]:
    """create_app with a temporary store, inline dispatch unless asked; every app shut down after.

    Inline, so a test sees the plugins' effects when the response is back; the
    journal tests ask for ``POSTMARK_DISPATCH=journal`` (file next to the store).
    """
    apps: list[Flask] = []

    def factory(
        config: Mapping[str, Any] | None = None, *, plugins: Any = (), client: Any = None
    ) -> Flask:
        settings: dict[str, Any] = {
            "POSTMARK_EVENT_STORE": str(store_path),
            "POSTMARK_DISPATCH": "inline",
            "POSTMARK_JOURNAL": str(store_path.with_name("journal.sqlite3")),
            **AUTH_CONFIG,
        }
        settings.update(config or {})
        app = create_app(settings, plugins=plugins, client=client)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        PostmarkReceiver.shutdown(app)


@pytest.fixture(scope="module")
def shared_recorder() -> Recorder:
    """One recorder for a module's shared apps; take it through :func:`recorder`."""
    return Recorder()


@pytest.fixture
def recorder(shared_recorder: Recorder) -> Recorder:
    """The module's shared recorder, emptied for this test."""
    shared_recorder.calls.clear()
    return shared_recorder


@pytest.fixture(scope="module")
def shared_app(
    tmp_path_factory: pytest.TempPathFactory, shared_recorder: Recorder
) -> Iterator[Callable[..., Flask]]:
    """``make_app``'s app, built once per module and settings, for tests that only send requests.

    Building an app costs 6 to 10 ms of CPU (Flask, werkzeug's rules, pluggy, the
    store's schema); hundreds of tests only POST to one of a few configurations.
    ``shared_app(config, recorded=True)`` registers the module's recorder (use
    the ``recorder`` fixture, emptied per test).  Inline dispatch keeps no
    state a later request depends on (the store ignores a repeated event), so
    a test cannot tell whether it got the app first.  A test that configures
    the app after it is built, reads the store or the logs of its start, or
    changes the environment builds its own with ``make_app``.
    """
    apps: dict[str, Flask] = {}

    def factory(config: Mapping[str, Any] | None = None, *, recorded: bool = False) -> Flask:
        key = repr((sorted((config or {}).items()), recorded))
        if key not in apps:
            folder = tmp_path_factory.mktemp("shared-app")
            settings: dict[str, Any] = {
                "POSTMARK_EVENT_STORE": str(folder / "events.sqlite3"),
                "POSTMARK_DISPATCH": "inline",
                "POSTMARK_JOURNAL": str(folder / "journal.sqlite3"),
                **AUTH_CONFIG,
                **(config or {}),
            }
            if settings["POSTMARK_DISPATCH"] != "inline":
                raise ValueError("shared apps dispatch inline: build a journal app with make_app")
            with pytest.MonkeyPatch.context() as env:
                for name in [n for n in os.environ if n.startswith("POSTMARK_")]:
                    env.delenv(name)
                plugins = [shared_recorder] if recorded else []
                apps[key] = create_app(settings, plugins=plugins)
        return apps[key]

    yield factory
    for app in apps.values():
        PostmarkReceiver.shutdown(app)


def post(
    client: FlaskClient,
    payload: Any,
    *,
    url: str = WEBHOOK,
    auth: tuple[str, str] | None = AUTH,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    **kw: Any,
) -> Any:
    """POST a payload (dict/list -> JSON; str/bytes as is) like Postmark does."""
    data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(
        url, data=data, content_type=content_type, auth=auth, headers=dict(headers or {}), **kw
    )


def die_with_parent() -> None:
    """``preexec_fn`` for servers a test starts: SIGTERM them when the test process dies.

    A test run killed half-way (a timeout, ^C) then leaves no server behind;
    gunicorn's workers follow their master.  Linux only; elsewhere a no-op.
    """
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextmanager
def serve_wsgi(app: Any) -> Iterator[int]:
    """``app`` under werkzeug's threaded server on 127.0.0.1 (a real peer, real framing).

    Yields the port; the server is shut down on exit.
    """
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
