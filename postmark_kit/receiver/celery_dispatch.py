"""``POSTMARK_DISPATCH=celery``: the receiver enqueues, Celery workers run the plugins.

For deployments that outgrow one machine.  The receiver answers Postmark as
soon as the event is in the broker (Redis); workers on any machine rebuild the
typed event and call the plugins.  What makes it safe:

* durable Redis: receiver and workers read ``appendonly``, ``appendfsync`` and
  ``maxmemory-policy`` at start-up and refuse a Redis that would lose or evict
  what was acknowledged (``POSTMARK_CELERY_ALLOW_UNSAFE_REDIS`` overrides);
* dedupe: the receiver claims ``webhook.dedupe_key`` in Redis before
  enqueuing.  The claim is *pending* (a token, a few seconds) until the task
  is queued, then confirmed for ``POSTMARK_DEDUPE_TTL``.  A retry meeting a
  pending claim gets a 5xx, not "duplicate": a claim whose request was
  refused (a stalled Redis ran it late) lapses before Postmark retries;
* per-plugin bookkeeping in Redis: each plugin's started attempts and last
  error, and the plugins done.  An attempt is counted *before* the plugin is
  called, so attempts killed with their process (OOM) count too; after
  ``POSTMARK_CELERY_MAX_RETRIES`` retries the plugin is dead-lettered;
* a per-event lock (token, renewed while the task runs): a task Redis handed
  out twice (dropped connection, visibility timeout) never runs a plugin
  twice at once;
* nothing acknowledged on a Redis failure: state writes wait for Redis to come
  back, and a task that still cannot record its outcome is rejected with
  requeue (or left unacknowledged), never acknowledged.

Run a worker with::

    celery -A postmark_kit.receiver.celery_dispatch:celery_app worker

Needs ``pip install 'postmark-kit[celery]'``.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs
import pluggy
import redis
from celery import Celery, bootsteps  # type: ignore[import-untyped]
from celery.exceptions import Reject  # type: ignore[import-untyped]
from celery.signals import (  # type: ignore[import-untyped]
    worker_process_shutdown,
    worker_shutdown,
)
from kombu.transport.redis import Channel as _KombuRedisChannel
from kombu.transport.redis import QoS as _KombuRedisQoS
from kombu.transport.redis import Transport as _KombuRedisTransport
from kombu.utils.json import loads as _kombu_loads

from ..events import Event, event_kind, parse_event
from ..settings import ConfigError, SettingFields, defaults
from ..settings import default as default_setting
from .config import config_from_env
from .dispatch import (
    DeadLetter,
    DispatchError,
    DispatchResult,
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
    "RedisTransport",
    "dead_letters",
    "dispatcher_factory",
    "make_celery",
    "message_webhook",
    "redis_durability_problems",
    "replay_dead_letters",
    "webhook_message",
]

log = logging.getLogger("postmark_kit.receiver")

_T = TypeVar("_T")

#: The task's registered name (stable: messages in the broker carry it).
TASK_NAME = "postmark_kit.dispatch_event"

#: Postmark retries a refused webhook for about ten and a half hours.
_POSTMARK_RETRY_WINDOW = 11 * 3600

#: The Celery mode's settings with their defaults (declared in :mod:`postmark_kit.settings`).
CELERY_DEFAULTS: dict[str, Any] = defaults("celery")

_MESSAGE_VERSION = 1

#: Redis errors worth waiting out: a restart, a stall, a failover, memory full.
_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
)


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
    time_limit: float = 0.0
    redis_timeout: float = default_setting("POSTMARK_CELERY_REDIS_TIMEOUT")
    lock_timeout: float = default_setting("POSTMARK_CELERY_LOCK_TIMEOUT")
    state_wait: float = default_setting("POSTMARK_CELERY_STATE_WAIT")
    allow_unsafe_redis: bool = default_setting("POSTMARK_CELERY_ALLOW_UNSAFE_REDIS")

    #: Which settings feed which fields (each its :attr:`~postmark_kit.settings.Setting.field`).
    setting_fields: ClassVar[SettingFields] = SettingFields(
        ("celery",),
        elsewhere=(
            "POSTMARK_PLUGIN_TIMEOUT",  # dispatch.plugin_timeout
            "POSTMARK_FLASK_APP",  # the workers' receiver (app.worker_state)
            "POSTMARK_RECEIVER",
        ),
    )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CelerySettings:
        """Read the ``POSTMARK_CELERY_*`` and ``POSTMARK_DEDUPE_TTL`` keys (defaults filled in).

        Time settings that contradict each other are refused here, with the reason.
        """
        fields = cls.setting_fields.kwargs(cls.setting_fields.read(mapping))
        fields["redis_url"] = fields["redis_url"] or fields["broker"]
        if fields["time_limit"] is None:
            # Half the visibility timeout, so a task still running is never handed out.
            fields["time_limit"] = fields["visibility_timeout"] / 2
        settings = cls(**fields)
        settings._check_times()
        return settings

    @property
    def retry_span(self) -> float:
        """Seconds from an event's first attempt to its last retry (every wait summed)."""
        return sum(self.countdown(n) for n in range(self.max_retries))

    def _check_times(self) -> None:
        if self.time_limit >= self.visibility_timeout:
            raise ConfigError(
                f"POSTMARK_CELERY_TIME_LIMIT ({self.time_limit:g}s) must be below "
                f"POSTMARK_CELERY_VISIBILITY_TIMEOUT ({self.visibility_timeout}s): Redis would "
                "hand a task that is still running to a second worker"
            )
        if self.dedupe_ttl < 60:
            raise ConfigError(
                f"POSTMARK_DEDUPE_TTL ({self.dedupe_ttl}s) must be at least 60: Postmark's "
                "first retry comes a minute later and would be queued again"
            )
        span = self.retry_span + self.time_limit * (self.max_retries + 1)
        if self.dedupe_ttl <= span:
            raise ConfigError(
                f"POSTMARK_DEDUPE_TTL ({self.dedupe_ttl}s) must be longer than the retries of "
                f"one event ({span:g}s: POSTMARK_CELERY_MAX_RETRIES, "
                "POSTMARK_CELERY_RETRY_BACKOFF, POSTMARK_CELERY_TIME_LIMIT): the record of the "
                "plugins that succeeded would expire and a retry would call them again"
            )

    def warnings(self) -> list[str]:
        """Settings that work but weaken a guarantee (logged at start-up)."""
        found = []
        if self.dedupe_ttl < _POSTMARK_RETRY_WINDOW:
            found.append(
                f"POSTMARK_DEDUPE_TTL ({self.dedupe_ttl}s) is shorter than Postmark's retry "
                f"window (about {_POSTMARK_RETRY_WINDOW // 3600} hours): a retry of an "
                "acknowledged event that comes later is queued again"
            )
        if self.allow_unsafe_redis:
            found.append(
                "POSTMARK_CELERY_ALLOW_UNSAFE_REDIS is on: Redis durability is not checked"
            )
        return found

    @property
    def pending_claim_ms(self) -> int:
        """How long a claim lives until its task is confirmed queued."""
        return int(max(2.0, 4 * self.redis_timeout) * 1000)

    def seen_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:seen:{dedupe_key}"

    def done_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:done:{dedupe_key}"

    def tries_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:tries:{dedupe_key}"

    def lock_key(self, dedupe_key: str) -> str:
        return f"{self.key_prefix}:lock:{dedupe_key}"

    @property
    def dead_key(self) -> str:
        return f"{self.key_prefix}:dead"

    @property
    def replaying_key(self) -> str:
        return f"{self.key_prefix}:replaying"

    def countdown(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1``: doubling, capped.

        A waiting retry is held unacknowledged by a worker: past the visibility
        timeout Redis would hand it to a second worker too.
        """
        return float(min(self.retry_backoff * 2**retries, self.visibility_timeout / 2))

    def connect(self, url: str | None = None) -> redis.Redis:
        """A client for the state Redis (or ``url``), with bounded socket waits."""
        return redis.Redis.from_url(
            url or self.redis_url,
            socket_timeout=self.redis_timeout,
            socket_connect_timeout=self.redis_timeout,
            health_check_interval=30,
        )

    def redis_urls(self) -> dict[str, str]:
        """The Redis servers this mode uses, by role (one entry when they are the same)."""
        if self.redis_url == self.broker:
            return {"broker and state store": self.broker}
        return {"broker": self.broker, "state store": self.redis_url}


# -- Redis durability -----------------------------------------------------------


def redis_durability_problems(conn: redis.Redis) -> list[str]:
    """What in this Redis's configuration would lose or evict acknowledged events.

    Reads ``appendonly``, ``appendfsync`` and ``maxmemory-policy`` with
    ``CONFIG GET``; an empty list means safe.  Raises :class:`redis.RedisError`
    when Redis cannot be asked.
    """
    values: dict[str, str] = {}
    for name in ("appendonly", "appendfsync", "maxmemory-policy"):
        got = conn.config_get(name)
        for k, v in got.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            values[key] = v.decode() if isinstance(v, bytes) else str(v)
    problems = []
    if values.get("appendonly", "no") != "yes":
        problems.append(
            "appendonly is 'no': a Redis crash or restart loses every queued event "
            "(set appendonly yes)"
        )
    elif values.get("appendfsync") not in ("everysec", "always"):
        problems.append(
            f"appendfsync is {values.get('appendfsync')!r}: a crash loses what the "
            "operating system had not written (set appendfsync everysec or always)"
        )
    policy = values.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy!r}: Redis evicts queued events, dedupe keys "
            "or plugin outcomes when memory is full (set maxmemory-policy noeviction)"
        )
    return problems


def _durability_error(role: str, problems: list[str]) -> str:
    return (
        f"the {role} Redis is not safe for POSTMARK_DISPATCH=celery: {'; '.join(problems)}. "
        "Fix its configuration (see docs/celery.md) or set "
        "POSTMARK_CELERY_ALLOW_UNSAFE_REDIS=true to accept losing events."
    )


def _check_durability(settings: CelerySettings) -> str | None:
    """Check every Redis of ``settings``: ``None`` when checked and safe, else the reason.

    Raises :class:`ConfigError` for an unsafe configuration (a decision, not a
    fault) and returns a reason when a Redis could not be asked.
    """
    if settings.allow_unsafe_redis:
        return None
    for role, url in settings.redis_urls().items():
        conn = settings.connect(url)
        try:
            problems = redis_durability_problems(conn)
        except redis.ResponseError as exc:
            # Managed Redis often renames CONFIG: the operator must decide.
            raise ConfigError(
                f"the {role} Redis refused CONFIG GET ({type(exc).__name__}), so its "
                "durability cannot be checked: make sure it runs with appendonly yes, "
                "appendfsync everysec and maxmemory-policy noeviction, then set "
                "POSTMARK_CELERY_ALLOW_UNSAFE_REDIS=true"
            ) from None
        except redis.RedisError as exc:
            return f"the {role} Redis is unreachable ({type(exc).__name__})"
        finally:
            conn.close()
        if problems:
            raise ConfigError(_durability_error(role, problems))
    return None


def _redis_fault(what: str, exc: BaseException) -> str:
    """A short reason naming the fault (memory full is not "unreachable")."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return f"the {what} Redis is out of memory (maxmemory reached; nothing is evicted)"
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return f"the {what} Redis is a read-only replica"
    if isinstance(exc, redis.TimeoutError):
        return f"the {what} Redis did not answer in time"
    if isinstance(exc, redis.ConnectionError):
        return f"the {what} Redis is unreachable"
    return f"the {what} Redis refused the command ({type(exc).__name__})"


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
        message["body"] = webhook.text  # what the receiver holds: no copy
    except UnicodeDecodeError:
        message["body_b64"] = base64.b64encode(webhook.body).decode("ascii")
    return message


def message_webhook(message: Mapping[str, Any]) -> tuple[Event, Webhook]:
    """The typed event and the :class:`Webhook` a task message stands for."""
    # Held as text, as the receiver holds it (bytes only for a body that is not UTF-8).
    body: bytes | str = (
        str(message["body"]) if "body" in message else base64.b64decode(message["body_b64"])
    )
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


#: How long a worker holds a task it took from Redis while it cannot record it as taken.
_DELIVERY_WAIT = 300.0


class _QoS(_KombuRedisQoS):
    """kombu's ack emulation, made to hold on to a message it could not record.

    kombu takes a task off the queue (``BRPOP``), then records it as
    unacknowledged in a second command.  If Redis goes away in between, kombu
    drops the message, which then exists nowhere: here the record is retried
    until Redis is back (up to ``_DELIVERY_WAIT`` seconds).
    """

    def append(self, message: Any, delivery_tag: Any) -> None:
        taken: set[Any] | None = getattr(self.channel, "recorded_on_take", None)
        if taken is not None and delivery_tag in taken:
            # Recorded in Redis by the same script that took it (see _Channel).
            taken.discard(delivery_tag)
            super(_KombuRedisQoS, self).append(message, delivery_tag)  # type: ignore[no-untyped-call]
            return
        deadline = time.monotonic() + _DELIVERY_WAIT
        delay = 0.05
        while True:
            try:
                super().append(message, delivery_tag)  # type: ignore[no-untyped-call]
                return
            except _TRANSIENT as exc:
                if time.monotonic() >= deadline:
                    log.critical("a task taken from Redis could not be recorded: it is lost")
                    raise
                log.warning("recording a delivered task: %s; waiting", _redis_fault("broker", exc))
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    # Giving a task back or acknowledging it after the connection was lost can
    # fail inside kombu (even with AttributeError, on a closed connection),
    # and an error here stops the worker ("Unrecoverable error").  Not doing
    # it is safe: the task stays in Redis's unacknowledged set, and Redis hands
    # it out again after the visibility timeout (its finished plugins are
    # recorded as done, so nothing runs twice).

    def restore_unacked(self, client: Any = None) -> Any:
        try:
            return super().restore_unacked(client)  # type: ignore[no-untyped-call]
        except Exception as exc:
            log.warning(
                "could not give back %d task(s) in hand (%s): Redis hands them out again "
                "after the visibility timeout",
                len(self._delivered),
                type(exc).__name__,
            )
            self._delivered.clear()
            return None

    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
        except Exception as exc:
            self._unrecorded("acknowledge", delivery_tag, exc)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        except Exception as exc:
            self._unrecorded("give back", delivery_tag, exc)

    def _unrecorded(self, what: str, delivery_tag: Any, exc: Exception) -> None:
        log.warning(
            "could not %s a task (%s): Redis hands it out again after the visibility timeout",
            what,
            type(exc).__name__,
        )
        self._delivered.pop(delivery_tag, None)


#: Take a task off the first non-empty queue key (KEYS[1] .. KEYS[#KEYS-2]) and
#: record it as unacknowledged in the same step: kombu's hash (KEYS[#KEYS-1]:
#: tag -> [message, exchange, routing key]) and index (KEYS[#KEYS]: tag -> ARGV[1],
#: the time).  RPOP is the first write: a full (noeviction) Redis refuses a
#: script only at its first write, so it never stops between the two.  The
#: message is copied into the record as it is, never re-encoded.
_TAKE = """
local n = #KEYS - 2
for i = 1, n do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local ok, payload = pcall(cjson.decode, item)
    if ok and type(payload) == 'table' and type(payload['properties']) == 'table' then
      local tag = payload['properties']['delivery_tag']
      local info = payload['properties']['delivery_info']
      if type(tag) == 'string' and type(info) == 'table' then
        local record = '[' .. item .. ',' .. cjson.encode(info['exchange']) .. ','
          .. cjson.encode(info['routing_key']) .. ']'
        redis.call('ZADD', KEYS[n + 2], ARGV[1], tag)
        redis.call('HSET', KEYS[n + 1], tag, record)
        return {KEYS[i], item, tag}
      end
    end
    return {KEYS[i], item}
  end
end
return false
"""


def _unknown_command(exc: redis.ResponseError) -> bool:
    """Redis does not know the command (too old, or renamed away)."""
    return "unknown command" in str(exc).lower()


class _Channel(_KombuRedisChannel):
    """kombu's channel, taking tasks so that a reply Redis never sends loses none.

    kombu takes a task with ``BRPOP``.  Redis writes replies after running the
    commands of an event-loop turn; when it stops in that turn (SIGTERM,
    ``SHUTDOWN``) or the connection drops, the reply is never sent while the
    AOF keeps the pop: the task exists nowhere.  Here the consumer only waits
    with ``BLMOVE q q RIGHT RIGHT`` (returns when the queue is not empty, moves
    nothing), then takes the task with a script that records it as
    unacknowledged in the same step.  A reply lost now loses nothing: the
    task is handed out again after the visibility timeout.

    The wait is on the first queue key of the turn; tasks on the others
    (priorities, further queues) are taken when it times out (``brpop_timeout``,
    1 s).  A Redis without ``BLMOVE`` (before 6.2) or scripts gets kombu's own
    ``BRPOP``.
    """

    QoS = _QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Tags the take script recorded (``_QoS.append`` need not write them).
        self.recorded_on_take: set[Any] = set()
        self._take_keys: list[str] = []
        self._take_script: Any = None
        self._waited_with = "BLMOVE"
        self._wait_refused = False
        self._plain_brpop = False
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _brpop_start(self, timeout: Any = None) -> None:
        if self._plain_brpop:
            super()._brpop_start(timeout)  # type: ignore[no-untyped-call]
            return
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        prefix = self.global_keyprefix
        keys = [
            prefix + self._q_for_pri(q, pri)  # type: ignore[no-untyped-call]
            for pri in self.priority_steps
            for q in queues
        ]
        self._take_keys = keys
        if self._wait_refused:
            # BLMOVE is refused while memory is full: a timed wait on a key nobody
            # fills, then a take (allowed: RPOP frees memory).
            command: tuple[Any, ...] = ("BRPOP", f"{keys[0]}{self.sep}wait", timeout or 1)
        else:
            command = ("BLMOVE", keys[0], keys[0], "RIGHT", "RIGHT", timeout or 0)
        self._waited_with = command[0]
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()  # type: ignore[assignment]
        self.client.connection.send_command(*command)

    def _brpop_read(self, **options: Any) -> bool:
        if self._plain_brpop:
            return bool(super()._brpop_read(**options))  # type: ignore[no-untyped-call]
        try:
            try:
                self.client.parse_response(self.client.connection, self._waited_with, **options)
                self._wait_refused = False
            except redis.exceptions.OutOfMemoryError:
                self._wait_refused = True
            except redis.ResponseError as exc:
                if not _unknown_command(exc):
                    raise
                log.warning(
                    "the broker refused BLMOVE (%s): tasks are taken with BRPOP, and one "
                    "taken as Redis stops or a connection drops can be lost",
                    exc,
                )
                self._plain_brpop = True
                raise queue.Empty() from None
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if self._closing:
                raise queue.Empty()
            taken = self._take()
            if not taken:
                raise queue.Empty()
            dest, item = _text(taken[0]), taken[1]
            dest = dest[len(self.global_keyprefix) :].rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            if len(taken) > 2:
                self.recorded_on_take.add(_text(taken[2]))
            self.connection._deliver(_kombu_loads(_text(item)), dest)  # type: ignore[no-untyped-call]
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _take(self) -> list[Any] | None:
        """Run the take script: ``[queue key, message, tag]``, or ``None`` (all empty)."""
        # A plain client on kombu's pool: keys are prefixed here, all of them.
        client = redis.Redis(connection_pool=self.pool)
        if self._take_script is None:
            self._take_script = client.register_script(_TAKE)
        prefix = self.global_keyprefix
        keys = [*self._take_keys, prefix + self.unacked_key, prefix + self.unacked_index_key]
        try:
            reply = self._take_script(keys=keys, args=[time.time()], client=client)
        except redis.exceptions.OutOfMemoryError:
            return None  # nothing was taken: RPOP is the script's first write
        except redis.ResponseError as exc:
            if not _unknown_command(exc):
                raise
            log.warning(
                "the broker refused scripts (%s): tasks are taken with BRPOP, and one "
                "taken as Redis stops or a connection drops can be lost",
                exc,
            )
            self._plain_brpop = True
            return None
        return list(reply) if reply else None


class RedisTransport(_KombuRedisTransport):
    """kombu's Redis transport, made to keep every task through a Redis outage.

    * A task taken off the queue while Redis goes down is held until it can be
      recorded as unacknowledged, instead of dropped (see ``_QoS``).
    * Redis's ``OOM`` reply counts as a lost connection: kombu counts it as a
      channel error, and a worker whose queue declaration or delivery
      bookkeeping meets it stops for good ("Unrecoverable error:
      OutOfMemoryError").  Retried with backoff, the worker carries on once
      memory is freed.
    """

    Channel = _Channel
    connection_errors = (
        *_KombuRedisTransport.connection_errors,
        redis.exceptions.OutOfMemoryError,
    )


def make_celery(config: Mapping[str, Any] | None = None) -> Any:
    """A Celery app for the receiver (to enqueue) and the workers (to run plugins).

    ``config`` holds ``POSTMARK_*`` settings; ``None`` reads the environment.
    The worker side builds its plugins from the same settings the receiver uses
    (``POSTMARK_PLUGINS``, entry points, the built-in plugins' settings) and
    its callback client from ``POSTMARK_SERVER_TOKEN``/``POSTMARK_BASE_URL``.
    A worker refuses to start on a Redis that is not durable (see
    :func:`redis_durability_problems`).
    """
    raw = _worker_config(config)
    settings = CelerySettings.from_mapping(raw)
    app = Celery("postmark_kit", broker=settings.broker, set_as_current=False)
    app.conf.update(
        broker_transport=f"{__name__}:RedisTransport",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_acks_late=True,
        # A worker that dies mid-task (OOM, kill -9): deliver the task again.
        task_reject_on_worker_lost=True,
        # A task that raised is given back, never acknowledged (the task itself
        # handles plugin failures; what escapes is Redis or the worker).
        task_acks_on_failure_or_timeout=False,
        # A soft limit: raised inside the plugin, so it counts as that plugin's
        # failure and is retried.  (A hard limit would make Celery drop the task.)
        task_soft_time_limit=settings.time_limit,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # kombu's defaults look for tasks of dead workers only every ~100 s
            # (10 s x 1 in 10 sweeps), and a worker killed holding the sweep's
            # mutex blocks every sweep for 5 minutes: look every few seconds.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 30,
            "socket_timeout": max(settings.redis_timeout, 5.0),
            "socket_connect_timeout": settings.redis_timeout,
        },
    )
    app.postmark_settings = settings
    app.postmark_worker = worker = _Worker(raw, settings)
    _workers.add(worker)
    app.steps["worker"].add(_StartupCheck)
    app.task(
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        # Attempts are counted per plugin in Redis (see _dispatch_task), not by Celery.
        max_retries=None,
        ignore_result=True,
    )(_dispatch_task)
    return app


