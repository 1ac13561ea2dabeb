"""WSGI apps the receiver benchmark runs under gunicorn (``bench.receiver_apps:<name>``).

* ``ours``: the full receiver: basic auth, body parsed, typed event, three
  no-op plugins, inline dispatch; no event log or store (they would measure
  logging and SQLite, not the receiver).
* ``ours_journal``: the same in journal mode (``POSTMARK_DISPATCH=journal``):
  the raw event committed to SQLite before the 200, plugins run by the
  worker thread of the same process; the file is ``$BENCH_JOURNAL``.
* ``bare``: a Flask view that only parses the JSON.
* ``anymail``: django-anymail's Postmark tracking webhook in a minimal Django app
  with three no-op ``tracking`` signal receivers (built only when that name is
  imported).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request

USERNAME, PASSWORD = "bench", "bench-secret"  # fake credentials for loopback only


class _NoOp:
    """A plugin implementing the generic and the per-kind hooks, doing nothing."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"<NoOp {self.n}>"


def _noop_plugins() -> list[Any]:
    from postmark_kit.hookspecs import hookimpl

    class Plugin(_NoOp):
        @hookimpl
        def postmark_event(self, event: Any) -> None:
            return None

        @hookimpl
        def postmark_delivery(self, event: Any) -> None:
            return None

        @hookimpl
        def postmark_bounce(self, event: Any) -> None:
            return None

        @hookimpl
        def postmark_open(self, event: Any) -> None:
            return None

    return [Plugin(i) for i in range(3)]


def _ours(**settings: Any) -> Flask:
    from postmark_kit.receiver import create_app

    return create_app(
        {
            "POSTMARK_WEBHOOK_USERNAME": USERNAME,
            "POSTMARK_WEBHOOK_PASSWORD": PASSWORD,
            "POSTMARK_DISPATCH": "inline",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_LOG_EVENTS": False,
            "POSTMARK_EVENT_STORE": "",
            **settings,
        },
        plugins=_noop_plugins(),
    )


def _bare() -> Flask:
    app = Flask("bare")

    @app.post("/postmark/webhook")
    def webhook() -> tuple[str, int]:
        request.get_json()
        return "", 200

    return app


def _anymail() -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",  # noqa: S106 - loopback benchmark
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF="bench.receiver_apps",
        INSTALLED_APPS=["anymail"],
        MIDDLEWARE=[],
        ANYMAIL={"WEBHOOK_SECRET": f"{USERNAME}:{PASSWORD}"},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from anymail.signals import tracking
    from django.core.wsgi import get_wsgi_application

    # Three no-op receivers, as ours has three no-op plugins: each app hands every
    # event to three handlers (without any, anymail's events would go nowhere).
    for n in range(3):
        tracking.connect(_noop_receiver, weak=False, dispatch_uid=f"bench-noop-{n}")
    return get_wsgi_application()


def _noop_receiver(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    return None


urlpatterns: list[Any] = []


def __getattr__(name: str) -> Any:
    """Build only the app gunicorn asks for (Django must not be configured otherwise)."""
    global urlpatterns
    if name == "ours":
        return _ours()
    if name == "ours_journal":
        return _ours(POSTMARK_DISPATCH="journal", POSTMARK_JOURNAL=os.environ["BENCH_JOURNAL"])
    if name == "bare":
        return _bare()
    if name == "anymail":
        app = _anymail()
        from django.urls import include, path

        urlpatterns = [path("anymail/", include("anymail.urls"))]
        return app
    raise AttributeError(name)
