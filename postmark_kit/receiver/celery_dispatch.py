"""``POSTMARK_DISPATCH=celery``: the receiver enqueues, Celery workers run the plugins.

For deployments that outgrow one machine.  The receiver answers Postmark as
soon as the event is in the broker (Redis); workers on any machine rebuild the
typed event and call the plugins.  What makes it safe:

* dedupe: the receiver claims ``webhook.dedupe_key`` in Redis (``SET NX`` with a
  TTL) before enqueuing, so Postmark's retries of an accepted event are answered
  200 without a second task; if the enqueue fails the claim is dropped and the
  receiver answers 5xx, so Postmark retries;
* per-plugin retry: a worker records each plugin that handled an event and
  never calls it again for that event; the others are retried with Celery's
  ``retry`` and exponential backoff, then written to a dead-letter list;
* ``acks_late``: a task is acknowledged after it ran, so a killed worker's task
  is delivered again (plugins already recorded as done are skipped).

Run a worker with::

    celery -A postmark_kit.receiver.celery_dispatch:celery_app worker

Needs ``pip install 'postmark-kit[celery]'``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import pluggy
import redis
from celery import Celery  # type: ignore[import-untyped]
from celery.signals import (  # type: ignore[import-untyped]
    worker_process_shutdown,
    worker_shutdown,
)

from ..events import Event, event_kind, parse_event
from .config import ConfigError, config_from_env
from .dispatch import (
    DispatchError,
    DispatchResult,
    PluginFailure,
    Webhook,
    call_event_hooks,
    event_plugins,
)

if TYPE_CHECKING:
    from ..client import ServerClient
    from .app import ReceiverState

__all__ = [
    "CELERY_DEFAULTS",
    "TASK_NAME",
    "CeleryDispatcher",
    "CelerySettings",
    "DeadLetter",
    "dead_letters",
    "dispatcher_factory",
    "make_celery",
    "message_webhook",
    "replay_dead_letters",
    "webhook_message",
]

log = logging.getLogger("postmark_kit.receiver")

#: Seconds a dedupe claim lives until its task is confirmed queued.
_PENDING_CLAIM_SECONDS = 60

#: The task's registered name (stable: messages in the broker carry it).
TASK_NAME = "postmark_kit.dispatch_event"

#: The Celery mode's settings with their defaults.
CELERY_DEFAULTS: dict[str, Any] = {
    "POSTMARK_CELERY_BROKER": "redis://127.0.0.1:6379/0",
    # Dedupe keys, per-plugin outcomes and dead letters; default: the broker's Redis.
    "POSTMARK_CELERY_REDIS": None,
    "POSTMARK_CELERY_QUEUE": "postmark",
    "POSTMARK_CELERY_MAX_RETRIES": 8,
    # First retry after this many seconds, doubled each time (capped below the
    # broker's visibility timeout, past which Redis would deliver the task again).
    "POSTMARK_CELERY_RETRY_BACKOFF": 10,
    "POSTMARK_CELERY_KEY_PREFIX": "postmark-kit",
    # Seconds a task taken by a worker stays unacknowledged before Redis hands
    # it to another worker (how soon a killed worker's task is run again).
    "POSTMARK_CELERY_VISIBILITY_TIMEOUT": 3600,
    # Postmark retries for about ten hours; a week covers that with room.
    "POSTMARK_DEDUPE_TTL": 7 * 24 * 3600,
}

#: Bounded waits talking to Redis: the receiver must answer Postmark quickly.
_SOCKET_TIMEOUT = 5.0
_MESSAGE_VERSION = 1


def _number(name: str, value: Any, low: float, cast: type[int] | type[float]) -> Any:
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number < low:
        raise ConfigError(f"{name} must be at least {low}, got {number}")
    return number


def _redis_url(name: str, value: Any) -> str:
    url = str(value or "").strip()
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        # Never echo the URL: it may hold a password.
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return url


@attrs.frozen
class CelerySettings:
    """The Celery mode's ``POSTMARK_*`` settings, checked (URLs never in ``repr``)."""

    broker: str = attrs.field(repr=False)
    redis_url: str = attrs.field(repr=False)
    queue: str
    max_retries: int
    retry_backoff: float
    key_prefix: str
    dedupe_ttl: int
    visibility_timeout: int

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CelerySettings:
        """Read the ``POSTMARK_CELERY_*`` and ``POSTMARK_DEDUPE_TTL`` keys (defaults filled in)."""
        raw = {**CELERY_DEFAULTS, **{k: v for k, v in mapping.items() if v is not None}}
        broker = _redis_url("POSTMARK_CELERY_BROKER", raw["POSTMARK_CELERY_BROKER"])
        state = raw["POSTMARK_CELERY_REDIS"]
        queue = str(raw["POSTMARK_CELERY_QUEUE"]).strip()
        if not queue:
            raise ConfigError("POSTMARK_CELERY_QUEUE must not be empty")
        return cls(
            broker=broker,
            redis_url=_redis_url("POSTMARK_CELERY_REDIS", state) if state else broker,
            queue=queue,
            max_retries=_number(
                "POSTMARK_CELERY_MAX_RETRIES", raw["POSTMARK_CELERY_MAX_RETRIES"], 0, int
            ),
            retry_backoff=_number(
                "POSTMARK_CELERY_RETRY_BACKOFF", raw["POSTMARK_CELERY_RETRY_BACKOFF"], 0, float
            ),
            key_prefix=str(raw["POSTMARK_CELERY_KEY_PREFIX"]).strip() or "postmark-kit",
            dedupe_ttl=_number("POSTMARK_DEDUPE_TTL", raw["POSTMARK_DEDUPE_TTL"], 1, int),
            visibility_timeout=_number(
                "POSTMARK_CELERY_VISIBILITY_TIMEOUT",
                raw["POSTMARK_CELERY_VISIBILITY_TIMEOUT"],
                1,
                int,
            ),
        )

    def seen_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:seen:{dedupe_key}"

    def done_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:done:{dedupe_key}"

    @property
    def dead_key(self) -> str:
        return f"{self.key_prefix}:dead"

    def countdown(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1``: doubling, capped.

        A waiting retry is held unacknowledged by a worker: past the visibility
        timeout Redis would hand it to a second worker too.
        """
        return float(min(self.retry_backoff * 2**retries, self.visibility_timeout / 2))

    def connect(self) -> redis.Redis:
        """A client for the state Redis, with bounded socket waits."""
        return redis.Redis.from_url(
            self.redis_url,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_SOCKET_TIMEOUT,
            health_check_interval=30,
        )


# -- the task message ---------------------------------------------------------


def webhook_message(webhook: Webhook) -> dict[str, Any]:
    """What the task carries: the raw body and the request's metadata, JSON-safe.

    Nothing of the receiver's settings (no token): workers have their own.
    """
    message: dict[str, Any] = {
        "v": _MESSAGE_VERSION,
        "dedupe_key": webhook.dedupe_key,
        "kind": webhook.kind,
        "received_at": webhook.received_at.isoformat(),
        "trace_id": webhook.trace_id,
        "retries_remaining": webhook.retries_remaining,
        "remote_addr": webhook.remote_addr,
    }
    try:
        message["body"] = webhook.body.decode("utf-8")
    except UnicodeDecodeError:
        message["body_b64"] = base64.b64encode(webhook.body).decode("ascii")
    return message


def message_webhook(message: Mapping[str, Any]) -> tuple[Event, Webhook]:
    """The typed event and the :class:`Webhook` a task message stands for."""
    if "body" in message:
        body = str(message["body"]).encode("utf-8")
    else:
        body = base64.b64decode(message["body_b64"])
    payload = json.loads(body)
    event = parse_event(payload)
    webhook = Webhook(
        body=body,
        payload=payload,
        dedupe_key=str(message["dedupe_key"]),
        kind=event_kind(event),
        received_at=datetime.fromisoformat(message["received_at"]),
        trace_id=message.get("trace_id"),
        retries_remaining=message.get("retries_remaining"),
        remote_addr=message.get("remote_addr"),
    )
    return event, webhook


# -- the Celery app -----------------------------------------------------------


def _worker_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(config_from_env() if config is None else config)


def make_celery(config: Mapping[str, Any] | None = None) -> Any:
    """A Celery app for the receiver (to enqueue) and the workers (to run plugins).

    ``config`` holds ``POSTMARK_*`` settings; ``None`` reads the environment.
    The worker side builds its plugins from the same settings the receiver uses
    (``POSTMARK_PLUGINS``, entry points, the built-in plugins' settings) and
    its callback client from ``POSTMARK_SERVER_TOKEN``/``POSTMARK_BASE_URL``.
    """
    raw = _worker_config(config)
    settings = CelerySettings.from_mapping(raw)
    app = Celery("postmark_kit", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_acks_late=True,
        # A worker that dies mid-task (OOM, kill -9): deliver the task again.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # kombu's defaults look for tasks of dead workers only every ~100 s
            # (10 s x 1 in 10 sweeps), and a worker killed holding the sweep's
            # mutex blocks every sweep for 5 minutes: look every few seconds.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 30,
            "socket_timeout": _SOCKET_TIMEOUT,
            "socket_connect_timeout": _SOCKET_TIMEOUT,
        },
    )
    app.postmark_settings = settings
    app.postmark_worker = worker = _Worker(raw, settings)
    _workers.add(worker)
    app.task(
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        max_retries=settings.max_retries,
        ignore_result=True,
    )(_dispatch_task)
    return app


class _Worker:
    """Per worker process: the plugin manager, the callback client and Redis, built once."""

    def __init__(self, raw: Mapping[str, Any], settings: CelerySettings) -> None:
        self.raw = raw
        self.settings = settings
        self._lock = threading.Lock()
        self._built: tuple[pluggy.PluginManager, ServerClient | None, redis.Redis] | None = None
        self._redis: redis.Redis | None = None
        self._state: ReceiverState | None = None

    def connection(self) -> redis.Redis:
        with self._lock:
            if self._redis is None:
                self._redis = self.settings.connect()
            return self._redis

    def get(self) -> tuple[pluggy.PluginManager, ServerClient | None, redis.Redis]:
        with self._lock:
            if self._built is None:
                self._built = self._build()
            return self._built

    def _build(self) -> tuple[pluggy.PluginManager, ServerClient | None, redis.Redis]:
        # The receiver's own plugin selection, so both sides agree: the host app's
        # receiver with POSTMARK_FLASK_APP (its plugins, client and app context),
        # else plugins and client built from the settings, as the standalone receiver does.
        from .app import worker_state

        self._state = state = worker_state(self.raw)
        if self._redis is None:
            self._redis = self.settings.connect()
        return state.plugin_manager, state.client, self._redis

    def close(self) -> None:
        with self._lock:
            built, self._built = self._built, None
            conn, self._redis = self._redis, None
            state, self._state = self._state, None
        if conn is not None:
            conn.close()
        if built is not None and state is not None:
            state.close()  # postmark_unconfigure, and the client if the worker built it


_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()


def _dispatch_task(task: Any, message: dict[str, Any]) -> None:
    """Run the plugins that have not handled this event yet; retry or dead-letter the rest."""
    worker: _Worker = task.app.postmark_worker
    settings = worker.settings
    retries: int = task.request.retries
    key = str(message.get("dedupe_key"))
    try:
        pm, client, conn = worker.get()
        event, webhook = message_webhook(message)
        done_key = settings.done_key(webhook.dedupe_key)
        done = {m.decode() if isinstance(m, bytes) else m for m in conn.smembers(done_key)}
        failures: list[PluginFailure] = []
        # One plugin at a time, each recorded as soon as it is done: a worker killed
        # mid-event calls again only the plugin it was in, never one that finished.
        for name in event_plugins(pm, webhook.kind):
            if name in done:
                continue
            result = call_event_hooks(pm, event, client, webhook, only=(name,))
            if result.failures:
                failures.extend(result.failures)
                continue
            with conn.pipeline() as pipe:
                pipe.sadd(done_key, name)
                pipe.expire(done_key, settings.dedupe_ttl)
                pipe.execute()
            if result.rejection is not None:
                # Too late to answer Postmark 403: the event was acknowledged already.
                log.warning("%s event %s rejected by %s after acceptance", webhook.kind, key, name)
    except Exception as exc:
        # Not a plugin's failure (those are isolated above): Redis, or the worker's setup.
        failures = [PluginFailure(plugin="<worker>", hook="dispatch", error=exc)]
        log.exception("dispatch of event %s failed in the worker", key)
    if not failures:
        return
    names = ", ".join(sorted({f.plugin for f in failures}))
    if retries < settings.max_retries:
        countdown = settings.countdown(retries)
        log.warning(
            "event %s: %s failed, retry %d/%d in %.1fs",
            key,
            names,
            retries + 1,
            settings.max_retries,
            countdown,
        )
        raise task.retry(countdown=countdown, exc=failures[0].error)
    try:
        conn = worker.connection()
        for failure in failures:
            _dead_letter(
                conn, settings, message, failure.plugin, failure.hook, failure.error, retries + 1
            )
    except redis.RedisError:
        # Nowhere to keep it: fail the task loudly (the broker keeps no copy).
        log.exception("event %s: %s gave up and the dead-letter list is unreachable", key, names)
        raise


def _dead_letter(
    conn: redis.Redis,
    settings: CelerySettings,
    message: Mapping[str, Any],
    plugin: str,
    hook: str,
    error: BaseException,
    attempts: int,
) -> None:
    record = {
        "plugin": plugin,
        "hook": hook,
        "error": f"{type(error).__name__}: {error}"[:2000],
        "attempts": attempts,
        "failed_at": datetime.now(UTC).isoformat(),
        "message": dict(message),
    }
    conn.rpush(settings.dead_key, json.dumps(record, separators=(",", ":")))
    log.error(
        "%s event %s: plugin %s gave up after %d attempt(s): %s",
        message.get("kind"),
        message.get("dedupe_key"),
        plugin,
        attempts,
        record["error"],
    )


# -- the receiver side ----------------------------------------------------------


class CeleryDispatcher:
    """Claims the event's dedupe key in Redis, then enqueues it for the workers.

    The answer to Postmark says "queued", not "handled": plugin failures are
    retried by the workers, and a plugin's :class:`~postmark_kit.receiver.Reject`
    can no longer turn into a 403.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.settings = CelerySettings.from_mapping(config)
        self.app = make_celery(dict(config))
        self.redis = self.settings.connect()

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult:
        settings = self.settings
        seen = settings.seen_key(webhook.dedupe_key)
        # A short claim first, made permanent once the task is queued: if the
        # receiver dies or Redis fails between the two, the claim lapses before
        # Postmark's retry comes, instead of turning that retry into a "repeat".
        try:
            claimed = self.redis.set(
                seen,
                webhook.received_at.isoformat(),
                nx=True,
                ex=min(_PENDING_CLAIM_SECONDS, settings.dedupe_ttl),
            )
        except redis.RedisError as exc:
            log.error("dedupe store unreachable for %s: %s", webhook.dedupe_key, exc)
            raise DispatchError("the dedupe store is unreachable") from exc
        if not claimed:
            log.info("%s event %s is a repeat: not enqueued", webhook.kind, webhook.dedupe_key)
            return DispatchResult(duplicate=True)
        try:
            self.app.send_task(
                TASK_NAME,
                args=[webhook_message(webhook)],
                queue=settings.queue,
                retry=True,
                retry_policy={
                    "max_retries": 2,
                    "interval_start": 0,
                    "interval_step": 0.2,
                    "interval_max": 0.5,
                },
            )
        except Exception as exc:
            log.error("enqueue of %s event %s failed: %s", webhook.kind, webhook.dedupe_key, exc)
            try:
                self.redis.delete(seen)
            except redis.RedisError:
                # The short claim lapses before Postmark retries.
                log.exception("could not drop the dedupe claim for %s", webhook.dedupe_key)
            raise DispatchError("the event could not be queued") from exc
        try:
            self.redis.expire(seen, settings.dedupe_ttl)
        except redis.RedisError:
            # Queued all the same: the workers' per-plugin done-sets still stop a repeat.
            log.exception("could not extend the dedupe claim for %s", webhook.dedupe_key)
        return DispatchResult()

    def close(self) -> None:
        self.redis.close()
        self.app.close()


def dispatcher_factory(
    pm: pluggy.PluginManager, client: ServerClient | None, config: Mapping[str, Any]
) -> CeleryDispatcher:
    """``POSTMARK_DISPATCH=celery``: plugins run in the workers, not in the receiver."""
    return CeleryDispatcher(config)


# -- dead letters ---------------------------------------------------------------


@attrs.frozen
class DeadLetter:
    """An event one plugin never handled, after every retry."""

    plugin: str
    hook: str
    error: str
    attempts: int
    failed_at: str
    message: dict[str, Any] = attrs.field(repr=False)

    @property
    def dedupe_key(self) -> str:
        return str(self.message.get("dedupe_key"))


def _dead(conn: redis.Redis, key: str) -> Iterator[DeadLetter]:
    for raw in conn.lrange(key, 0, -1):
        yield DeadLetter(**json.loads(raw))


def dead_letters(config: Mapping[str, Any] | None = None) -> list[DeadLetter]:
    """The dead-letter list, oldest first (``config``: ``POSTMARK_*``; ``None``: environment)."""
    settings = CelerySettings.from_mapping(_worker_config(config))
    with settings.connect() as conn:
        return list(_dead(conn, settings.dead_key))


def replay_dead_letters(config: Mapping[str, Any] | None = None) -> int:
    """Enqueue the events of the dead-letter list again; returns how many events.

    Plugins recorded as done for an event (within ``POSTMARK_DEDUPE_TTL``) are
    still skipped, so a replay reaches the plugins that gave up.  Each entry
    leaves the list only once it is back in the broker.
    """
    raw = _worker_config(config)
    settings = CelerySettings.from_mapping(raw)
    app = make_celery(raw)
    sent: set[str] = set()
    try:
        with settings.connect() as conn:
            for entry in conn.lrange(settings.dead_key, 0, -1):
                message = json.loads(entry)["message"]
                key = str(message.get("dedupe_key"))
                # One task per event even when several of its plugins gave up:
                # two tasks at once could both call a plugin before either records it.
                if key not in sent:
                    app.send_task(TASK_NAME, args=[message], queue=settings.queue)
                    sent.add(key)
                conn.lrem(settings.dead_key, 1, entry)
    finally:
        app.close()
    return len(sent)


_module_lock = threading.Lock()
_module_apps: dict[str, Any] = {}


def _close_workers(**_kw: Any) -> None:
    """Worker (or pool child) shutdown: ``postmark_unconfigure``, close clients."""
    for worker in list(_workers):
        worker.close()


worker_process_shutdown.connect(_close_workers, weak=False)
worker_shutdown.connect(_close_workers, weak=False)


def __getattr__(name: str) -> Any:
    """``celery_app`` (alias ``app``): the workers' app, built from ``POSTMARK_*`` on first use.

    Built lazily so that importing this module (the receiver does, to enqueue
    with its own settings) never depends on the environment.
    """
    if name not in ("celery_app", "app"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _module_lock:
        if "app" not in _module_apps:
            _module_apps["app"] = make_celery()
        return _module_apps["app"]
