"""The simulator's webhooks delivered into *your* Flask app, in process (no server, no socket).

:class:`AppWebhooks` points every webhook of a :class:`~.server.FakePostmark`
(bounces, deliveries, opens, clicks, spam complaints, subscription changes,
inbound mail) at the receiver mounted in your app and delivers them through the
app's WSGI callable, so "signup sends mail, the address hard-bounces, my plugin
reacts" is a plain unit test::

    hooks = AppWebhooks(fake, app)          # or the postmark_webhooks_into fixture
    app.test_client().post("/signup", data={"email": HARD_BOUNCE_ADDRESS})
    hooks.deliver()                         # the bounce reaches your plugins now

:func:`post_webhook` posts one payload (see :mod:`.payloads`) into an app's
receiver the way Postmark would, without a simulator.

The receiver's URL and credentials are read from the app's ``POSTMARK_*``
settings (``POSTMARK_URL_PREFIX``, ``POSTMARK_WEBHOOK_USERNAME``/``_PASSWORD``,
``POSTMARK_WEBHOOK_SECRET_HEADER``/``_VALUE``); pass ``path``/``auth``/``headers``
for a receiver configured otherwise.  Only the app's config is read: this module
does not import the receiver.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import quote, urlsplit

import requests
from werkzeug.test import Client, TestResponse

if TYPE_CHECKING:
    from flask import Flask

    from .hooks import Delivery
    from .server import FakePostmark

__all__ = ["FROM_CONFIG", "AppWebhooks", "post_webhook", "receiver_webhook"]


class _FromConfig:
    def __repr__(self) -> str:
        return "FROM_CONFIG"


#: Default of ``auth``/``headers``: whatever the app's ``POSTMARK_*`` settings require.
FROM_CONFIG: Final = _FromConfig()

#: Every trigger Postmark's webhooks have, all on (bounce and complaint dumps included).
ALL_TRIGGERS: Final[Mapping[str, Mapping[str, bool]]] = {
    "Open": {"Enabled": True, "PostFirstOpenOnly": False},
    "Click": {"Enabled": True},
    "Delivery": {"Enabled": True},
    "Bounce": {"Enabled": True, "IncludeContent": True},
    "SpamComplaint": {"Enabled": True, "IncludeContent": True},
    "SubscriptionChange": {"Enabled": True},
}

_HOSTS = itertools.count(1)


def receiver_webhook(
    app: Flask,
    *,
    path: str | None = None,
    auth: tuple[str, str] | _FromConfig | None = FROM_CONFIG,
    headers: Mapping[str, str] | _FromConfig | None = FROM_CONFIG,
) -> tuple[str, tuple[str, str] | None, dict[str, str]]:
    """Where the app's receiver takes webhooks, and what it wants to see: (path, auth, headers).

    The path is ``POSTMARK_URL_PREFIX`` + ``/webhook`` (the endpoint taking every kind).
    """
    config = app.config
    if path is None:
        prefix = str(config.get("POSTMARK_URL_PREFIX", "/postmark") or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        path = f"{prefix}/webhook"
    if isinstance(auth, _FromConfig):
        user = config.get("POSTMARK_WEBHOOK_USERNAME")
        password = config.get("POSTMARK_WEBHOOK_PASSWORD")
        auth = (str(user), str(password)) if user and password else None
    if isinstance(headers, _FromConfig):
        name = config.get("POSTMARK_WEBHOOK_SECRET_HEADER")
        value = config.get("POSTMARK_WEBHOOK_SECRET_VALUE")
        headers = {str(name): str(value)} if name and value else {}
    return path, auth, dict(headers or {})


def post_webhook(
    app: Flask,
    payload: Mapping[str, Any],
    *,
    path: str | None = None,
    auth: tuple[str, str] | _FromConfig | None = FROM_CONFIG,
    headers: Mapping[str, str] | _FromConfig | None = FROM_CONFIG,
    trace_id: str | None = None,
    remote_addr: str = "127.0.0.1",
) -> TestResponse:
    """POST ``payload`` into the app's receiver as Postmark would; returns the response.

    ``trace_id`` sets ``X-PM-Webhook-Trace-Id`` (the receiver's dedupe key when
    present: post twice with one id to test a Postmark retry).
    """
    path, auth, extra = receiver_webhook(app, path=path, auth=auth, headers=headers)
    sent = {"Content-Type": "application/json", **extra}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        sent["Authorization"] = f"Basic {token}"
    if trace_id is not None:
        sent["X-PM-Webhook-Trace-Id"] = trace_id
    return Client(app).post(
        path,
        data=json.dumps(payload).encode(),
        headers=sent,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


class AppWebhooks:
    """A :class:`FakePostmark`'s webhooks, all delivered into ``app`` in process.

    On creation it configures the simulator as you would configure Postmark: one
    webhook with every trigger per sending stream (``streams``, default: every
    stream that is not inbound) and the server's inbound hook URL (``inbound``),
    all pointing at the app's receiver with its credentials.  Webhooks then wait
    until :meth:`deliver` (or ``fake.wait_for_webhooks()``) posts them into the
    app, on the calling thread, in the order they happened.  :meth:`close` (or
    leaving the ``with`` block) removes that configuration again.
    """

    def __init__(
        self,
        fake: FakePostmark,
        app: Flask,
        *,
        path: str | None = None,
        auth: tuple[str, str] | _FromConfig | None = FROM_CONFIG,
        headers: Mapping[str, str] | _FromConfig | None = FROM_CONFIG,
        streams: Sequence[str] | None = None,
        inbound: bool = True,
        remote_addr: str = "127.0.0.1",
        timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.app = app
        self.path, self.auth, self.headers = receiver_webhook(
            app, path=path, auth=auth, headers=headers
        )
        self.timeout = timeout
        #: The made-up origin the simulator posts to (nothing listens there).
        self.origin = f"http://flask-app-{next(_HOSTS)}.postmark-kit.test"
        self.url = self.origin + self.path
        self._webhook_ids: list[int] = []
        self._inbound = inbound
        self._closed = False
        fake.dispatcher.mount(self.origin, app, environ={"REMOTE_ADDR": remote_addr})
        try:
            self._configure(streams)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"AppWebhooks(app={self.app.name!r}, url={self.url!r})"

    # -- the simulator's side: configured through its (Postmark's) API --------

    def _api(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(
            method,
            self.fake.base_url + path,
            json=body,
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": self.fake.server_token,
            },
            timeout=self.timeout,
        )
        if resp.status_code != 200:
            raise RuntimeError(f"simulator refused {method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    def _configure(self, streams: Sequence[str] | None) -> None:
        if streams is None:
            found = self._api("GET", "/message-streams?MessageStreamType=All")["MessageStreams"]
            streams = [s["ID"] for s in found if s["MessageStreamType"] != "Inbound"]
        auth = {"Username": self.auth[0], "Password": self.auth[1]} if self.auth else None
        for stream in streams:
            body: dict[str, Any] = {
                "Url": self.url,
                "MessageStream": stream,
                "HttpHeaders": [{"Name": k, "Value": v} for k, v in self.headers.items()],
                "Triggers": ALL_TRIGGERS,
            }
            if auth:
                body["HttpAuth"] = auth
            self._webhook_ids.append(self._api("POST", "/webhooks", body)["ID"])
        if self._inbound:
            # Postmark's inbound hook has no header or auth settings: credentials go in the URL.
            url = self.url
            if self.auth:
                user, password = (quote(part, safe="") for part in self.auth)
                url = url.replace("://", f"://{user}:{password}@", 1)
            self._api("PUT", "/server", {"InboundHookUrl": url})

    # -- what tests call ----------------------------------------------------

    def deliver(self) -> list[Delivery]:
        """Post every webhook the simulator has for the app into it, now; returns them.

        Waits for the simulator's HTTP webhooks too (``fake.wait_for_webhooks``).
        A webhook a plugin's callback causes is delivered in the same call.
        """
        delivered = self.fake.dispatcher.deliver_in_process()
        self.fake.wait_for_webhooks(timeout=self.timeout)
        return [d for d in delivered if self._mine(d.url)]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook for the app so far (delivered or pending), oldest first."""
        return [d for d in self.fake.deliveries if self._mine(d.url)]

    def _mine(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        return origin == self.origin

    def post(self, payload: Mapping[str, Any], *, trace_id: str | None = None) -> TestResponse:
        """POST one payload (e.g. ``payloads.bounce(...)``) straight into the app's receiver."""
        return post_webhook(
            self.app,
            payload,
            path=self.path,
            auth=self.auth,
            headers=self.headers,
            trace_id=trace_id,
        )

    def close(self) -> None:
        """Remove the simulator's webhooks for the app; undelivered ones are dropped."""
        if self._closed:
            return
        self._closed = True
        self.fake.dispatcher.unmount(self.origin)
        # RuntimeError: reset() since, or the simulator stopped; nothing left to remove.
        for webhook_id in self._webhook_ids:
            with contextlib.suppress(RuntimeError, requests.RequestException):
                self._api("DELETE", f"/webhooks/{webhook_id}")
        if self._inbound:
            with contextlib.suppress(RuntimeError, requests.RequestException):
                if self._mine(self._api("GET", "/server").get("InboundHookUrl") or "-"):
                    self._api("PUT", "/server", {"InboundHookUrl": ""})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
