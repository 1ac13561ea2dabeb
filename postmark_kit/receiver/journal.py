"""Journal dispatch: commit the raw event to SQLite before answering 200, run plugins after.

Postmark retries a failed webhook for hours and then gives up, so an event we
acknowledged and then lost is lost for good.  In ``journal`` mode the receiver
answers 200 only once the raw body is committed to a SQLite file (WAL,
``synchronous=FULL``); a worker thread in each receiver process then claims
events and runs the plugins.  A plugin that raises is retried on its own, with
exponential backoff, and never re-runs a plugin that already succeeded; after
``POSTMARK_JOURNAL_MAX_ATTEMPTS`` failures the (event, plugin) pair goes to the
dead-letter table, where ``postmark-kit events failed`` lists it and
``postmark-kit events replay`` queues it again.

The dedupe key (``X-PM-Webhook-Trace-Id``, else the type-specific key) is
unique in the journal, so a Postmark retry of an event already journaled is
acknowledged and dropped: no plugin sees it twice.  A deliberate replay does.

Delivery to plugins is at least once: a process killed after a plugin returned
but before the worker recorded it runs that plugin again after restart.  Claims
carry the owner's pid; a claim whose process is gone (same host) or older than
``POSTMARK_JOURNAL_LEASE`` is taken over by the next worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy

from ..events import Event, InvalidEventError, parse_event
from .config import ConfigError
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

__all__ = [
    "DEFAULT_JOURNAL",
    "JournalDispatcher",
    "JournalEntry",
    "JournalError",
    "JournalSettings",
    "WebhookJournal",
]

log = logging.getLogger("postmark_kit.receiver.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL,
    trace_id          TEXT,
    received_at       TEXT NOT NULL,
    remote_addr       TEXT,
    retries_remaining INTEGER,
    body              BLOB NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending',
    due               REAL NOT NULL,
    claimed_by        TEXT,
    claimed_at        REAL,
    replays           INTEGER NOT NULL DEFAULT 0,
    finished_at       REAL,
    rounds            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS journal_due ON journal (state, due);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id   INTEGER NOT NULL,
    plugin     TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    due        REAL NOT NULL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (event_id, plugin)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  INTEGER NOT NULL,
    plugin    TEXT NOT NULL,
    hook      TEXT,
    attempts  INTEGER NOT NULL,
    error     TEXT NOT NULL,
    failed_at REAL NOT NULL,
    UNIQUE (event_id, plugin)
);
"""

#: A plugin name for failures that are not a plugin's (the stored body no longer parses).
PARSE_FAILURE = "<parse>"

_HOST = socket.gethostname()

#: Seconds a writer waits for the lock before the error surfaces (a 5xx: Postmark retries).
_BUSY_WAIT = 30.0

_T = TypeVar("_T")

#: Events this process journaled and its worker has not taken yet, kept parsed
#: (small bodies only: inbound mail with attachments is parsed again instead).
_PARSED_CACHE = 512
_PARSED_CACHE_BODY = 32 * 1024


#: The journal file when ``POSTMARK_JOURNAL`` is unset (relative: the working directory).
DEFAULT_JOURNAL = "postmark-journal.sqlite3"


class JournalError(RuntimeError):
    """The journal file is missing or unusable."""


