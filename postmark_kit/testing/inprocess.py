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

The receiver's URL and credentials are read from its state on the app (its URL
prefix, ``POSTMARK_WEBHOOK_USERNAME``/``_PASSWORD``,
``POSTMARK_WEBHOOK_SECRET_HEADER``/``_VALUE``); ``receiver=`` picks one of
several receivers by name, and ``path``/``auth``/``headers`` override.  The
receiver package is imported only then: the simulator itself never needs it.
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


#: Default of ``auth``/``headers``: whatever the app's receiver requires.
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
#: Delivery rounds per ``deliver()``: plugins causing webhooks causing plugins...
_MAX_ROUNDS = 100


def receiver_webhook(
    app: Flask,
    *,
    receiver: str | None = None,
    path: str | None = None,
    auth: tuple[str, str] | _FromConfig | None = FROM_CONFIG,
    headers: Mapping[str, str] | _FromConfig | None = FROM_CONFIG,
) -> tuple[str, tuple[str, str] | None, dict[str, str]]:
    """Where the app's receiver takes webhooks, and what it wants to see: (path, auth, headers).

    Read from the receiver's state (:meth:`PostmarkReceiver.state_for
    <postmark_kit.receiver.PostmarkReceiver.state_for>`; ``receiver`` names one
    of several): its URL prefix + ``/webhook`` (the endpoint taking every kind),
    its basic-auth credentials and its secret header.  Explicit ``path``,
    ``auth`` and ``headers`` win.
    """
    if path is None or isinstance(auth, _FromConfig) or isinstance(headers, _FromConfig):
        # Only here, when asked about an app's receiver: the simulator never needs it.
        from ..receiver import PostmarkReceiver

        state = PostmarkReceiver.state_for(app, receiver)
        config = state.config
        if path is None:
            path = f"{state.url_prefix}/webhook"
        if isinstance(auth, _FromConfig):
            user, password = config.webhook_username, config.webhook_password
            auth = (user, password) if user is not None and password is not None else None
        if isinstance(headers, _FromConfig):
            name, value = config.secret_header, config.secret_value
            headers = {name: value} if name is not None and value is not None else {}
    return path, auth, dict(headers or {})


def post_webhook(
    app: Flask,
    payload: Mapping[str, Any],
    *,
    receiver: str | None = None,
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
    path, auth, extra = receiver_webhook(
        app, receiver=receiver, path=path, auth=auth, headers=headers
    )
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
        receiver: str | None = None,
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
        self.receiver = receiver
        self.path, self.auth, self.headers = receiver_webhook(
            app, receiver=receiver, path=path, auth=auth, headers=headers
        )
        self.timeout = timeout
        #: The made-up origin the simulator posts to (nothing listens there).
        self.origin = f"http://flask-app-{next(_HOSTS)}.postmark-kit.test"
        self.url = self.origin + self.path
        self._webhook_ids: list[int] = []
        #: One pooled connection to the simulator for the configuration calls.
        self._session = requests.Session()
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
        resp = self._session.request(
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

        In journal mode the journaled events are then dispatched on this thread
        (the dispatcher's ``drain``), so the plugins have run when it returns.
        A webhook a plugin causes (its callback sent mail) is delivered, and
        dispatched, in the same call.
        """
        mine: list[Delivery] = []
        for _ in range(_MAX_ROUNDS):
            batch = self.fake.dispatcher.deliver_in_process(self.origin)
            if batch:
                mine += batch
                self._drain_journal()
            if not self._pending():
                break
        return mine

    def _pending(self) -> bool:
        return any(d.in_process and d.attempts == 0 for d in self.deliveries)

    def _drain_journal(self) -> None:
        """Journal mode: run the journaled events' plugins now, on this thread.

        With ``POSTMARK_JOURNAL_WORKER=false`` (advised in tests) this is the only
        place they run, so ``deliver()`` returning means the plugins ran.
        """
        from ..receiver import PostmarkReceiver

        dispatcher = PostmarkReceiver.state_for(self.app, self.receiver).dispatcher
        drain = getattr(dispatcher, "drain", None)  # JournalDispatcher's
        if callable(drain):
            drain(timeout=self.timeout)

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
        try:
            # RuntimeError: reset() since, or the simulator stopped; nothing left to remove.
            for webhook_id in self._webhook_ids:
                with contextlib.suppress(RuntimeError, requests.RequestException):
                    self._api("DELETE", f"/webhooks/{webhook_id}")
            if self._inbound:
                with contextlib.suppress(RuntimeError, requests.RequestException):
                    if self._mine(self._api("GET", "/server").get("InboundHookUrl") or "-"):
                        self._api("PUT", "/server", {"InboundHookUrl": ""})
        finally:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
