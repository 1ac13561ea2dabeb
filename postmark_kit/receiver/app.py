"""The Flask side: the webhook blueprint, the ``PostmarkReceiver`` extension, ``create_app``."""

from __future__ import annotations

import json
import logging
import math
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import attrs
import pluggy
from flask import Blueprint, Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from ..client import ServerClient
from ..events import InvalidEventError, dedupe_key, event_kind, parse_event
from .auth import check_request, client_ip
from .config import ConfigError, ReceiverConfig, config_from_env
from .dispatch import DISPATCHERS, Dispatcher, DispatchError, Webhook
from .manager import build_plugin_manager

__all__ = [
    "DUPLICATE_HEADER",
    "EVENT_HEADER",
    "EVENT_KINDS",
    "KEY_HEADER",
    "PostmarkReceiver",
    "create_app",
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

_EXTENSION = "postmark_kit"


@attrs.define
class _State:
    config: ReceiverConfig
    pm: pluggy.PluginManager
    client: ServerClient | None
    dispatcher: Dispatcher
    owns_client: bool
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # The dispatcher first: a journal worker still running would call
        # plugins that postmark_unconfigure has already closed.
        self.dispatcher.close()
        try:
            self.pm.hook.postmark_unconfigure(config=dict(self.config.raw))
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


def _handle(state: _State, only_kind: str | None) -> Response:
    config = state.config
    req: Request = request._get_current_object()  # type: ignore[attr-defined]  # the proxy once
    failure = check_request(req, config)
    if failure is not None:
        return _refused(failure.status, failure.reason, failure.headers)
    if not _is_json(_mimetype(req)):
        shown = req.mimetype or "none"
        return _refused(415, f"expected Content-Type application/json, got {shown}")
    limit = config.max_body_bytes
    if req.content_length is not None and req.content_length > limit:
        return _refused(413, f"body over the {limit}-byte limit")
    try:
        # Content-Length (checked above) sizes the read: read(limit + 1) would make
        # a server that leaves the stream unbounded allocate the whole limit each time.
        declared = req.content_length
        body = req.stream.read((limit if declared is None else declared) + 1)
    except Exception:  # malformed chunked framing, whatever the server raises
        # (werkzeug raises OSError, gunicorn its own ChunkMissingTerminator, NoMoreData...)
        return _refused(400, "body could not be read")
    if len(body) > limit:
        return _refused(413, f"body over the {limit}-byte limit")
    try:
        payload = _DECODE(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "body is not UTF-8")
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
        body=body,
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


def _health(state: _State) -> Response:
    """200 when events can make progress, else 503 with the reason (the dispatcher decides)."""
    check = getattr(state.dispatcher, "health", None)
    if state.closed:
        report: dict[str, Any] = {"ok": False, "reason": "the receiver is shut down"}
    elif check is None:
        report = {"ok": True}
    else:
        try:
            report = dict(check())
        except Exception as exc:
            log.exception("dispatcher health check failed")
            report = {"ok": False, "reason": f"health check failed: {type(exc).__name__}"}
    return _answer(200 if report.get("ok") else 503, report)


def _blueprint(state: _State) -> Blueprint:
    bp = Blueprint("postmark_kit", __name__)

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


def _builtin_plugins(config: ReceiverConfig) -> list[Any]:
    from ..plugins.blocklist import BlockSendersPlugin
    from ..plugins.log import LoggingPlugin
    from ..plugins.store import EventStore

    found: list[Any] = []
    if config.log_events:
        found.append(LoggingPlugin())
    if config.event_store:
        found.append(EventStore(config.event_store))
    if config.blocked_senders:
        found.append(BlockSendersPlugin(config.blocked_senders))
    return found


class PostmarkReceiver:
    """The webhook receiver as a Flask extension.

    ``PostmarkReceiver(plugins=[...]).init_app(app)`` adds ``POST
    <prefix>/webhook`` to an existing app.  The plugin manager, the callback
    client and the dispatcher are built once per app, here, not per request.
    """

    def __init__(
        self,
        plugins: Iterable[Any] = (),
        client: ServerClient | None = None,
        app: Flask | None = None,
    ) -> None:
        self.plugins = list(plugins)
        self.client = client
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, url_prefix: str | None = None) -> None:
        """Read ``POSTMARK_*`` from ``app.config``, load plugins, register the blueprint.

        Raises :class:`~postmark_kit.receiver.ConfigError` for unusable settings.
        """
        config = ReceiverConfig.from_mapping(app.config)
        prefix = config.url_prefix if url_prefix is None else url_prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        client = self.client
        owns_client = False
        if client is None and config.server_token:
            kw: dict[str, Any] = {"base_url": config.base_url} if config.base_url else {}
            client = ServerClient(config.server_token, **kw)
            owns_client = True
        factory = DISPATCHERS.get(config.dispatch)
        if factory is None:
            known = ", ".join(sorted(DISPATCHERS))
            raise ConfigError(f"POSTMARK_DISPATCH: unknown mode {config.dispatch!r} ({known})")
        pm = build_plugin_manager(
            [*_builtin_plugins(config), *self.plugins, *config.plugins],
            load_entrypoints=config.load_entrypoints,
        )
        dispatcher = factory(pm, client, config.raw)
        state = _State(config, pm, client, dispatcher, owns_client)
        app.extensions[_EXTENSION] = state
        app.register_blueprint(_blueprint(state), url_prefix=prefix or None)
        if not _has_auth(config):
            _warn_no_auth(prefix)
        pm.hook.postmark_configure(config=dict(config.raw), client=client)
        pm.hook.postmark_add_routes(app=app, url_prefix=prefix)
        weakref.finalize(app, state.close)

    @staticmethod
    def plugin_manager(app: Flask) -> pluggy.PluginManager:
        """The app's plugin manager (to inspect or register plugins at runtime)."""
        return _state(app).pm

    @staticmethod
    def client_for(app: Flask) -> ServerClient | None:
        """The callback client the app's plugins receive."""
        return _state(app).client

    @staticmethod
    def shutdown(app: Flask) -> None:
        """Call ``postmark_unconfigure``, close the dispatcher and the client (idempotent)."""
        _state(app).close()


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


def _state(app: Flask) -> _State:
    state = app.extensions.get(_EXTENSION)
    if not isinstance(state, _State):
        raise RuntimeError("PostmarkReceiver.init_app was not called on this app")
    return state


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
    settings: dict[str, Any] = {
        "POSTMARK_DISPATCH": "journal",
        "POSTMARK_JOURNAL": "postmark-journal.sqlite3",
        "POSTMARK_LOG_EVENTS": True,
        "POSTMARK_EVENT_STORE": "postmark-events.sqlite3",
    }
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
    PostmarkReceiver(plugins, client).init_app(app)

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException) -> Response:
        # A webhook client gets JSON everywhere, not Flask's HTML pages (404, 405).
        return _error(exc.code or 500, (exc.description or exc.name).splitlines()[0][:200])

    return app