def _float(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {number:g}")
    return number


@attrs.frozen
class JournalSettings:
    """The ``POSTMARK_JOURNAL*`` settings."""

    #: SQLite file shared by every receiver process on this host.
    path: str = DEFAULT_JOURNAL
    #: Failures of one plugin on one event before it is dead-lettered.
    max_attempts: int = 8
    #: Seconds before the first retry; doubled each time, capped by ``retry_max``.
    retry_base: float = 5.0
    retry_max: float = 3600.0
    #: Seconds after which another worker takes over a claimed event.
    lease: float = 300.0
    #: Seconds between looks for due work (new events in this process wake it at once).
    poll: float = 1.0
    #: Run a worker thread in this process (off: this process only journals).
    worker: bool = True
    #: Days finished events are kept (for dedupe and audit); dead ones stay until replayed.
    retention_days: float = 7.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> JournalSettings:
        from .config import as_bool as _bool
        from .config import as_int as _int

        def get(key: str, default: Any) -> Any:
            value = raw.get(key)
            return default if value is None or value == "" else value

        # Not ``cls.path``: on a slotted attrs class that is the slot descriptor.
        path = str(get("POSTMARK_JOURNAL", DEFAULT_JOURNAL))
        return cls(
            path=path,
            max_attempts=_int(
                "POSTMARK_JOURNAL_MAX_ATTEMPTS", get("POSTMARK_JOURNAL_MAX_ATTEMPTS", 8), 1, 1000
            ),
            retry_base=_float(
                "POSTMARK_JOURNAL_RETRY_BASE", get("POSTMARK_JOURNAL_RETRY_BASE", 5.0), 0, 86400
            ),
            retry_max=_float(
                "POSTMARK_JOURNAL_RETRY_MAX",
                get("POSTMARK_JOURNAL_RETRY_MAX", 3600.0),
                0,
                7 * 86400,
            ),
            lease=_float("POSTMARK_JOURNAL_LEASE", get("POSTMARK_JOURNAL_LEASE", 300.0), 1, 86400),
            poll=_float("POSTMARK_JOURNAL_POLL", get("POSTMARK_JOURNAL_POLL", 1.0), 0.001, 3600),
            worker=_bool("POSTMARK_JOURNAL_WORKER", get("POSTMARK_JOURNAL_WORKER", True)),
            retention_days=_float(
                "POSTMARK_JOURNAL_RETENTION_DAYS",
                get("POSTMARK_JOURNAL_RETENTION_DAYS", 7.0),
                0,
                36500,
            ),
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (jittered so workers spread out)."""
        delay = min(self.retry_max, self.retry_base * 2.0 ** max(attempts - 1, 0))
        return delay * random.uniform(0.8, 1.2)


@attrs.frozen
class JournalEntry:
    """One journaled webhook."""

    id: int
    dedupe_key: str
    kind: str
    trace_id: str | None
    received_at: datetime
    remote_addr: str | None
    retries_remaining: int | None
    body: bytes = attrs.field(repr=False)
    state: str = "pending"
    replays: int = 0
    #: Dispatch rounds recorded so far (0: no plugin has seen it yet).
    rounds: int = 0

    def webhook(self) -> Webhook:
        """The :class:`Webhook` plugins get, rebuilt from the journal."""
        payload = json.loads(self.body.decode("utf-8"))
        if not isinstance(payload, dict):
            raise InvalidEventError("journaled body is not a JSON object")
        return Webhook(
            body=self.body,
            payload=payload,
            dedupe_key=self.dedupe_key,
            kind=self.kind,
            received_at=self.received_at,
            trace_id=self.trace_id,
            retries_remaining=self.retries_remaining,
            remote_addr=self.remote_addr,
        )


_ENTRY_COLUMNS = (
    "id, dedupe_key, kind, trace_id, received_at, remote_addr, retries_remaining, body,"
    " state, replays, rounds"
)


class _PendingAppend:
    __slots__ = ("done", "error", "result", "row")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row
        self.done = threading.Event()
        self.result: int | None = None
        self.error: Exception | None = None


@attrs.frozen
class _Outcome:
    """One round of plugin calls on an event, to record."""

    event_id: int
    succeeded: tuple[str, ...] = ()
    #: plugin -> (hook, error text)
    failed: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    #: The event's first round: nothing recorded for it yet.
    first: bool = False


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        id=row[0],
        dedupe_key=row[1],
        kind=row[2],
        trace_id=row[3],
        received_at=datetime.fromisoformat(row[4]),
        remote_addr=row[5],
        retries_remaining=row[6],
        body=bytes(row[7]),
        state=row[8],
        replays=row[9],
        rounds=row[10],
    )


def _owner_alive(owner: str | None) -> bool:
    """Whether the process named in a claim may still be working on it."""
    if not owner:
        return False
    host, _, rest = owner.partition("|")
    pid_text, _, _token = rest.partition("|")
    if host != _HOST:
        return True  # another machine: only the lease can tell
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process nobody reaped yet (containers whose init does not reap) is a zombie.
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class WebhookJournal:
    """The SQLite journal: append (durably), claim, record outcomes, dead letters, replay.

    One connection per instance, guarded by a lock; open one per thread that
    writes concurrently (the dispatcher keeps one for requests and one for its
    worker), and one per process.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = True, durable: bool = True
    ) -> None:
        self.path = os.fspath(path)
        if not create and not os.path.exists(self.path):
            raise JournalError(f"no journal at {self.path}")
        self._lock = threading.Lock()
        self._group_lock = threading.Lock()
        self._queue: list[_PendingAppend] = []
        self._committing = False
        try:
            # While opening, SQLite's own busy handler: after a crash the first
            # connection recovers the WAL under an exclusive lock, and every
            # receiver process restarting at once must wait for it, not fail.
            self._db = sqlite3.connect(
                self.path, timeout=_BUSY_WAIT, check_same_thread=False, isolation_level=None
            )
            # FULL: a commit is on disk before the 200 goes back, even on power loss.
            self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            if create:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.executescript(_SCHEMA)
            self._db.create_function("pk_owner_alive", 1, _owner_alive, deterministic=False)
            # Then none: it sleeps 1, 2, 5, 10... ms per try, which turns the
            # sub-millisecond waits of several processes committing every
            # request into many milliseconds.  _begin/_read wait in short steps.
            self._db.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        self._closed = False

    def __repr__(self) -> str:
        return f"WebhookJournal({self.path!r})"

    def _retry(self, action: Callable[[], _T]) -> _T:
        delay, deadline = 0.0001, time.monotonic() + _BUSY_WAIT
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``: take the write lock now, waiting for it in short steps."""
        self._retry(lambda: self._db.execute("BEGIN IMMEDIATE"))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under this journal's lock: committed, or rolled back on any error.

        The one place that says BEGIN IMMEDIATE / COMMIT / ROLLBACK.
        """
        with self._lock:
            self._begin()
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._retry(lambda: self._db.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # -- the request side ------------------------------------------------------

    def append(self, webhook: Webhook) -> int | None:
        """Journal ``webhook``, committed; its id, or ``None`` when its key is already there.

        Group commit: threads appending at once share one transaction and one
        fsync.  The first becomes the leader and commits whatever has queued
        up (its own row included) until the queue is empty; the others wait
        for their row's result.  Each caller still returns only once its row
        is on disk.
        """
        pending = _PendingAppend(
            (
                webhook.dedupe_key,
                webhook.kind,
                webhook.trace_id,
                webhook.received_at.astimezone(UTC).isoformat(),
                webhook.remote_addr,
                webhook.retries_remaining,
                webhook.body,
                time.time(),
            )
        )
        with self._group_lock:
            self._queue.append(pending)
            leader = not self._committing
            self._committing = True
        if leader:
            while True:
                with self._group_lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._committing = False
                        break
                self._commit(batch)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _commit(self, batch: list[_PendingAppend]) -> None:
        try:
            with self._transaction():
                for item in batch:
                    cur = self._db.execute(
                        "INSERT INTO journal (dedupe_key, kind, trace_id, received_at,"
                        " remote_addr, retries_remaining, body, due)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
                        item.row,
                    )
                    item.result = cur.lastrowid if cur.rowcount == 1 else None
        except Exception as exc:
            for item in batch:
                item.result, item.error = None, exc
        finally:
            for item in batch:
                item.done.set()

    # -- the worker side -------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease: float) -> list[JournalEntry]:
        """Take up to ``limit`` due events for ``owner`` (oldest first)."""
        now = time.time()
        with self._transaction():
            rows = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM journal"  # noqa: S608
                " WHERE state = 'pending' AND due <= ? AND (claimed_by IS NULL"
                " OR claimed_at < ? OR NOT pk_owner_alive(claimed_by))"
                " ORDER BY due, id LIMIT ?",
                (now, now - lease, limit),
            ).fetchall()
            if rows:
                self._db.executemany(
                    "UPDATE journal SET claimed_by = ?, claimed_at = ? WHERE id = ?",
                    [(owner, now, r[0]) for r in rows],
                )
        return [_entry(r) for r in rows]

    def release(self, owner: str) -> None:
        """Hand back what ``owner`` claimed but did not finish (a worker stopping)."""
        with self._lock:
            self._retry(
                lambda: self._db.execute(
                    "UPDATE journal SET claimed_by = NULL, claimed_at = NULL"
                    " WHERE claimed_by = ? AND state = 'pending'",
                    (owner,),
                )
            )

    def deliveries(self, event_id: int) -> dict[str, tuple[str, int, float]]:
        """``plugin -> (state, attempts, due)`` recorded for an event."""
        with self._lock:
            rows = self._read(
                "SELECT plugin, state, attempts, due FROM deliveries WHERE event_id = ?",
                (event_id,),
            )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def finish(
        self,
        event_id: int,
        *,
        succeeded: Iterable[str],
        failed: Mapping[str, tuple[str, str]],
        settings: JournalSettings,
        first: bool = False,
    ) -> str:
        """Record one round of plugin calls and reschedule or close the event.

        ``failed`` maps plugin -> (hook, error text).  Returns the event's new
        state: ``pending`` (a retry is due later), ``done`` or ``dead``.
        """
        outcome = _Outcome(event_id, tuple(succeeded), dict(failed), first)
        with self._transaction():
            state = self._finish_one(outcome, settings, time.time())
        return state

    def _finish_one(self, outcome: _Outcome, settings: JournalSettings, now: float) -> str:
        event_id = outcome.event_id
        if outcome.first and not outcome.failed:
            # The common case: every plugin took it at once.  Per-plugin rows only
            # matter for retries, so none are written (a replay reaches every plugin).
            self._db.execute(
                "UPDATE journal SET state = 'done', claimed_by = NULL, claimed_at = NULL,"
                " finished_at = ?, rounds = rounds + 1 WHERE id = ?",
                (now, event_id),
            )
            return "done"
        known = {
            r[0]: r[1]
            for r in self._db.execute(
                "SELECT plugin, attempts FROM deliveries WHERE event_id = ?", (event_id,)
            )
        }
        for plugin in outcome.succeeded:
            self._db.execute(
                "INSERT INTO deliveries (event_id, plugin, state, attempts, due,"
                " last_error, updated_at) VALUES (?, ?, 'done', ?, ?, NULL, ?)"
                " ON CONFLICT (event_id, plugin) DO UPDATE SET state = 'done',"
                " attempts = excluded.attempts, updated_at = excluded.updated_at",
                (event_id, plugin, known.get(plugin, 0) + 1, now, now),
            )
        for plugin, (hook, error) in outcome.failed.items():
            attempts = known.get(plugin, 0) + 1
            dead = attempts >= settings.max_attempts
            due = now if dead else now + settings.backoff(attempts)
            self._db.execute(
                "INSERT INTO deliveries (event_id, plugin, state, attempts, due,"
                " last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, plugin) DO UPDATE SET state = excluded.state,"
                " attempts = excluded.attempts, due = excluded.due,"
                " last_error = excluded.last_error, updated_at = excluded.updated_at",
                (event_id, plugin, "dead" if dead else "retry", attempts, due, error, now),
            )
            if dead:
                self._db.execute(
                    "INSERT INTO dead_letters (event_id, plugin, hook, attempts, error,"
                    " failed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, plugin)"
                    " DO UPDATE SET hook = excluded.hook, attempts = excluded.attempts,"
                    " error = excluded.error, failed_at = excluded.failed_at",
                    (event_id, plugin, hook, attempts, error, now),
                )
        by_state = dict(
            self._db.execute(
                "SELECT state, MIN(due) FROM deliveries WHERE event_id = ? GROUP BY state",
                (event_id,),
            ).fetchall()
        )
        if "retry" in by_state:
            state, due = "pending", float(by_state["retry"])
        else:
            state, due = ("dead" if "dead" in by_state else "done"), now
        self._db.execute(
            "UPDATE journal SET state = ?, due = ?, claimed_by = NULL, claimed_at = NULL,"
            " finished_at = ?, rounds = rounds + 1 WHERE id = ?",
            (state, due, None if state == "pending" else now, event_id),
        )
        return state

    def prune(self, older_than_days: float) -> int:
        """Forget finished events older than that (their dedupe keys go with them)."""
        cutoff = time.time() - older_than_days * 86400
        with self._transaction():
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM journal WHERE state = 'done' AND finished_at < ?",
                    (cutoff,),
                )
            ]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                self._db.execute(f"DELETE FROM deliveries WHERE event_id IN ({marks})", part)  # noqa: S608
                self._db.execute(f"DELETE FROM journal WHERE id IN ({marks})", part)  # noqa: S608
        return len(ids)

    # -- inspection and replay ---------------------------------------------------

    def get(self, event_id: int) -> JournalEntry | None:
        with self._lock:
            rows = self._read(
                f"SELECT {_ENTRY_COLUMNS} FROM journal WHERE id = ?",  # noqa: S608
                (event_id,),
            )
        return _entry(rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        """Events per state (``pending``, ``done``, ``dead``) and ``dead_letters``."""
        with self._lock:
            rows = self._read("SELECT state, COUNT(*) FROM journal GROUP BY state")
            ((dead_letters,),) = self._read("SELECT COUNT(*) FROM dead_letters")
        out = {"pending": 0, "done": 0, "dead": 0}
        out.update({r[0]: int(r[1]) for r in rows})
        out["dead_letters"] = int(dead_letters)
        return out

    def dead_letters(self, *, limit: int | None = None) -> list[DeadLetter]:
        """Given-up (event, plugin) pairs, oldest first."""
        sql = (
            "SELECT d.id, d.event_id, d.plugin, d.hook, d.attempts, d.error, d.failed_at,"
            " j.kind, j.dedupe_key FROM dead_letters d JOIN journal j ON j.id = d.event_id"
            " ORDER BY d.id"
        )
        args: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            args = (int(limit),)
        with self._lock:
            rows = self._read(sql, args)
        return [
            DeadLetter(
                id=r[0],
                event_id=r[1],
                plugin=r[2],
                hook=r[3],
                attempts=r[4],
                error=r[5],
                failed_at=datetime.fromtimestamp(r[6], UTC),
                kind=r[7],
                dedupe_key=r[8],
            )
            for r in rows
        ]

    def replay(self, event_ids: Iterable[int] | None = None) -> list[int]:
        """Queue events again; the ids queued (unknown ids are skipped).

        ``None`` replays every event with dead letters, to the plugins that gave
        up on it.  An event named by id goes to its dead-lettered plugins if it
        has any, otherwise to every plugin (a deliberate replay: plugins see it
        again).
        """
        now = time.time()
        with self._transaction():
            if event_ids is None:
                ids = [r[0] for r in self._db.execute("SELECT DISTINCT event_id FROM dead_letters")]
            else:
                wanted = list(dict.fromkeys(int(i) for i in event_ids))
                ids = [
                    i
                    for i in wanted
                    if self._db.execute("SELECT 1 FROM journal WHERE id = ?", (i,)).fetchone()
                ]
            for event_id in ids:
                dead = self._db.execute(
                    "SELECT COUNT(*) FROM dead_letters WHERE event_id = ?", (event_id,)
                ).fetchone()[0]
                if dead:
                    self._db.execute(
                        "DELETE FROM deliveries WHERE event_id = ? AND state = 'dead'",
                        (event_id,),
                    )
                    self._db.execute("DELETE FROM dead_letters WHERE event_id = ?", (event_id,))
                else:
                    self._db.execute("DELETE FROM deliveries WHERE event_id = ?", (event_id,))
                self._db.execute(
                    "UPDATE journal SET state = 'pending', due = ?, claimed_by = NULL,"
                    " claimed_at = NULL, finished_at = NULL, replays = replays + 1"
                    " WHERE id = ?",
                    (now, event_id),
                )
        return ids


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:2000]