class _StartupCheck(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker start-up: log weak settings, refuse a Redis that is not durable."""

    label = "postmark-kit: Redis durability"

    def start(self, worker: Any) -> None:
        settings: CelerySettings = worker.app.postmark_settings
        for warning in settings.warnings():
            log.warning("%s", warning)
        deadline = time.monotonic() + max(settings.state_wait, settings.redis_timeout)
        while True:
            # ConfigError escapes: Celery stops the worker ("Unrecoverable error").
            reason = _check_durability(settings)
            if reason is None:
                return
            if time.monotonic() >= deadline:
                log.warning("%s: its durability settings were not checked", reason)
                return
            time.sleep(0.5)


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


class _StateUnavailable(Exception):
    """Redis could not be reached (or written) within ``POSTMARK_CELERY_STATE_WAIT``."""


def _persist(settings: CelerySettings, what: str, fn: Callable[[], _T]) -> _T:
    """``fn()``, waiting out a Redis restart, stall or full memory (bounded)."""
    deadline = time.monotonic() + settings.state_wait
    delay = 0.05
    warned = False
    while True:
        try:
            return fn()
        except _TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise _StateUnavailable(f"{what}: {_redis_fault('state store', exc)}") from exc
            if not warned:
                log.warning("%s: %s; waiting for Redis", what, _redis_fault("state store", exc))
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class _EventLock:
    """One task at a time per event: a token in Redis, renewed while the task runs.

    A copy of a task that Redis handed out again (dropped connection, visibility
    timeout) waits for it; a dead worker's lock lapses after
    ``POSTMARK_CELERY_LOCK_TIMEOUT`` seconds.
    """

    def __init__(self, conn: redis.Redis, settings: CelerySettings, dedupe_key: str) -> None:
        self.conn = conn
        self.settings = settings
        self.key = settings.lock_key(dedupe_key)
        self.token = uuid.uuid4().hex
        self.ms = int(settings.lock_timeout * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            got = _persist(
                self.settings,
                "the event lock",
                lambda: self.conn.set(self.key, self.token, nx=True, px=self.ms),
            )
            if got:
                self._thread = threading.Thread(
                    target=self._renew, name="postmark-kit-lock", daemon=True
                )
                self._thread.start()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _renew(self) -> None:
        while not self._stop.wait(self.settings.lock_timeout / 3):
            try:
                self.conn.eval(_RENEW, 1, self.key, self.token, self.ms)
            except redis.RedisError as exc:
                log.warning("could not renew the lock %s: %s", self.key, type(exc).__name__)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.conn.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError:
            log.warning("could not release the lock %s (it lapses)", self.key)


#: What an attempt's error reads as until the attempt ends (it stays if the process dies).
_DIED = "the worker process died while running it (killed, out of memory, time limit?)"


def _resend(task: Any, settings: CelerySettings, message: dict[str, Any], countdown: float) -> None:
    """Queue the event again (a retry); waits out a Redis outage, else gives the task back."""

    def send() -> None:
        task.app.send_task(
            TASK_NAME,
            args=[message],
            queue=settings.queue,
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
        )

    deadline = time.monotonic() + settings.state_wait
    while True:
        try:
            send()
            return
        except Exception as exc:
            if time.monotonic() >= deadline:
                log.error(
                    "event %s: the retry could not be queued (%s): the task is given back",
                    message.get("dedupe_key"),
                    type(exc).__name__,
                )
                raise Reject(exc, requeue=True) from exc
            time.sleep(0.5)


def _dispatch_task(task: Any, message: dict[str, Any]) -> None:
    """Run the plugins that have not handled this event yet; retry or dead-letter the rest.

    A Redis failure that outlasts ``POSTMARK_CELERY_STATE_WAIT`` gives the task
    back to the broker (requeued, or restored after the visibility timeout):
    never acknowledged with an outcome unrecorded.
    """
    worker: _Worker = task.app.postmark_worker
    settings = worker.settings
    key = str(message.get("dedupe_key"))
    try:
        try:
            pm, client, conn = worker.get()
            event, webhook = message_webhook(message)
        except Exception as exc:
            _worker_failed(task, worker, message, exc)
            return
        lock = _EventLock(conn, settings, key)
        if not lock.acquire(wait=min(5.0, settings.lock_timeout)):
            log.info("event %s is being handled by another task: retrying later", key)
            _resend(task, settings, message, countdown=settings.lock_timeout / 2)
            return
        try:
            _run_plugins(task, settings, conn, pm, client, event, webhook, message)
        finally:
            lock.release()
    except _StateUnavailable as exc:
        log.error("event %s: %s; the task is given back to the broker", key, exc)
        raise Reject(str(exc), requeue=True) from exc
    except redis.RedisError as exc:
        # Not a fault that waiting cures (a wrong key type, a script error): give the
        # task back, throttled, rather than let Celery drop it.
        log.exception("event %s: Redis refused a command; the task is given back", key)
        time.sleep(1.0)
        raise Reject(str(exc), requeue=True) from exc
    except Reject:
        raise
    except Exception as exc:
        # A bug here must not drop the event either: retried, then dead-lettered.
        log.exception("event %s: the worker failed", key)
        _worker_failed(task, worker, message, exc)


def _run_plugins(
    task: Any,
    settings: CelerySettings,
    conn: redis.Redis,
    pm: pluggy.PluginManager,
    client: ServerClient | None,
    event: Event,
    webhook: Webhook,
    message: dict[str, Any],
) -> None:
    key = webhook.dedupe_key
    done_key = settings.done_key(key)
    tries_key = settings.tries_key(key)
    ttl = settings.dedupe_ttl
    limit = settings.max_retries + 1
    done = {
        m.decode() if isinstance(m, bytes) else m
        for m in _persist(settings, "the done-set", lambda: conn.smembers(done_key))
    }
    present = event_plugins(pm, webhook.kind)
    only = message.get("only")
    wanted = [str(n) for n in only] if isinstance(only, list) else present
    retry: dict[str, int] = {}

    def give_up(name: str, hook: str, error: str, attempts: int) -> None:
        record = _dead_record(message, name, hook, error, attempts)
        _persist(
            settings, f"the dead letter of {name}", lambda: conn.rpush(settings.dead_key, record)
        )
        log.error(
            "%s event %s: plugin %s gave up after %d attempt(s): %s",
            webhook.kind,
            key,
            name,
            attempts,
            error,
        )

    for name in wanted:
        if name in done:
            continue
        if name not in present:
            # A replay to a worker without that plugin: keep the dead letter.
            give_up(name, "dispatch", f"no plugin named {name!r} in this worker", 0)
            continue
        # A pipeline is built afresh for every try: a failed one is emptied.
        started = _transaction(
            conn,
            ("hincrby", tries_key, name, 1),
            ("hset", tries_key, f"{name}:error", _DIED),
            ("expire", tries_key, ttl),
        )
        tries = int(_persist(settings, "the attempt count", started)[0])
        if tries > limit:
            # The attempts before ended with their process: give up without a further one.
            last = _persist(
                settings, "the last error", partial(conn.hget, tries_key, f"{name}:last")
            )
            error = _DIED if not last else f"{_DIED}; the last error before: {_text(last)}"
            give_up(name, "dispatch", error, tries - 1)
            _persist(settings, "the attempt count", partial(conn.hdel, tries_key, name))
            continue
        result = call_event_hooks(pm, event, client, webhook, only=(name,))
        if result.failures:
            failure = result.failures[0]
            error = f"{type(failure.error).__name__}: {failure.error}"[:2000]
            _persist(
                settings,
                "the attempt's error",
                partial(
                    conn.hset, tries_key, mapping={f"{name}:error": error, f"{name}:last": error}
                ),
            )
            if tries >= limit:
                give_up(name, failure.hook, error, tries)
                _persist(settings, "the attempt count", partial(conn.hdel, tries_key, name))
            else:
                retry[name] = tries
            continue
        succeeded = _transaction(
            conn,
            ("sadd", done_key, name),
            ("expire", done_key, ttl),
            ("hdel", tries_key, name, f"{name}:error", f"{name}:last"),
        )
        _persist(settings, f"the success of {name}", succeeded)
        if result.rejection is not None:
            # Too late to answer Postmark 403: the event was acknowledged already.
            log.warning("%s event %s rejected by %s after acceptance", webhook.kind, key, name)
    if retry:
        countdown = settings.countdown(max(retry.values()) - 1)
        log.warning(
            "event %s: %s failed, retry in %.1fs (attempts %s of %d)",
            key,
            ", ".join(sorted(retry)),
            countdown,
            ", ".join(str(n) for n in retry.values()),
            limit,
        )
        _resend(task, settings, {**message, "only": sorted(retry)}, countdown)


def _transaction(conn: redis.Redis, *commands: tuple[Any, ...]) -> Callable[[], list[Any]]:
    """A MULTI/EXEC of ``commands`` (method name, arguments), built anew on each call."""

    def run() -> list[Any]:
        with conn.pipeline() as pipe:
            for name, *args in commands:
                getattr(pipe, name)(*args)
            return pipe.execute()

    return run


def _worker_failed(task: Any, worker: _Worker, message: dict[str, Any], exc: Exception) -> None:
    """The worker's setup or the message failed (not a plugin): retry, then dead-letter."""
    settings = worker.settings
    key = message.get("dedupe_key")
    attempt = int(message.get("worker_attempts") or 0) + 1
    log.error("event %s: the worker could not run it: %s: %s", key, type(exc).__name__, exc)
    if attempt <= settings.max_retries:
        again = {**message, "worker_attempts": attempt}
        _resend(task, settings, again, settings.countdown(attempt - 1))
        return
    record = _dead_record(message, "<worker>", "dispatch", f"{type(exc).__name__}: {exc}", attempt)
    conn = worker.connection()
    try:
        _persist(settings, "the dead letter", lambda: conn.rpush(settings.dead_key, record))
    except _StateUnavailable as unavailable:
        raise Reject(str(unavailable), requeue=True) from unavailable


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _dead_record(
    message: Mapping[str, Any], plugin: str, hook: str, error: str, attempts: int
) -> str:
    entry = {k: v for k, v in message.items() if k not in ("only", "worker_attempts")}
    record = {
        "plugin": plugin,
        "hook": hook,
        "error": error[:2000],
        "attempts": attempts,
        "failed_at": datetime.now(UTC).isoformat(),
        "message": entry,
    }
    return json.dumps(record, separators=(",", ":"))


# -- the receiver side ----------------------------------------------------------

# KEYS[1]: the claim; ARGV: the pending value, its lifetime (ms).
# 1: claimed; 2: a pending claim of another request; 0: a confirmed claim (a repeat).
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 8) == 'pending:' then return 2 end
return 0
"""
# Confirm a claim once queued: ours, or lapsed meanwhile (nobody else's).
_CONFIRM = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or not v then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


class CeleryDispatcher:
    """Claims the event's dedupe key in Redis, then enqueues it for the workers.

    The answer to Postmark says "queued", not "handled": plugin failures are
    retried by the workers, and a plugin's :class:`~postmark_kit.receiver.Reject`
    can no longer turn into a 403.  Refuses (:class:`ConfigError`) a Redis that
    is not durable; when Redis cannot be reached at start-up the check is made
    before the first event is accepted.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.settings = settings = CelerySettings.from_mapping(config)
        for warning in settings.warnings():
            log.warning("%s", warning)
        self.app = make_celery(dict(config))
        self.redis = settings.connect()
        self.broker = (
            self.redis
            if settings.broker == settings.redis_url
            else (settings.connect(settings.broker))
        )
        # EVALSHA, loaded again by redis-py after a Redis restart (NOSCRIPT).
        self._claim = self.redis.register_script(_CLAIM)
        self._confirm = self.redis.register_script(_CONFIRM)
        self._release = self.redis.register_script(_RELEASE)
        self._checked = False
        self._check_lock = threading.Lock()
        self._ensure_durable(at_startup=True)

    def _ensure_durable(self, at_startup: bool = False) -> None:
        """Raise :class:`ConfigError` for an unsafe Redis; remember a successful check."""
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            reason = _check_durability(self.settings)
            if reason is None:
                self._checked = True
            elif at_startup:
                log.warning("%s: Redis durability is checked before the first event", reason)
            else:
                raise DispatchError(reason)

    def health(self) -> str | None:
        """``None`` when the broker and the state store answer ``PING``; else what is wrong."""
        for role, conn in (("broker", self.broker), ("state store", self.redis)):
            try:
                conn.ping()
                memory = conn.info("memory")
            except redis.RedisError as exc:
                return _redis_fault(role, exc)
            limit = int(memory.get("maxmemory") or 0)
            if limit and int(memory.get("used_memory") or 0) >= limit:
                return f"the {role} Redis is out of memory (maxmemory reached)"
        try:
            self._ensure_durable()
        except (ConfigError, DispatchError) as exc:
            return str(exc)
        return None

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult:
        settings = self.settings
        try:
            self._ensure_durable()
        except ConfigError as exc:
            log.error("%s", exc)
            raise DispatchError("Redis is not configured for durability (see the log)") from exc
        seen = settings.seen_key(webhook.dedupe_key)
        # A pending claim first (a token, a few seconds), confirmed once the task
        # is queued.  A claim that runs late in a stalled Redis, after this
        # request was refused, lapses long before Postmark's retry; a retry that
        # meets a pending claim is refused too, never answered "duplicate".
        pending = f"pending:{uuid.uuid4().hex}"
        try:
            claimed = self._claim(keys=[seen], args=[pending, settings.pending_claim_ms])
        except redis.RedisError as exc:
            reason = _redis_fault("dedupe store", exc)
            log.error("claim of %s failed: %s", webhook.dedupe_key, reason)
            raise DispatchError(reason) from exc
        if claimed == 0:
            log.info("%s event %s is a repeat: not enqueued", webhook.kind, webhook.dedupe_key)
            return DispatchResult(duplicate=True)
        if claimed == 2:
            raise DispatchError("the event is being queued by another request")
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
            cause = exc.__cause__ or exc.__context__ or exc
            reason = (
                _redis_fault("broker", cause)
                if isinstance(cause, redis.exceptions.OutOfMemoryError)
                else "the event could not be queued"
            )
            log.error("enqueue of %s event %s failed: %s", webhook.kind, webhook.dedupe_key, exc)
            try:
                self._release(keys=[seen], args=[pending])
            except redis.RedisError:
                # The pending claim lapses within seconds.
                log.exception("could not drop the dedupe claim for %s", webhook.dedupe_key)
            raise DispatchError(reason) from exc
        try:
            confirmed = f"queued:{webhook.received_at.isoformat()}"
            self._confirm(keys=[seen], args=[pending, confirmed, settings.dedupe_ttl])
        except redis.RedisError:
            # Queued all the same: the workers' per-plugin done-sets still stop a repeat.
            log.exception("could not confirm the dedupe claim for %s", webhook.dedupe_key)
        return DispatchResult()

    def close(self) -> None:
        self.redis.close()
        if self.broker is not self.redis:
            self.broker.close()
        self.app.close()


