"""The Flask side: the webhook blueprint, the ``PostmarkReceiver`` extension, ``create_app``."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import attrs
import pluggy
from flask import Blueprint, Flask, Request, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from ..client import ServerClient
from ..events import InvalidEventError, dedupe_key, event_kind, parse_event
from ..settings import setting, standalone_defaults
from .auth import check_request, client_ip
from .config import ConfigError, ReceiverConfig, config_from_env
from .dispatch import DISPATCHERS, Dispatcher, DispatchError, Webhook, bind_app
from .manager import build_plugin_manager, builtin_plugins, load_object

__all__ = [
    "DEFAULT_NAME",
    "DUPLICATE_HEADER",
    "EVENT_HEADER",
    "EVENT_KINDS",
    "KEY_HEADER",
    "PostmarkReceiver",
    "ReceiverState",
    "create_app",
    "extension_key",
    "load_app",
    "worker_state",
]

log = logging.getLogger("postmark_kit.receiver")

#: Kinds accepted by the per-type endpoints ``<prefix>/webhook/<kind>``.
EVENT_KINDS = (
    "bounce",
    "delivery",
    "open",
    "click",
    "spam_complaint",
    "subscription_change",
    "inbound",
)

#: ``app.extensions`` key of the default receiver's :class:`ReceiverState`
#: (another receiver's: ``postmark_kit:<name>``, see :func:`extension_key`).
_EXTENSION = "postmark_kit"

#: The default receiver's name: its blueprint is ``postmark_kit`` (endpoints
#: ``postmark_kit.webhook``, ``postmark_kit.webhook_kind``, ``postmark_kit.health``).
DEFAULT_NAME = "postmark_kit"


@attrs.define(eq=False)
class ReceiverState:
    """What ``init_app`` built for one receiver on one app: :meth:`PostmarkReceiver.state_for`.

    Treat it as read-only; ``close()`` is what :meth:`PostmarkReceiver.shutdown` calls.
    """

    #: The receiver's name: its blueprint's name (``app.extensions`` key: :func:`extension_key`).
    name: str
    #: The validated settings (``config.raw``: every ``POSTMARK_*`` key as given).
    config: ReceiverConfig
    plugin_manager: pluggy.PluginManager = attrs.field(repr=False)
    #: The callback client plugins receive (``None`` without a server token).
    client: ServerClient | None = attrs.field(repr=False)
    dispatcher: Dispatcher = attrs.field(repr=False)
    #: Where the blueprint is mounted (``""``: the root).
    url_prefix: str
    #: Whether the receiver built the client (and so closes it).
    owns_client: bool = attrs.field(default=False, repr=False)
    _app: weakref.ref[Flask] | None = attrs.field(default=None, repr=False)
    closed: bool = False

    @property
    def app(self) -> Flask | None:
        """The app this receiver is on (``None`` once it was garbage-collected)."""
        return self._app() if self._app is not None else None

    def close(self) -> None:
        """Stop the dispatcher, call ``postmark_unconfigure``, close an owned client.

        Idempotent.
        """
        if self.closed:
            return
        self.closed = True
        # The dispatcher first: a journal worker still running would call
        # plugins that postmark_unconfigure has already closed.
        self.dispatcher.close()
        app = self.app
        hook = self.plugin_manager.hook.postmark_unconfigure
        try:
            if app is not None:
                with app.app_context():
                    hook(config=dict(self.config.raw), app=app)
            else:
                hook(config=dict(self.config.raw), app=None)
        except Exception:
            log.exception("postmark_unconfigure failed")
        if self.owns_client and self.client is not None:
            self.client.close()


def _answer(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _COMPACT(body) + "\n",
        status=status,
        mimetype="application/json",
        headers=dict(headers) if headers else None,
    )


#: One encoder for every answer (``json.dumps`` with options builds a new one per call).
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


def _accepted(kind: str, key: str, duplicate: bool) -> Response:
    """The 200 for an accepted event: what it was, in headers, and no body.

    Postmark reads only the status.  A body costs the WSGI server a second
    ``send`` after the headers (gunicorn writes them apart), which measured at
    6-7 % of a worker's CPU per webhook; headers ride in the first one.
    """
    headers = [("Content-Length", "0"), (EVENT_HEADER, kind), (KEY_HEADER, _header_safe(key))]
    if duplicate:
        headers.append((DUPLICATE_HEADER, "true"))
    return _Bodiless(None, status=200, headers=headers)


class _Bodiless(Response):
    default_mimetype = None  # no body, so no Content-Type


#: Headers of an accepted event's 200: its kind, its dedupe key, and ``true``
#: when it repeated one already journaled or queued (no plugin ran again).
EVENT_HEADER = "Postmark-Kit-Event"
KEY_HEADER = "Postmark-Kit-Key"
DUPLICATE_HEADER = "Postmark-Kit-Duplicate"


def _header_safe(value: str) -> str:
    """``value`` fit for a header: a key built from a body's fields may hold any text.

    Printable ASCII goes as is; anything else is percent-encoded (UTF-8), ``%``
    included, so ``urllib.parse.unquote`` always gives the key back.
    """
    if value.isascii() and value.isprintable() and "%" not in value:
        return value
    return quote(value, safe="!#$&'()*+,-./:;<=>?@[]^_`{|}~ ")


def _error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    return _answer(status, {"error": reason}, headers)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # 1e400: JSON allows it, no float holds it
        raise ValueError(f"number out of range: {text[:40]}")
    return value


#: One decoder (``json.loads`` with options builds a new one per call).
_DECODE = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite).decode


def _mimetype(req: Request) -> str:
    # What Postmark sends, taken as is; anything else goes through werkzeug's parser.
    if req.environ.get("CONTENT_TYPE") == "application/json":
        return "application/json"
    return req.mimetype


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _retries_remaining(req: Request) -> int | None:
    """The header when it is a plausible count (Postmark's are small); anything else: unknown."""
    value = req.headers.get("X-PM-Retries-Remaining")
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        return None  # a 20-digit number would overflow an SQLite integer
    return int(value)


def _refused(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    """A refusal sent before the body is read: the connection closes, the body is never waited for.

    Otherwise the server reads (drains) the unread body to keep the
    connection alive, and a peer trickling it a byte a second holds a worker
    thread for as long as it likes.
    """
    return _error(status, reason, {**(headers or {}), "Connection": "close"})


def _read_exactly(stream: Any, size: int) -> bytes | bytearray:
    """Up to ``size`` bytes of ``stream``, read into one buffer when it can (``readinto``).

    ``read(size)`` of werkzeug's ``LimitedStream`` (the dev server, the test
    client) fills a buffer and then copies it: two bodies' worth at once.
    """
    readinto = getattr(stream, "readinto", None)
    if readinto is None:  # gunicorn's body: read() only
        return bytes(stream.read(size))
    buf = bytearray(size)
    # One call, as read() makes: a body cut short is what came (and fails to parse).
    got = readinto(buf) or 0
    if got < size:
        del buf[got:]
    return buf


def _handle(state: ReceiverState, only_kind: str | None) -> Response:
    config = state.config
    req: Request = request._get_current_object()  # type: ignore[attr-defined]  # the proxy once
    failure = check_request(req, config)
    if failure is not None:
        return _refused(failure.status, failure.reason, failure.headers)
    if not _is_json(_mimetype(req)):
        shown = req.mimetype or "none"
        return _refused(415, f"expected Content-Type application/json, got {shown}")
    limit = config.max_body_bytes
    declared = req.content_length
    if declared is not None and declared > limit:
        return _refused(413, f"body over the {limit}-byte limit")
    try:
        # The receiver's own limit, not the host app's MAX_CONTENT_LENGTH (``req.stream``
        # applies that one, and a big inbound message would get Flask's HTML 413).
        # With a Content-Length (checked above) the stream is bounded by it, and a
        # server that terminates its input hands it over unwrapped; a chunked body is
        # cut one byte past the limit, so that it reads as longer than the limit.
        cap = None if declared is not None else limit + 1
        stream = get_input_stream(req.environ, max_content_length=cap)
        if declared is None:
            body: bytes | bytearray = stream.read(limit + 1)
        else:
            # Content-Length (checked above) sizes the read: read(limit + 1) would make
            # a server that leaves the stream unbounded allocate the whole limit each time.
            body = _read_exactly(stream, declared)
    except RequestEntityTooLarge:  # a chunked body past the limit
        return _refused(413, f"body over the {limit}-byte limit")
    except Exception:  # malformed chunked framing, whatever the server raises
        # (werkzeug raises OSError or BadRequest, gunicorn its own ChunkMissingTerminator,
        # InvalidChunkSize, NoMoreData...)
        return _refused(400, "body could not be read")
    if len(body) > limit:
        return _refused(413, f"body over the {limit}-byte limit")
    # The body is kept once, as text (see Webhook): the bytes go before the
    # parse, which holds the text and the payload it builds (2x the body, not 3x).
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "body is not UTF-8")
    del body
    try:
        payload = _DECODE(text)
    except RecursionError:
        return _error(400, "JSON nested too deeply")
    except ValueError as exc:
        return _error(400, f"body is not valid JSON: {str(exc).splitlines()[0][:120]}")
    try:
        event = parse_event(payload)
    except InvalidEventError as exc:
        return _error(422, str(exc))
    except RecursionError:
        return _error(400, "JSON nested too deeply")
    kind = event_kind(event)
    if only_kind is not None and kind != only_kind:
        return _error(422, f"this endpoint takes {only_kind} events, got {kind}")
    # Postmark's trace ids are short; a longer one is cut, not trusted to size a key.
    trace_id = (req.headers.get("X-PM-Webhook-Trace-Id") or "")[:256] or None
    webhook = Webhook(
        body=text,
        payload=payload,
        dedupe_key=dedupe_key(event, trace_id),
        kind=kind,
        received_at=datetime.now(UTC),
        trace_id=trace_id,
        retries_remaining=_retries_remaining(req),
        remote_addr=client_ip(req, config.trusted_proxies, config.proxy_networks),
    )
    try:
        result = state.dispatcher.dispatch(event, webhook)
    except Exception as exc:
        log.exception("dispatch of %s event %s failed", kind, webhook.dedupe_key)
        # Not taken: a 5xx even when plugin failures are acknowledged with 200.
        status = config.failure_status if config.failure_status >= 500 else 503
        reason = str(exc) if isinstance(exc, DispatchError) else "dispatch failed"
        return _error(status, reason)
    if result.rejection is not None:
        return _error(403, result.rejection.reason.splitlines()[0][:200] or "rejected")
    if result.failures:
        names = sorted({f.plugin for f in result.failures})
        status = config.failure_status
        if status == 200:
            return _answer(200, {"ok": False, "event": kind, "failed": names})
        return _error(status, f"plugin(s) failed: {', '.join(names)}")
    return _accepted(kind, webhook.dedupe_key, result.duplicate)


def _health(state: ReceiverState) -> Response:
    """200 when events can make progress, else 503 with what is wrong.

    The dispatcher decides (its ``health()``): ``None`` or a report with
    ``"ok": true`` is healthy; a string (the problem) or a report with
    ``"ok": false`` and an ``"error"`` is not.  Reports carry figures (the
    journal's backlog) either way.
    """
    check = getattr(state.dispatcher, "health", None)
    report: dict[str, Any]
    if state.closed:
        report = {"ok": False, "error": "the receiver is shut down"}
    elif check is None:
        report = {"ok": True}
    else:
        try:
            found = check()
        except Exception as exc:
            log.exception("dispatcher health check failed")
            found = f"health check failed: {type(exc).__name__}"
        if found is None:
            report = {"ok": True}
        elif isinstance(found, str):
            report = {"ok": False, "error": found}
        else:
            report = dict(found)
    return _answer(200 if report.get("ok") else 503, report)


def _blueprint(name: str, state: ReceiverState) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.post("/webhook")
    def webhook() -> Response:
        return _handle(state, None)

    if state.config.per_type_endpoints:

        @bp.post("/webhook/<kind>")
        def webhook_kind(kind: str) -> Response:
            if kind not in EVENT_KINDS:
                return _error(404, f"no webhook endpoint for {kind[:24]!r}")
            return _handle(state, kind)

    @bp.get("/health")
    def health() -> Response:
        return _health(state)

    return bp


class PostmarkReceiver:
    """The webhook receiver as a Flask extension.

    ``PostmarkReceiver(app, plugins=[...])``, or ``receiver.init_app(app)``
    from an app factory, adds ``POST <prefix>/webhook`` to an existing app.
    The plugin manager, the callback client and the dispatcher are built once
    per app, in ``init_app``, not per request; they are reachable through
    :meth:`state_for`.

    ``name`` is the blueprint's name (and the key of this receiver's state):
    give a second receiver on the same app (a second Postmark server) its own
    ``name`` and its own settings, with ``config_prefix`` (``POSTMARK_BILLING_``
    reads ``POSTMARK_BILLING_SERVER_TOKEN`` as its ``POSTMARK_SERVER_TOKEN``)
    and/or ``config`` (``POSTMARK_*`` keys overriding the app's config).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        plugins: Iterable[Any] = (),
        client: ServerClient | None = None,
        name: str = DEFAULT_NAME,
        config_prefix: str = "POSTMARK_",
        config: Mapping[str, Any] | None = None,
        url_prefix: str | None = None,
    ) -> None:
        if app is not None and not isinstance(app, Flask):
            raise TypeError(
                "PostmarkReceiver(app, plugins=[...]): the first argument is the Flask app "
                f"(got {type(app).__name__}); pass plugins by keyword"
            )
        if not name or "." in name:
            raise ValueError(f"receiver name must be a non-empty blueprint name, got {name!r}")
        if not config_prefix:
            raise ValueError("config_prefix must not be empty")
        self.plugins = list(plugins)
        self.client = client
        self.name = name
        self.config_prefix = config_prefix
        self.config = dict(config or {})
        self.url_prefix = url_prefix
        if app is not None:
            self.init_app(app)

    def settings(self, app: Flask) -> dict[str, Any]:
        """This receiver's ``POSTMARK_*`` settings on ``app`` (prefix mapped, overrides applied)."""
        prefix = self.config_prefix
        found = {
            "POSTMARK_" + key[len(prefix) :]: value
            for key, value in app.config.items()
            if key.startswith(prefix) and len(key) > len(prefix)
        }
        found.update(self.config)
        return found

    def init_app(self, app: Flask, url_prefix: str | None = None) -> None:
        """Read the settings, load plugins, register the blueprint on ``app``.

        Raises :class:`~postmark_kit.receiver.ConfigError` for unusable
        settings, and ``RuntimeError`` when a receiver of this name is already
        on ``app`` (the same receiver twice, or a second one without its own
        ``name``).
        """
        receivers = _receivers(app)
        if self.name in receivers:
            raise RuntimeError(
                f"a PostmarkReceiver named {self.name!r} is already initialized on app "
                f"{app.name!r}: init_app runs once per app, and a second receiver on the "
                "same app needs its own name= (and its own settings)"
            )
        prefix = url_prefix if url_prefix is not None else self.url_prefix
        _build(self, app, prefix, routes=True)

    @staticmethod
    def state_for(app: Flask, name: str | None = None) -> ReceiverState:
        """The state ``init_app`` built on ``app``: plugins, callback client, dispatcher.

        ``name`` picks one of several receivers on the app; without it, the
        app's only receiver.  Raises ``RuntimeError`` if there is none (or
        several and no ``name``).
        """
        receivers = _receivers(app)
        if name is not None:
            state = receivers.get(name)
            if state is None:
                known = ", ".join(sorted(receivers)) or "none"
                raise RuntimeError(
                    f"no PostmarkReceiver named {name!r} on app {app.name!r} (receivers: {known})"
                )
            return state
        if len(receivers) == 1:
            return next(iter(receivers.values()))
        if not receivers:
            raise RuntimeError(f"PostmarkReceiver.init_app was not called on app {app.name!r}")
        raise RuntimeError(
            f"app {app.name!r} has {len(receivers)} receivers ({', '.join(sorted(receivers))}): "
            "pass name="
        )

    @staticmethod
    def plugin_manager(app: Flask, name: str | None = None) -> pluggy.PluginManager:
        """The app's plugin manager (to inspect or register plugins at runtime)."""
        return PostmarkReceiver.state_for(app, name).plugin_manager

    @staticmethod
    def client_for(app: Flask, name: str | None = None) -> ServerClient | None:
        """The callback client the app's plugins receive (``None`` without a server token).

        With the sending extension on the app too (``app.extensions["postmark"]``),
        both have this one client, whichever was set up first (for the same server).
        """
        return PostmarkReceiver.state_for(app, name).client

    @staticmethod
    def shutdown(app: Flask, name: str | None = None) -> None:
        """Call ``postmark_unconfigure``, close the dispatcher and the client (idempotent).

        Without ``name``, every receiver of the app.
        """
        receivers = _receivers(app)
        if name is None and not receivers:
            raise RuntimeError(f"PostmarkReceiver.init_app was not called on app {app.name!r}")
        states = (
            list(receivers.values()) if name is None else [PostmarkReceiver.state_for(app, name)]
        )
        for state in states:
            state.close()


def extension_key(name: str = DEFAULT_NAME) -> str:
    """The ``app.extensions`` key of receiver ``name`` (``postmark_kit:<name>``, or the default)."""
    return _EXTENSION if name == DEFAULT_NAME else f"{_EXTENSION}:{name}"


def _receivers(app: Flask) -> dict[str, ReceiverState]:
    """The app's receivers by name."""
    return {
        state.name: state
        for key, state in app.extensions.items()
        if isinstance(state, ReceiverState) and key == extension_key(state.name)
    }


def _shared_client(app: Flask, config: ReceiverConfig) -> ServerClient | None:
    """The sending extension's client, when it serves the same server as this receiver.

    ``postmark_kit.flask.Postmark`` keeps its state in ``app.extensions["postmark"]``
    with a ``client``; the receiver uses that one (and leaves closing it to its owner)
    unless the receiver was given another server token.
    """
    sending = app.extensions.get("postmark")
    client = getattr(sending, "client", None)
    if not isinstance(client, ServerClient):
        return None
    if config.server_token is not None and config.server_token != app.config.get(
        "POSTMARK_SERVER_TOKEN"
    ):
        return None  # a receiver for another Postmark server
    return client


def _exempt_from_csrf(app: Flask, bp: Blueprint) -> bool:
    """Tell Flask-WTF's ``CSRFProtect`` (if the app has it) to leave the webhooks alone.

    Postmark cannot send a CSRF token, and it drops an event answered 400.
    """
    csrf = app.extensions.get("csrf")
    exempt = getattr(csrf, "exempt", None)
    if not callable(exempt):
        return False
    exempt(bp)
    return True


def _exempt_later(app: Flask, bp: Blueprint) -> None:
    """``CSRFProtect`` set up after the receiver: exempt the blueprint on its first request.

    App-level ``before_request`` functions run in the order they were added,
    so this one (added now) runs before the one ``CSRFProtect.init_app`` adds later.
    """
    done = False

    def exempt_webhooks() -> None:
        nonlocal done
        # Cheapest test first: this runs before every request of the app.
        if not done and "csrf" in app.extensions and request.blueprint == bp.name:
            done = _exempt_from_csrf(app, bp)

    app.before_request(exempt_webhooks)


def _build(
    receiver: PostmarkReceiver, app: Flask, url_prefix: str | None, *, routes: bool
) -> ReceiverState:
    """Everything ``init_app`` does; ``routes=False`` for a worker process (no blueprint)."""
    config = ReceiverConfig.from_mapping(receiver.settings(app))
    prefix = config.url_prefix if url_prefix is None else url_prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    factory = DISPATCHERS.get(config.dispatch)
    if factory is None:
        known = ", ".join(sorted(DISPATCHERS))
        raise ConfigError(f"POSTMARK_DISPATCH: unknown mode {config.dispatch!r} ({known})")
    receivers = _receivers(app)
    for other in receivers.values():
        if routes and other.url_prefix == prefix:
            raise ConfigError(
                f"receiver {receiver.name!r}: URL prefix {prefix or '/'!r} is taken by "
                f"receiver {other.name!r} (set POSTMARK_URL_PREFIX or url_prefix=)"
            )
        both = config.dispatch if config.dispatch == other.config.dispatch else None
        if both == "journal" and _journal_path(config) == _journal_path(other.config):
            raise ConfigError(
                f"receiver {receiver.name!r}: journal {_journal_path(config)!r} is used by "
                f"receiver {other.name!r}; give each receiver its own POSTMARK_JOURNAL"
            )
        if both == "celery" and _queue(config) == _queue(other.config):
            # One queue: either receiver's workers would run the other's events.
            raise ConfigError(
                f"receiver {receiver.name!r}: Celery queue {_queue(config)!r} is used by "
                f"receiver {other.name!r}; give each receiver its own POSTMARK_CELERY_QUEUE "
                "(and POSTMARK_CELERY_KEY_PREFIX)"
            )
    client = receiver.client
    owns_client = False
    if client is None:
        client = _shared_client(app, config)
    if client is None and config.server_token:
        kw: dict[str, Any] = {"base_url": config.base_url} if config.base_url else {}
        client = ServerClient(config.server_token, **kw)
        owns_client = True
    try:
        pm = build_plugin_manager(
            [*builtin_plugins(config), *receiver.plugins, *config.plugins],
            load_entrypoints=config.load_entrypoints,
        )
        bind_app(pm, app)
        dispatcher = factory(pm, client, config.raw)
    except BaseException:
        if owns_client and client is not None:
            client.close()
        raise
    state = ReceiverState(
        name=receiver.name,
        config=config,
        plugin_manager=pm,
        client=client,
        dispatcher=dispatcher,
        url_prefix=prefix,
        owns_client=owns_client,
        app=weakref.ref(app),
    )
    app.extensions[extension_key(receiver.name)] = state
    weakref.finalize(app, state.close)
    if routes:
        bp = _blueprint(receiver.name, state)
        app.register_blueprint(bp, url_prefix=prefix or None)
        if not _exempt_from_csrf(app, bp):
            _exempt_later(app, bp)
        for extra in _operator_routes(app, state):
            # They carry their own CSRF token (a login form Flask-WTF knows nothing of).
            if not _exempt_from_csrf(app, extra):
                _exempt_later(app, extra)
        if not _has_auth(config):
            _warn_no_auth(prefix)
    try:
        with app.app_context():
            pm.hook.postmark_configure(config=dict(config.raw), client=client, app=app)
            if routes:
                pm.hook.postmark_add_routes(app=app, url_prefix=prefix)
    except BaseException:
        # A plugin refused the settings: the app must not start, and nothing of
        # this receiver may keep running (a journal worker thread, an open client).
        del app.extensions[extension_key(receiver.name)]
        state.close()
        raise
    return state


def _operator_routes(app: Flask, state: ReceiverState) -> list[Blueprint]:
    """The console and the metrics endpoint, when enabled (modules loaded only then)."""
    config, added = state.config, []
    if config.console:
        from .console import receiver_console

        added.append(receiver_console(app, state))
    if config.metrics:
        from .metrics import receiver_metrics

        added.append(
            receiver_metrics(
                app,
                state,
                kinds=EVENT_KINDS,
                event_header=EVENT_HEADER,
                duplicate_header=DUPLICATE_HEADER,
            )
        )
    return added


def _has_auth(config: ReceiverConfig) -> bool:
    return bool(config.basic_auth or config.secret_auth or config.allowed_ips)


_NO_AUTH_WARNED: set[str] = set()
_NO_AUTH_LOCK = threading.Lock()


def _warn_no_auth(prefix: str) -> None:
    """Logged once per process (and prefix), not once per app or per gunicorn reload."""
    with _NO_AUTH_LOCK:
        if prefix in _NO_AUTH_WARNED:
            return
        _NO_AUTH_WARNED.add(prefix)
    log.warning(
        "POSTMARK WEBHOOK RECEIVER HAS NO AUTHENTICATION: anyone who finds %s/webhook "
        "can post fake events. Set POSTMARK_WEBHOOK_USERNAME/POSTMARK_WEBHOOK_PASSWORD "
        "(and/or a secret header or POSTMARK_ALLOWED_IPS).",
        prefix,
    )


def _journal_path(config: ReceiverConfig) -> str:
    path = setting("POSTMARK_JOURNAL").read(config.raw)
    return os.path.abspath(str(path))


def _queue(config: ReceiverConfig) -> str:
    return str(setting("POSTMARK_CELERY_QUEUE").read(config.raw))


def load_app(spec: str) -> Flask:
    """``"package.module:app"`` or ``"package.module:create_app"`` -> the Flask app.

    A factory is called without arguments.  For processes that run plugins
    outside a request (a Celery worker, ``events replay --now``) and must run
    them with the host app: its plugins, its config, its application context.
    """
    obj = load_object(spec, instantiate=False)
    if not isinstance(obj, Flask) and callable(obj):
        obj = obj()
    if not isinstance(obj, Flask):
        raise ConfigError(f"{spec!r} is not a Flask app or a factory returning one")
    return obj


def worker_state(
    config: Mapping[str, Any] | None = None, *, app: Flask | None = None, name: str | None = None
) -> ReceiverState:
    """The receiver a worker process runs events with, outside any request.

    With the host ``app`` (or ``POSTMARK_FLASK_APP`` in ``config``, see
    :func:`load_app`): that app's receiver (``name``, or ``POSTMARK_RECEIVER``
    in ``config``, picks one of several),
    its plugins and callback client, in its application context.  Without:
    plugins and client built from the ``POSTMARK_*`` settings in ``config``,
    as the standalone receiver builds them, in the context of a bare app that
    holds those settings.  ``state.close()`` when the worker stops.
    """
    settings = dict(config or {})
    if app is None and settings.get("POSTMARK_FLASK_APP"):
        app = load_app(str(settings["POSTMARK_FLASK_APP"]))
    if app is not None:
        if name is None and settings.get("POSTMARK_RECEIVER"):
            name = str(settings["POSTMARK_RECEIVER"])
        return PostmarkReceiver.state_for(app, name)
    bare = Flask("postmark_kit.worker")
    bare.config.update(settings)
    receiver = PostmarkReceiver(config={"POSTMARK_DISPATCH": "inline"})
    return _build(receiver, bare, None, routes=False)


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[Any] = (),
    client: ServerClient | None = None,
) -> Flask:
    """The standalone receiver: settings from ``POSTMARK_*`` environment variables, then ``config``.

    It refuses to start without authentication (a :class:`ConfigError`)
    unless ``POSTMARK_INSECURE_NO_AUTH`` is true.  Unlike drop-in use,
    events are journaled before the 200 and dispatched by a worker
    (``POSTMARK_DISPATCH=journal``, file ``POSTMARK_JOURNAL``, default
    ``postmark-journal.sqlite3``), logged, and stored in SQLite
    (``POSTMARK_EVENT_STORE``, default ``postmark-events.sqlite3``; set it to an
    empty string to disable).
    """
    app = Flask("postmark_kit.receiver")
    settings: dict[str, Any] = standalone_defaults()
    settings.update(config_from_env())
    settings.update(config or {})
    app.config.update(settings)
    # Refused here, not in drop-in use: a standalone receiver is what faces the
    # internet, and an open one takes fake events from anyone.
    checked = ReceiverConfig.from_mapping(settings)
    if not _has_auth(checked) and not checked.insecure_no_auth:
        raise ConfigError(
            "the standalone receiver has no authentication: set POSTMARK_WEBHOOK_USERNAME and"
            " POSTMARK_WEBHOOK_PASSWORD (or a secret header, or POSTMARK_ALLOWED_IPS), or set"
            " POSTMARK_INSECURE_NO_AUTH=true (serve --insecure-no-auth) to run it open"
        )
    PostmarkReceiver(app, plugins=plugins, client=client)

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException) -> Response:
        # A webhook client gets JSON everywhere, not Flask's HTML pages (404, 405).
        return _error(exc.code or 500, (exc.description or exc.name).splitlines()[0][:200])

    return app