class JournalDispatcher:
    """``POSTMARK_DISPATCH=journal``: journal in the request, plugins in a worker thread."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        client: ServerClient | None,
        settings: JournalSettings,
    ) -> None:
        self.pm = pm
        self.client = client
        self.settings = settings
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._owner = f"{_HOST}|{self._pid}|{uuid.uuid4().hex}"
        self.journal = WebhookJournal(self.settings.path)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._parsed: dict[int, tuple[Event, Webhook]] = {}
        self._thread: threading.Thread | None = None
        if self.settings.worker:
            self._worker_journal = WebhookJournal(self.settings.path, durable=False)
            self._thread = threading.Thread(
                target=self._run, name="postmark-journal-worker", daemon=True
            )
            self._thread.start()

    def _check_fork(self) -> None:
        # A worker thread does not survive fork (gunicorn --preload): start a new one.
        if os.getpid() != self._pid:
            self._start()

    # -- Dispatcher ---------------------------------------------------------------

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult:
        self._check_fork()
        try:
            event_id = self.journal.append(webhook)
        except sqlite3.Error as exc:
            raise DispatchError("the journal could not be written") from exc
        if event_id is None:
            log.info("duplicate %s event %s: already journaled", webhook.kind, webhook.dedupe_key)
            return DispatchResult(duplicate=True)
        if self._thread is not None and len(webhook.body) <= _PARSED_CACHE_BODY:
            # This process's worker most likely takes it: spare it the second parse.
            if len(self._parsed) >= _PARSED_CACHE:
                self._parsed.clear()  # others' workers took those: forget them
            self._parsed[event_id] = (event, webhook)
        self._wake.set()
        return DispatchResult()

    def close(self) -> None:
        """Stop the worker (it finishes the event in hand) and close the journal."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=30)
        if self._thread is not None:
            self._worker_journal.close()
        self.journal.close()

    # -- the worker ---------------------------------------------------------------

    def drain(self, *, timeout: float = 30.0) -> int:
        """Process due events in the calling thread until none is left; the count processed.

        For tests, scripts and ``events replay --now``; the worker thread does
        the same in the background.
        """
        journal = self._worker_journal if self._thread is not None else self.journal
        deadline = time.monotonic() + timeout
        done = 0
        while time.monotonic() < deadline:
            batch = journal.claim(self._owner, limit=32, lease=self.settings.lease)
            if not batch:
                break
            for entry in batch:
                self._process(journal, entry)
                done += 1
        return done

    def _run(self) -> None:
        journal = self._worker_journal
        last_prune = 0.0
        while not self._stop.is_set():
            try:
                batch = journal.claim(self._owner, limit=32, lease=self.settings.lease)
            except Exception:
                log.exception("journal claim failed; retrying in %.1fs", self.settings.poll)
                self._stop.wait(self.settings.poll)
                continue
            for entry in batch:
                if self._stop.is_set():
                    break  # the rest stay claimed by a live pid until the lease ends
                try:
                    self._process(journal, entry)
                except Exception:
                    log.exception("journal worker failed on event %s", entry.id)
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                try:
                    journal.prune(self.settings.retention_days)
                except Exception:
                    log.exception("journal prune failed")
            if not batch:
                self._wake.wait(self.settings.poll)
                self._wake.clear()
        try:
            journal.release(self._owner)
        except sqlite3.Error:
            log.exception("could not release journal claims")

    def _process(self, journal: WebhookJournal, entry: JournalEntry) -> None:
        parsed = self._parsed.pop(entry.id, None)
        try:
            if parsed is not None and parsed[1].dedupe_key == entry.dedupe_key:
                event, webhook = parsed  # journaled by this process: parsed already
            else:
                webhook = entry.webhook()
                event = parse_event(webhook.payload)
        except (ValueError, InvalidEventError, RecursionError) as exc:
            journal.finish(
                entry.id,
                succeeded=(),
                failed={PARSE_FAILURE: ("", _error_text(exc))},
                settings=attrs.evolve(self.settings, max_attempts=1),
            )
            return
        now = time.time()
        recorded = journal.deliveries(entry.id) if entry.rounds else {}
        todo = [
            name
            for name in event_plugins(self.pm, entry.kind)
            if name not in recorded or (recorded[name][0] == "retry" and recorded[name][2] <= now)
        ]
        if not todo:
            journal.finish(entry.id, succeeded=(), failed={}, settings=self.settings)
            return
        result = call_event_hooks(self.pm, event, self.client, webhook, only=todo)
        if result.rejection is not None:
            log.info(
                "%s event %s rejected after journaling (%s); nothing to retry",
                entry.kind,
                entry.dedupe_key,
                result.rejection.reason,
            )
        failed: dict[str, tuple[str, str]] = {}
        for failure in result.failures:
            failed.setdefault(failure.plugin, (failure.hook, _error_text(failure.error)))
        state = journal.finish(
            entry.id,
            succeeded=result.succeeded,
            failed=failed,
            settings=self.settings,
            first=not entry.rounds,
        )
        if state == "dead":
            log.error(
                "%s event %s dead-lettered for plugin(s) %s",
                entry.kind,
                entry.dedupe_key,
                ", ".join(sorted(failed)),
            )


def journal_dispatcher(
    pm: pluggy.PluginManager, client: ServerClient | None, config: Mapping[str, Any]
) -> JournalDispatcher:
    """The ``journal`` entry of :data:`~postmark_kit.receiver.dispatch.DISPATCHERS`."""
    return JournalDispatcher(pm, client, JournalSettings.from_mapping(config))