def dispatcher_factory(
    pm: pluggy.PluginManager, client: ServerClient | None, config: Mapping[str, Any]
) -> CeleryDispatcher:
    """``POSTMARK_DISPATCH=celery``: plugins run in the workers, not in the receiver."""
    return CeleryDispatcher(config)


# -- dead letters ---------------------------------------------------------------


def _dead(conn: redis.Redis, key: str) -> Iterator[DeadLetter]:
    for raw in conn.lrange(key, 0, -1):
        entry = json.loads(raw)
        message = entry["message"]
        yield DeadLetter(
            plugin=entry["plugin"],
            hook=entry.get("hook"),
            error=entry["error"],
            attempts=entry["attempts"],
            failed_at=datetime.fromisoformat(entry["failed_at"]),
            kind=str(message.get("kind", "")),
            dedupe_key=str(message.get("dedupe_key")),
            message=message,
        )


def dead_letters(config: Mapping[str, Any] | None = None) -> list[DeadLetter]:
    """The dead-letter list, oldest first (``config``: ``POSTMARK_*``; ``None``: environment).

    Entries a replay has taken but not queued yet (it was interrupted) are listed too.
    """
    settings = CelerySettings.from_mapping(_worker_config(config))
    with settings.connect() as conn:
        return [*_dead(conn, settings.dead_key), *_dead(conn, settings.replaying_key)]


def _group(entries: Iterable[bytes]) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """Dead-letter entries by event: its message and the plugins that gave up."""
    events: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for entry in entries:
        record = json.loads(entry)
        message = record["message"]
        key = str(message.get("dedupe_key"))
        _message, plugins = events.setdefault(key, (message, []))
        if record["plugin"] not in plugins:
            plugins.append(record["plugin"])
    return events


def replay_dead_letters(config: Mapping[str, Any] | None = None) -> int:
    """Enqueue the events of the dead-letter list again; returns how many events.

    Each event goes only to the plugins that gave up on it (named in the task,
    so also once its done-set has expired), with their attempt counts reset.
    Entries are taken off the list atomically (``LMOVE``), so two replays at
    once never queue an event twice; one leaves the replay's list only once it
    is back in the broker, and goes back to the dead letters if it cannot be
    queued.  A worker without one of those plugins dead-letters it again.
    """
    raw = _worker_config(config)
    settings = CelerySettings.from_mapping(raw)
    app = make_celery(raw)
    sent = 0
    try:
        with settings.connect() as conn:
            taken: list[bytes] = []
            while True:
                entry = conn.lmove(settings.dead_key, settings.replaying_key, "LEFT", "RIGHT")
                if entry is None:
                    break
                taken.append(entry)
            events = _group(taken)
            try:
                for key, (message, plugins) in events.items():
                    workers_only = [p for p in plugins if p != "<worker>"]
                    replay = dict(message)
                    if workers_only and len(workers_only) == len(plugins):
                        replay["only"] = workers_only
                    fields = [f"{p}{suffix}" for p in plugins for suffix in ("", ":error", ":last")]
                    conn.hdel(settings.tries_key(key), *fields)
                    app.send_task(TASK_NAME, args=[replay], queue=settings.queue)
                    sent += 1
                    for entry in taken:
                        if str(json.loads(entry)["message"].get("dedupe_key")) == key:
                            conn.lrem(settings.replaying_key, 1, entry)
            except BaseException:
                # What was not queued goes back to the dead letters.
                for entry in taken:
                    if conn.lrem(settings.replaying_key, 1, entry):
                        conn.rpush(settings.dead_key, entry)
                raise
    finally:
        app.close()
    return sent


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
