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
import re
import socket
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs
import pluggy

from .._sqlite import use_wal, while_locked, write_transaction
from ..events import Event, InvalidEventError, parse_event
from ..settings import KEEP_BODY_WITH_STORE, SettingFields, setting
from ..settings import default as default_setting
from .dispatch import (
    DeadLetter,
    DispatchError,
    DispatchResult,
    PluginRunner,
    Webhook,
    call_event_hooks,
    event_hook_impls,
    plugin_timeout,
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

#: One row per (event, plugin, hook implementation) once an event needed a retry.
_DELIVERIES_TABLE = """
CREATE TABLE IF NOT EXISTS deliveries (
    event_id   INTEGER NOT NULL,
    plugin     TEXT NOT NULL,
    hook       TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    due        REAL NOT NULL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    due_mono   REAL,
    boot       TEXT,
    PRIMARY KEY (event_id, plugin, hook)
)"""

#: Bodies over ``_BODY_IN_PIECES`` (their ``journal.body`` is empty).  A table of
#: their own: written in pieces into a ``zeroblob`` that SQLite leaves unmaterialized
#: only in a row's last column, and not rewritten by each update of the event's row.
_BODIES_TABLE = """
CREATE TABLE IF NOT EXISTS journal_bodies (
    event_id INTEGER PRIMARY KEY,
    body     BLOB NOT NULL
)"""

_SCHEMA = (
    _DELIVERIES_TABLE
    + """;
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
    rounds            INTEGER NOT NULL DEFAULT 0,
    due_mono          REAL,
    claimed_mono      REAL,
    boot              TEXT
);
CREATE INDEX IF NOT EXISTS journal_due ON journal (state, due);
CREATE INDEX IF NOT EXISTS journal_state_kind ON journal (state, kind);
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
CREATE TABLE IF NOT EXISTS heartbeat (
    owner TEXT PRIMARY KEY,
    at    REAL NOT NULL
);
"""
    + _BODIES_TABLE
)

#: The tables and indexes ``_SCHEMA`` creates.
_SCHEMA_NAMES = frozenset(re.findall(r"IF NOT EXISTS (\w+)", _SCHEMA))

#: A plugin name for failures that are not a plugin's (the stored body no longer parses).
PARSE_FAILURE = "<parse>"

#: The error recorded for a delivery whose plugin this process does not load.
NOT_LOADED = "PluginNotLoaded"


def _boot_id() -> str | None:
    """This boot of this host: monotonic times written on it compare with each other."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f"{socket.gethostname()}|{f.read().strip()}"
    except OSError:
        return None  # no way to tell boots apart: wall-clock times only


class Clock:
    """Wall clock, monotonic clock and boot id of the journal (inject one in tests).

    Times that must survive a restart are stored in wall-clock seconds *and*
    in monotonic seconds with the boot they were taken on.  On the same boot
    the monotonic value decides (a wall-clock step, forward or back, changes
    nothing); after a reboot the wall-clock one does.
    """

    def __init__(self) -> None:
        self.boot = _boot_id()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


_CLOCK = Clock()

#: An integer SQLite can hold; a header claiming more is not trusted (stored as unknown).
_SQLITE_INT = 2**63 - 1

_HOST = socket.gethostname()

#: Bytes the -wal file is cut back to after a checkpoint (``PRAGMA journal_size_limit``).
_WAL_LIMIT = 4 * 1024 * 1024
#: A -wal file past this makes the worker checkpoint it (waiting for readers).
_WAL_CHECKPOINT_AT = 4 * 1024 * 1024

#: Seconds a writer waits for the lock before the error surfaces (a 5xx: Postmark retries).
_BUSY_WAIT = 30.0

_T = TypeVar("_T")

#: Events this process journaled and its worker has not taken yet, kept parsed
#: (small bodies only: inbound mail with attachments is parsed again instead).
_PARSED_CACHE = 512
_PARSED_CACHE_BODY = 32 * 1024


#: The journal file when ``POSTMARK_JOURNAL`` is unset (relative: the working directory).
DEFAULT_JOURNAL: str = setting("POSTMARK_JOURNAL").default


class JournalError(RuntimeError):
    """The journal file is missing or unusable."""


@attrs.frozen
class JournalSettings:
    """The ``POSTMARK_JOURNAL*`` settings (declared in :mod:`postmark_kit.settings`)."""

    #: SQLite file shared by every receiver process on this host.
    path: str = DEFAULT_JOURNAL
    #: Failures of one plugin on one event before it is dead-lettered.
    max_attempts: int = default_setting("POSTMARK_JOURNAL_MAX_ATTEMPTS")
    #: Seconds before the first retry; doubled each time, capped by ``retry_max``.
    retry_base: float = default_setting("POSTMARK_JOURNAL_RETRY_BASE")
    retry_max: float = default_setting("POSTMARK_JOURNAL_RETRY_MAX")
    #: Seconds after which another worker takes over a claimed event.
    lease: float = default_setting("POSTMARK_JOURNAL_LEASE")
    #: Seconds between looks for due work (new events in this process wake it at once).
    poll: float = default_setting("POSTMARK_JOURNAL_POLL")
    #: Run a worker thread in this process (off: this process only journals).
    worker: bool = default_setting("POSTMARK_JOURNAL_WORKER")
    #: Days finished events are kept (for dedupe and audit); dead ones stay until replayed.
    retention_days: float = default_setting("POSTMARK_JOURNAL_RETENTION_DAYS")
    #: Seconds a due event may wait for a worker before ``/health`` answers 503.
    max_delay: float = default_setting("POSTMARK_JOURNAL_MAX_DELAY")
    #: A finished event's body over this many bytes is dropped from the journal
    #: (``None``: kept until pruned).  Defaults to 64 KiB when an event store keeps
    #: every body anyway: a 40 MB inbound message is then not on disk twice.
    keep_body_bytes: int | None = None

    #: Which settings feed which fields (each its :attr:`~postmark_kit.settings.Setting.field`).
    setting_fields: ClassVar[SettingFields] = SettingFields(
        ("journal",),
        elsewhere=("POSTMARK_PLUGIN_TIMEOUT",),  # dispatch.plugin_timeout
    )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> JournalSettings:
        fields = cls.setting_fields.kwargs(cls.setting_fields.read(raw))
        fields["path"] = str(fields["path"])  # as the receiver's own _journal_path
        if setting("POSTMARK_JOURNAL_KEEP_BODY_BYTES").is_unset(
            raw.get("POSTMARK_JOURNAL_KEEP_BODY_BYTES")
        ):
            fields["keep_body_bytes"] = (
                KEEP_BODY_WITH_STORE if raw.get("POSTMARK_EVENT_STORE") else None
            )
        return cls(**fields)

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
    "id, dedupe_key, kind, trace_id, received_at, remote_addr, retries_remaining,"
    " COALESCE((SELECT b.body FROM journal_bodies b WHERE b.event_id = journal.id), body),"
    " state, replays, rounds"
)
#: For a journal written before ``journal_bodies`` existed, opened with ``create=False``.
_ENTRY_COLUMNS_V1 = (
    "id, dedupe_key, kind, trace_id, received_at, remote_addr, retries_remaining, body,"
    " state, replays, rounds"
)


class _PendingAppend:
    __slots__ = ("done", "error", "result", "row", "source")

    def __init__(self, row: tuple[Any, ...], source: Webhook | None) -> None:
        self.row = row
        #: A large body, written after the insert in pieces (``row`` holds its size).
        self.source = source
        self.done = threading.Event()
        self.result: int | None = None
        self.error: Exception | None = None


@attrs.frozen
class _Outcome:
    """One round of plugin calls on an event, to record."""

    event_id: int
    #: (plugin, hook) that returned
    succeeded: tuple[tuple[str, str], ...] = ()
    #: (plugin, hook) -> error text
    failed: dict[tuple[str, str], str] = attrs.field(factory=dict)
    #: (plugin, hook) that must fail for good at once (a plugin this process does not load)
    dead: dict[tuple[str, str], str] = attrs.field(factory=dict)
    #: The event's first round: nothing recorded for it yet.
    first: bool = False
    #: The event's ``replays`` when the round was claimed (``None``: unknown).
    replays: int | None = None


_APPEND = (
    "INSERT INTO journal (dedupe_key, kind, trace_id, received_at,"
    " remote_addr, retries_remaining, body, due, due_mono, boot)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING"
)

#: Bodies over this many bytes go to ``journal_bodies``, written in pieces of ``_BODY_PIECE``.
_BODY_IN_PIECES = 256 * 1024
_BODY_PIECE = 256 * 1024


_HAS_BODY = (
    "SELECT 1 FROM journal WHERE id = :id AND (length(body) > 0"
    " OR EXISTS (SELECT 1 FROM journal_bodies WHERE event_id = :id))"
)
_HAS_BODY_V1 = "SELECT 1 FROM journal WHERE id = :id AND length(body) > 0"


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
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        durable: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.clock = clock or _CLOCK
        if not create and not os.path.exists(self.path):
            raise JournalError(f"no journal at {self.path}")
        self._lock = threading.Lock()
        self._group_lock = threading.Lock()
        self._queue: list[_PendingAppend] = []
        self._committing = False
        self._checkpointer: sqlite3.Connection | None = None
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
                # Before the first table: pruning then hands pages back to the disk.
                self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                use_wal(self._db, wait=_BUSY_WAIT)
                self._create_tables()
                self._migrate()
            self._bodies = bool(
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_bodies'"
                ).fetchone()
            )
            self._columns = _ENTRY_COLUMNS if self._bodies else _ENTRY_COLUMNS_V1
            # A spike (a 40 MB inbound) grows the -wal file; once checkpointed it is cut
            # back to this instead of staying at its largest size for good.
            self._db.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
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

    def _create_tables(self) -> None:
        """The tables and indexes a file lacks, in one transaction (one commit, not seven).

        A file that has them all is left alone, without taking the write lock.
        """
        have = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if have >= _SCHEMA_NAMES:
            return
        with self._transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    def _migrate(self) -> None:
        """Bring a journal written by an older version up to this schema (once, under lock)."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(journal)")}
        hooks = {r[1] for r in self._db.execute("PRAGMA table_info(deliveries)")}
        if "due_mono" in columns and "hook" in hooks:
            return
        # From __init__: nobody else holds self._lock yet; BEGIN IMMEDIATE
        # serialises processes opening the same file at once.
        with self._transaction() as db:
            columns = {r[1] for r in db.execute("PRAGMA table_info(journal)")}
            for name, kind in (("due_mono", "REAL"), ("claimed_mono", "REAL"), ("boot", "TEXT")):
                if name not in columns:
                    db.execute(f"ALTER TABLE journal ADD COLUMN {name} {kind}")
            hooks = {r[1] for r in db.execute("PRAGMA table_info(deliveries)")}
            if "hook" not in hooks:
                # Outcomes were kept per plugin: hook '' stands for all of its hooks.
                db.execute("ALTER TABLE deliveries RENAME TO deliveries_v1")
                db.execute(_DELIVERIES_TABLE)
                db.execute(
                    "INSERT INTO deliveries (event_id, plugin, hook, state, attempts, due,"
                    " last_error, updated_at) SELECT event_id, plugin, '', state, attempts, due,"
                    " last_error, updated_at FROM deliveries_v1"
                )
                db.execute("DROP TABLE deliveries_v1")

    def _is_due(self, due: float, due_mono: float | None, boot: str | None) -> bool:
        if boot is not None and boot == self.clock.boot and due_mono is not None:
            return due_mono <= self.clock.monotonic()
        return due <= self.clock.time()

    def _retry(self, action: Callable[[], _T]) -> _T:
        return while_locked(action, wait=_BUSY_WAIT, longest_pause=0.002)

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``: take the write lock now, waiting for it in short steps."""
        self._retry(lambda: self._db.execute("BEGIN IMMEDIATE"))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under this journal's lock: committed, or rolled back on any error.

        The one place the read-write methods say BEGIN IMMEDIATE / COMMIT / ROLLBACK.
        """
        with self._lock:
            self._begin()
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._retry(lambda: self._db.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
                if self._checkpointer is not None:
                    self._checkpointer.close()

    # -- the request side ------------------------------------------------------

    def append(self, webhook: Webhook) -> int | None:
        """Journal ``webhook``, committed; its id, or ``None`` when its key is already there.

        Group commit: threads appending at once share one transaction and one
        fsync.  The first becomes the leader and commits whatever has queued
        up (its own row included) until the queue is empty; the others wait
        for their row's result.  Each caller still returns only once its row
        is on disk.
        """
        retries = webhook.retries_remaining
        if retries is not None and not -_SQLITE_INT <= retries <= _SQLITE_INT:
            retries = None
        clock = self.clock
        size = webhook.body_size
        large = size > _BODY_IN_PIECES and self._bodies
        pending = _PendingAppend(
            (
                webhook.dedupe_key,
                webhook.kind,
                webhook.trace_id,
                webhook.received_at.astimezone(UTC).isoformat(),
                webhook.remote_addr,
                retries,
                size if large else webhook.body,
                clock.time(),
                clock.monotonic(),
                clock.boot,
            ),
            webhook if large else None,
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
            try:
                self._commit_rows(batch)
            except Exception as exc:
                if len(batch) == 1:
                    raise
                # One bad row must not fail the others that shared its commit:
                # each goes again in a transaction of its own.
                log.warning("a group commit of %d events failed (%s); one by one", len(batch), exc)
                for item in batch:
                    try:
                        self._commit_rows([item])
                    except Exception as one:
                        item.result, item.error = None, one
        except Exception as exc:
            for item in batch:
                item.result, item.error = None, exc
        finally:
            for item in batch:
                item.done.set()

    def _commit_rows(self, batch: list[_PendingAppend]) -> None:
        with self._transaction():
            for item in batch:
                large = item.source
                row = item.row if large is None else (*item.row[:6], b"", *item.row[7:])
                cur = self._db.execute(_APPEND, row)
                item.result = cur.lastrowid if cur.rowcount == 1 else None
                if large is not None and item.result is not None:
                    # Bound, a 40 MB body would be copied by SQLite once to bind it
                    # (and kept by the cached statement until its next use) and once
                    # more to build the row: written into a zeroblob, in pieces.
                    self._db.execute(
                        "INSERT INTO journal_bodies (event_id, body) VALUES (?, zeroblob(?))",
                        (item.result, item.row[6]),
                    )
                    with self._db.blobopen("journal_bodies", "body", item.result) as blob:
                        for piece in large.iter_body(_BODY_PIECE):
                            blob.write(piece)

    def _rollback(self) -> None:
        # After SQLITE_FULL or an I/O error SQLite may have rolled back already.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    # -- the worker side -------------------------------------------------------

    def claim(
        self, owner: str, *, limit: int, lease: float, large_bodies: bool = True
    ) -> list[JournalEntry]:
        """Take up to ``limit`` due events for ``owner`` (oldest first).

        ``large_bodies=False`` leaves out bodies over 256 KiB (their entries'
        ``body`` is empty; :meth:`get` reads them): a worker then holds one
        40 MB inbound message at a time, not a batch of them.

        Events ``owner`` itself still holds are taken again: it claims only
        once done with its last batch, so those are rounds it could not record
        (the disk was full), not work in progress.

        Due times and leases written on this boot are compared on the
        monotonic clock, so a wall-clock step neither strands events (a step
        back) nor ends a live claim early (a step forward).
        """
        clock = self.clock
        now, mono, boot = clock.time(), clock.monotonic(), clock.boot
        columns = self._columns if large_bodies else _ENTRY_COLUMNS_V1
        with self._transaction():
            rows = self._db.execute(
                f"SELECT {columns} FROM journal"  # noqa: S608
                " WHERE state = 'pending'"
                " AND (CASE WHEN boot = :boot AND due_mono IS NOT NULL"
                " THEN due_mono <= :mono ELSE due <= :now END)"
                " AND (claimed_by IS NULL OR claimed_by = :owner"
                " OR NOT pk_owner_alive(claimed_by)"
                " OR (CASE WHEN boot = :boot AND claimed_mono IS NOT NULL"
                " THEN claimed_mono < :mono - :lease ELSE claimed_at < :now - :lease END))"
                " ORDER BY due, id LIMIT :limit",
                {
                    "boot": boot,
                    "mono": mono,
                    "now": now,
                    "lease": lease,
                    "limit": limit,
                    "owner": owner,
                },
            ).fetchall()
            if rows:
                self._db.executemany(
                    "UPDATE journal SET claimed_by = ?, claimed_at = ?, claimed_mono = ?,"
                    " due_mono = CASE WHEN boot IS ? THEN due_mono ELSE NULL END,"
                    " boot = ? WHERE id = ?",
                    [(owner, now, mono, boot, boot, r[0]) for r in rows],
                )
        return [_entry(r) for r in rows]

    def renew(self, owner: str, event_id: int) -> bool:
        """Extend ``owner``'s claim on an event; ``False`` when another worker has taken it."""
        clock = self.clock
        with self._lock:
            cur = self._retry(
                lambda: self._db.execute(
                    "UPDATE journal SET claimed_at = ?, claimed_mono = ?, boot = ?"
                    " WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                    (clock.time(), clock.monotonic(), clock.boot, event_id, owner),
                )
            )
        return cur.rowcount == 1

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

    def deliveries(self, event_id: int) -> dict[tuple[str, str], tuple[str, int, bool]]:
        """``(plugin, hook) -> (state, attempts, due now)`` recorded for an event.

        Hook ``''`` (journals from before outcomes were kept per hook) stands
        for every hook of that plugin.
        """
        with self._lock:
            rows = self._read(
                "SELECT plugin, hook, state, attempts, due, due_mono, boot FROM deliveries"
                " WHERE event_id = ?",
                (event_id,),
            )
        return {(r[0], r[1]): (r[2], r[3], self._is_due(r[4], r[5], r[6])) for r in rows}

    def finish(
        self,
        event_id: int,
        *,
        succeeded: Iterable[str | tuple[str, str]],
        failed: Mapping[tuple[str, str], str] | Mapping[str, tuple[str, str]],
        settings: JournalSettings,
        first: bool = False,
        dead: Mapping[tuple[str, str], str] | None = None,
        replays: int | None = None,
    ) -> str:
        """Record one round of plugin calls and reschedule or close the event.

        Outcomes are per hook implementation, ``(plugin, hook)``: ``succeeded``
        lists those that returned, ``failed`` maps each that raised to its
        error text, ``dead`` those to dead-letter at once (a plugin this
        process does not load).  A bare plugin name stands for all its hooks,
        and ``failed`` also takes the older ``plugin -> (hook, error)`` form.
        Returns the event's new state: ``pending`` (a retry is due later),
        ``done`` or ``dead``.

        ``replays``: the entry's ``replays`` when this round was claimed.  An
        operator's replay since then (the event was in hand) makes this
        round's failures due now instead of after their backoff.
        """
        done_keys = tuple(k if isinstance(k, tuple) else (k, "") for k in succeeded)
        fail_keys: dict[tuple[str, str], str] = {}
        for key, value in failed.items():
            if isinstance(key, tuple) and isinstance(value, str):
                fail_keys[key] = value
            elif isinstance(key, str) and isinstance(value, tuple):
                fail_keys[(key, value[0])] = value[1]
        outcome = _Outcome(event_id, done_keys, fail_keys, dict(dead or {}), first, replays)
        with self._transaction():
            state = self._finish_one(outcome, settings)
        return state

    def _finish_one(self, outcome: _Outcome, settings: JournalSettings) -> str:
        event_id = outcome.event_id
        clock = self.clock
        now, mono, boot = clock.time(), clock.monotonic(), clock.boot
        if outcome.first and not outcome.failed and not outcome.dead:
            # The common case: every plugin took it at once.  Per-hook rows only
            # matter for retries, so none are written (a replay reaches every plugin).
            self._db.execute(
                "UPDATE journal SET state = 'done', claimed_by = NULL, claimed_at = NULL,"
                " claimed_mono = NULL, finished_at = ?, rounds = rounds + 1 WHERE id = ?",
                (now, event_id),
            )
            self._drop_body(event_id, settings)
            return "done"
        known = {
            (r[0], r[1]): r[2]
            for r in self._db.execute(
                "SELECT plugin, hook, attempts FROM deliveries WHERE event_id = ?", (event_id,)
            )
        }

        def attempts_of(key: tuple[str, str]) -> int:
            return int(known.get(key, known.get((key[0], ""), 0)))

        touched: set[str] = set()
        for key in outcome.succeeded:
            if key[1]:
                touched.add(key[0])
            self._db.execute(
                "INSERT INTO deliveries (event_id, plugin, hook, state, attempts, due,"
                " last_error, updated_at) VALUES (?, ?, ?, 'done', ?, ?, NULL, ?)"
                " ON CONFLICT (event_id, plugin, hook) DO UPDATE SET state = 'done',"
                " attempts = excluded.attempts, updated_at = excluded.updated_at",
                (event_id, key[0], key[1], attempts_of(key) + 1, now, now),
            )
        replayed = False
        if outcome.replays is not None and outcome.failed:
            row = self._db.execute("SELECT replays FROM journal WHERE id = ?", (event_id,))
            now_replays = row.fetchone()
            replayed = now_replays is not None and now_replays[0] > outcome.replays
        failures = [(k, e, False) for k, e in outcome.failed.items()]
        failures += [(k, e, True) for k, e in outcome.dead.items()]
        for key, error, forced in failures:
            if key[1]:
                touched.add(key[0])
            attempts = attempts_of(key) + (0 if forced else 1)
            dead = forced or attempts >= settings.max_attempts
            # Replayed while in hand: the operator asked for it to run again now.
            delay = 0.0 if dead or replayed else settings.backoff(attempts)
            self._db.execute(
                "INSERT INTO deliveries (event_id, plugin, hook, state, attempts, due,"
                " last_error, updated_at, due_mono, boot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, plugin, hook) DO UPDATE SET state = excluded.state,"
                " attempts = excluded.attempts, due = excluded.due,"
                " last_error = excluded.last_error, updated_at = excluded.updated_at,"
                " due_mono = excluded.due_mono, boot = excluded.boot",
                (
                    event_id,
                    key[0],
                    key[1],
                    "dead" if dead else "retry",
                    attempts,
                    now + delay,
                    error,
                    now,
                    mono + delay,
                    boot,
                ),
            )
            if dead:
                self._db.execute(
                    "INSERT INTO dead_letters (event_id, plugin, hook, attempts, error,"
                    " failed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, plugin)"
                    " DO UPDATE SET hook = excluded.hook, attempts = excluded.attempts,"
                    " error = excluded.error, failed_at = excluded.failed_at",
                    (event_id, key[0], key[1], attempts, error, now),
                )
        # Outcomes per hook replace a plugin's old per-plugin row (hook '').
        for plugin in touched:
            self._db.execute(
                "DELETE FROM deliveries WHERE event_id = ? AND plugin = ? AND hook = ''",
                (event_id, plugin),
            )
        # A plugin with nothing dead left on this event is no longer a dead letter.
        self._db.execute(
            "DELETE FROM dead_letters WHERE event_id = ? AND NOT EXISTS (SELECT 1 FROM"
            " deliveries d WHERE d.event_id = dead_letters.event_id"
            " AND d.plugin = dead_letters.plugin AND d.state = 'dead')",
            (event_id,),
        )
        retry = self._db.execute(
            "SELECT due, due_mono, boot FROM deliveries WHERE event_id = ? AND state = 'retry'"
            " ORDER BY due LIMIT 1",
            (event_id,),
        ).fetchone()
        if retry is not None:
            state = "pending"
            due, due_mono = float(retry[0]), retry[1] if retry[2] == boot else None
        else:
            dead_left = self._db.execute(
                "SELECT 1 FROM deliveries WHERE event_id = ? AND state = 'dead' LIMIT 1",
                (event_id,),
            ).fetchone()
            state, due, due_mono = ("dead" if dead_left else "done"), now, mono
        self._db.execute(
            "UPDATE journal SET state = ?, due = ?, due_mono = ?, boot = ?, claimed_by = NULL,"
            " claimed_at = NULL, claimed_mono = NULL, finished_at = ?, rounds = rounds + 1"
            " WHERE id = ?",
            (state, due, due_mono, boot, None if state == "pending" else now, event_id),
        )
        if state == "done":
            self._drop_body(event_id, settings)
        return state

    def _drop_body(self, event_id: int, settings: JournalSettings) -> None:
        if settings.keep_body_bytes is not None:
            self._db.execute(
                "UPDATE journal SET body = x'' WHERE id = ? AND length(body) > ?",
                (event_id, settings.keep_body_bytes),
            )
            if self._bodies:
                self._db.execute(
                    "DELETE FROM journal_bodies WHERE event_id = ? AND length(body) > ?",
                    (event_id, settings.keep_body_bytes),
                )

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
                if self._bodies:
                    self._db.execute(
                        f"DELETE FROM journal_bodies WHERE event_id IN ({marks})",  # noqa: S608
                        part,
                    )
        if ids:
            with self._lock:
                # Hand the freed pages back to the disk (journals created with
                # auto_vacuum=INCREMENTAL; a no-op on older files).  executescript:
                # the sqlite3 module steps a row-less PRAGMA once, freeing one page.
                self._retry(lambda: self._db.executescript("PRAGMA incremental_vacuum;"))
        if ids:
            self.checkpoint(wait=2.0)  # then the -wal file, and the freed pages leave
        return len(ids)

    def health_check(self) -> dict[str, Any]:
        """Prove the file takes a write (a heartbeat row) and read the backlog's figures.

        ``pending``: events not finished; ``oldest_pending_seconds``: age of the
        oldest of them; ``oldest_due_seconds``: how long the most overdue one
        has been due (``None`` when none is due).  Raises ``sqlite3.Error``
        when the journal cannot be written or read (disk full, corrupt).
        """
        clock = self.clock
        now, mono, boot = clock.time(), clock.monotonic(), clock.boot
        # Not _transaction(), which uses the long-lived connection: a connection of
        # its own (a long-lived one answers from its page cache and would not
        # notice the file being damaged underneath it).
        db = sqlite3.connect(
            f"file:{urllib.parse.quote(self.path)}?mode=rw",
            uri=True,
            timeout=5,
            isolation_level=None,
        )
        try:
            with write_transaction(db):
                db.execute(
                    "INSERT OR REPLACE INTO heartbeat (owner, at) VALUES (?, ?)",
                    (f"{_HOST}|{os.getpid()}", now),
                )
                pending, oldest, overdue = db.execute(
                    "SELECT COUNT(*), MIN(received_at), MAX(CASE WHEN boot = :boot AND"
                    " due_mono IS NOT NULL THEN :mono - due_mono ELSE :now - due END)"
                    " FROM journal WHERE state = 'pending'",
                    {"boot": boot, "mono": mono, "now": now},
                ).fetchone()
        finally:
            db.close()
        age = None
        if oldest is not None:
            age = max(0.0, now - datetime.fromisoformat(oldest).timestamp())
        return {
            "pending": int(pending),
            "oldest_pending_seconds": None if age is None else round(age, 3),
            "oldest_due_seconds": (
                None if overdue is None or overdue < 0 else round(float(overdue), 3)
            ),
        }

    def checkpoint(self, wait: float = 0.0) -> bool:
        """Copy the -wal file into the database and cut it to nothing; whether it was.

        SQLite's own checkpoints after each commit never wait, and with
        readers and writers always interleaving (requests appending, workers
        claiming) they never get to restart the -wal file: it grows by every
        commit.  This one waits up to ``wait`` seconds for readers to finish
        (writers wait meanwhile: milliseconds for a few megabytes).
        """
        with self._lock:
            try:
                if wait:
                    self._db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
                try:
                    row = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    if wait:
                        self._db.execute("PRAGMA busy_timeout = 0")
            except sqlite3.Error as exc:
                log.debug("journal checkpoint skipped: %s", exc)
                return False
        return bool(row) and row[0] == 0

    def compact_wal(self) -> bool:
        """Checkpoint the whole -wal file so the next commit starts it over; whether it did.

        SQLite's own checkpoints (after commits) copy what no reader needs,
        but the file only starts over when, at the next write, everything was
        copied and nobody reads: with requests appending and workers claiming
        all the time that moment never comes, and the file grows by every
        commit.  Here the write lock is taken (fairly, in short steps), which
        holds writers off, and a second connection copies everything while
        it is held.  The next commit then starts the file over, cut back to
        ``journal_size_limit``.  Writers wait meanwhile: milliseconds per MB.
        """
        with self._lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, timeout=0, check_same_thread=False, isolation_level=None
                )
                self._checkpointer.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
            # Not _transaction(): the write lock is held only to keep writers off
            # while the checkpointer (its own connection) copies; nothing to commit.
            self._begin()
            try:
                # Another connection's automatic checkpoint may still be running
                # (it started after that connection's last commit): wait it out.
                deadline = time.monotonic() + 0.5
                while True:
                    busy, frames, copied = self._checkpointer.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    if not busy or time.monotonic() > deadline:
                        break
                    time.sleep(0.001)
            except sqlite3.Error as exc:
                log.debug("journal checkpoint skipped: %s", exc)
                return False
            finally:
                self._rollback()
        return bool(busy == 0 and frames == copied)

    def wal_bytes(self) -> int:
        """Size of the -wal file now (0 when there is none)."""
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    # -- inspection and replay ---------------------------------------------------

    def get(self, event_id: int) -> JournalEntry | None:
        with self._lock:
            rows = self._read(
                f"SELECT {self._columns} FROM journal WHERE id = ?",  # noqa: S608
                (event_id,),
            )
        return _entry(rows[0]) if rows else None

    # Reads for the operator's console (postmark_kit.receiver.console).

    def find(self, dedupe_key: str) -> JournalEntry | None:
        """The journaled event with that dedupe key (the event store's key too)."""
        with self._lock:
            rows = self._read(
                f"SELECT {self._columns} FROM journal WHERE dedupe_key = ?",  # noqa: S608
                (dedupe_key,),
            )
        return _entry(rows[0]) if rows else None

    def backlog(self) -> dict[str, Any]:
        """``pending``, ``oldest_pending`` (a datetime or ``None``) and ``dead_letters``.

        Cheaper than :meth:`counts` on a big journal: no count of finished events.
        """
        with self._lock:
            ((pending, oldest),) = self._read(
                "SELECT COUNT(*), MIN(received_at) FROM journal WHERE state = 'pending'"
            )
            ((dead,),) = self._read("SELECT COUNT(*) FROM dead_letters")
        return {
            "pending": int(pending),
            "oldest_pending": datetime.fromisoformat(oldest) if oldest else None,
            "dead_letters": int(dead),
        }

    def oldest_pending(self) -> datetime | None:
        """When the oldest unfinished event was received (``None``: nothing pending)."""
        with self._lock:
            ((oldest,),) = self._read(
                "SELECT MIN(received_at) FROM journal WHERE state = 'pending'"
            )
        return datetime.fromisoformat(oldest) if oldest else None

    def delivery_log(self, event_id: int) -> list[dict[str, Any]]:
        """Every per-plugin delivery row recorded for an event (state, attempts, last error).

        None for an event every plugin took on the first try: only retries are recorded.
        """
        with self._lock:
            cur = self._retry(
                lambda: self._db.execute(
                    "SELECT * FROM deliveries WHERE event_id = ? ORDER BY plugin", (event_id,)
                )
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def plugin_totals(
        self, kinds: Mapping[str, Iterable[str]] | None = None
    ) -> dict[str, dict[str, int]]:
        """Per plugin: events it took (``succeeded``), is retrying, and gave up on (``dead``).

        ``kinds`` maps the loaded plugins to the event kinds they handle: an
        event every plugin took on its first try leaves no per-plugin row, so
        it counts as a success for each plugin handling its kind.  Counts cover
        what the journal still holds (finished events are pruned after
        ``POSTMARK_JOURNAL_RETENTION_DAYS``).
        """
        with self._lock:
            rows = self._read(
                "SELECT d.plugin, d.state, COUNT(DISTINCT d.event_id) FROM deliveries d"
                " JOIN journal j ON j.id = d.event_id WHERE j.state != 'done'"
                " GROUP BY d.plugin, d.state"
            )
            done = (
                dict(
                    self._read(
                        "SELECT kind, COUNT(*) FROM journal WHERE state = 'done' GROUP BY kind"
                    )
                )
                if kinds
                else {}
            )
        out: dict[str, dict[str, int]] = {}

        def totals(plugin: str) -> dict[str, int]:
            return out.setdefault(plugin, {"succeeded": 0, "retrying": 0, "dead": 0})

        for plugin, handled in (kinds or {}).items():
            totals(plugin)["succeeded"] += sum(int(done.get(k, 0)) for k in set(handled))
        for plugin, state, count in rows:
            key = {"done": "succeeded", "retry": "retrying"}.get(state, "dead")
            totals(plugin)[key] += int(count)
        return out

    def dead_letter_groups(self) -> list[dict[str, Any]]:
        """Dead letters per plugin: count, and the newest one's error and time."""
        with self._lock:
            rows = self._read(
                "SELECT plugin, COUNT(*), MAX(failed_at) FROM dead_letters GROUP BY plugin"
                " ORDER BY plugin"
            )
            out = []
            for plugin, count, last in rows:
                ((error,),) = self._read(
                    "SELECT error FROM dead_letters WHERE plugin = ? ORDER BY failed_at DESC,"
                    " id DESC LIMIT 1",
                    (plugin,),
                )
                out.append(
                    {
                        "plugin": plugin,
                        "count": int(count),
                        "last_error": error,
                        "last_failed_at": datetime.fromtimestamp(last, UTC),
                    }
                )
        return out

    def dead_letters_of(self, plugin: str, *, limit: int | None = None) -> list[DeadLetter]:
        """One plugin's dead letters, newest first."""
        return [d for d in reversed(self.dead_letters()) if d.plugin == plugin][:limit]

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

        ``None`` replays every event with dead letters.  What runs again is
        only what has not succeeded: the dead-lettered and retrying hook
        implementations get a fresh set of attempts, due now, and keep their
        dead letters until they succeed.  An event that every plugin
        finished is replayed in full (a deliberate replay: plugins see it
        again).  A pending or in-flight event keeps its claim, so replaying
        twice, or while a worker has it, never runs a plugin twice at once.
        """
        clock = self.clock
        now, mono, boot = clock.time(), clock.monotonic(), clock.boot
        with self._transaction():
            if event_ids is None:
                ids = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT event_id FROM dead_letters UNION SELECT event_id"
                        " FROM deliveries WHERE state = 'dead' ORDER BY 1"
                    )
                ]
            else:
                wanted = list(dict.fromkeys(int(i) for i in event_ids))
                # (A finished event whose body was dropped cannot go again.)
                ids = [
                    i
                    for i in wanted
                    if self._db.execute(
                        _HAS_BODY if self._bodies else _HAS_BODY_V1, {"id": i}
                    ).fetchone()
                ]
            for event_id in ids:
                (state,) = self._db.execute(
                    "SELECT state FROM journal WHERE id = ?", (event_id,)
                ).fetchone()
                unfinished = self._db.execute(
                    "UPDATE deliveries SET state = 'retry', attempts = CASE WHEN"
                    " state = 'dead' THEN 0 ELSE attempts END, due = ?, due_mono = ?,"
                    " boot = ? WHERE event_id = ? AND state IN ('dead', 'retry')",
                    (now, mono, boot, event_id),
                ).rowcount
                if state == "done" and not unfinished:
                    self._db.execute("DELETE FROM deliveries WHERE event_id = ?", (event_id,))
                if state == "pending":
                    # Maybe in a worker's hands: it keeps the claim and records its round.
                    self._db.execute(
                        "UPDATE journal SET due = ?, due_mono = ?, boot = ?,"
                        " replays = replays + 1 WHERE id = ?",
                        (now, mono, boot, event_id),
                    )
                else:
                    self._db.execute(
                        "UPDATE journal SET state = 'pending', due = ?, due_mono = ?,"
                        " boot = ?, claimed_by = NULL, claimed_at = NULL,"
                        " claimed_mono = NULL, finished_at = NULL, replays = replays + 1"
                        " WHERE id = ?",
                        (now, mono, boot, event_id),
                    )
        return ids

    def unfinished(self, event_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
        """Event id -> (plugin, hook) still owed it (retrying or dead), for the ids given."""
        out: dict[int, list[tuple[str, str]]] = {}
        with self._lock:
            for event_id in dict.fromkeys(int(i) for i in event_ids):
                rows = self._read(
                    "SELECT plugin, hook FROM deliveries WHERE event_id = ?"
                    " AND state IN ('dead', 'retry') ORDER BY plugin, hook",
                    (event_id,),
                )
                out[event_id] = [(r[0], r[1]) for r in rows]
        return out


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
        *,
        plugin_timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.pm = pm
        self.client = client
        self.settings = settings
        self.plugin_timeout = plugin_timeout
        self.clock = clock or _CLOCK
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._owner = f"{_HOST}|{self._pid}|{uuid.uuid4().hex}"
        self.journal = WebhookJournal(self.settings.path, clock=self.clock)
        self._inode = _inode(self.settings.path)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._parsed: dict[int, tuple[Event, Webhook]] = {}
        self._thread: threading.Thread | None = None
        self._runner = PluginRunner(self.plugin_timeout) if self.plugin_timeout else None
        if self.settings.worker:
            self._worker_journal = WebhookJournal(
                self.settings.path, durable=False, clock=self.clock
            )
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
        if self._thread is not None and webhook.body_size <= _PARSED_CACHE_BODY:
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
        if self._runner is not None:
            self._runner.close()
        self.journal.close()

    # -- the worker ---------------------------------------------------------------

    def drain(self, *, timeout: float = 30.0) -> int:
        """Process due events in the calling thread until none is left; the count processed.

        For tests, scripts and ``events replay --now``; the worker thread does
        the same in the background.
        """
        journal = self._worker_journal if self._thread is not None else self.journal
        owner = f"{_HOST}|{os.getpid()}|{uuid.uuid4().hex}"  # never the worker's claims
        deadline = time.monotonic() + timeout
        done = 0
        while time.monotonic() < deadline:
            batch = journal.claim(owner, limit=32, lease=self.settings.lease, large_bodies=False)
            if not batch:
                break
            for entry in batch:
                self._process(journal, entry)
                done += 1
        return done

    def _run(self) -> None:
        journal = self._worker_journal
        last_prune = last_checkpoint = 0.0
        while not self._stop.is_set():
            try:
                batch = journal.claim(
                    self._owner, limit=32, lease=self.settings.lease, large_bodies=False
                )
            except Exception:
                log.exception("journal claim failed; retrying in %.1fs", self.settings.poll)
                self._stop.wait(self.settings.poll)
                continue
            claimed_at = time.monotonic()
            for entry in batch:
                if self._stop.is_set():
                    break  # the rest stay claimed by a live pid until the lease ends
                try:
                    # Slow plugins ate into the lease: renew it, or skip what was taken over.
                    late = time.monotonic() - claimed_at > self.settings.lease / 2
                    if late and not journal.renew(self._owner, entry.id):
                        continue
                    self._process(journal, entry)
                except BaseException:  # the worker outlives anything
                    log.exception("journal worker failed on event %s", entry.id)
                    # (A full disk, say: the next claim takes the event again, after a pause.)
                    self._stop.wait(max(self.settings.poll, 0.5))
            now = time.monotonic()
            if journal.wal_bytes() > _WAL_CHECKPOINT_AT:
                journal.compact_wal()  # keep the -wal file small under steady load
            elif not batch and now - last_checkpoint > 30 and journal.wal_bytes() > _WAL_LIMIT:
                last_checkpoint = now  # idle: cut it back to nothing
                journal.checkpoint(wait=1.0)
            if now - last_prune > 3600:
                last_prune = now
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
        claimed_replays = entry.replays  # as claimed: a replay from now on is seen by finish
        parsed = self._parsed.pop(entry.id, None)
        try:
            if parsed is not None and parsed[1].dedupe_key == entry.dedupe_key:
                event, webhook = parsed  # journaled by this process: parsed already
            else:
                if not entry.body:  # claimed without its (large) body: read it now
                    entry = journal.get(entry.id) or entry
                webhook = entry.webhook()
                event = parse_event(webhook.payload)
        except (ValueError, InvalidEventError, RecursionError) as exc:
            journal.finish(
                entry.id,
                succeeded=(),
                failed={(PARSE_FAILURE, ""): _error_text(exc)},
                settings=attrs.evolve(self.settings, max_attempts=1),
            )
            return
        impls = event_hook_impls(self.pm, entry.kind)
        recorded = journal.deliveries(entry.id) if entry.rounds else {}
        if recorded:
            todo = []
            for key in impls:
                row = recorded.get(key) or recorded.get((key[0], ""))
                if row is None or (row[0] == "retry" and row[2]):
                    todo.append(key)
            # Retries owed to plugins this process does not load: dead-lettered at
            # once (never skipped, which would re-claim the event in a busy loop).
            # A loaded plugin that no longer implements the hook owed: settled by
            # how its current hooks do on this event.
            plugins = {p for p, _ in impls}
            loaded = set(impls) | {(p, "") for p in plugins}
            orphans: dict[tuple[str, str], str] = {}
            gone: list[tuple[str, str]] = []
            for key, row in recorded.items():
                if row[0] != "retry" or key in loaded or key[0] == PARSE_FAILURE:
                    continue
                if key[0] in plugins:
                    gone.append(key)
                else:
                    orphans[key] = (
                        f"{NOT_LOADED}: plugin {key[0]!r} is not loaded in this receiver"
                        + (f" (hook {key[1]})" if key[1] else "")
                    )
        else:
            todo, orphans, gone = impls, {}, []
        if not todo:
            journal.finish(
                entry.id, succeeded=gone, failed={}, settings=self.settings, dead=orphans
            )
            if orphans:
                self._log_dead(entry, orphans)
            return
        result = call_event_hooks(
            self.pm, event, self.client, webhook, only=set(todo), runner=self._runner
        )
        if result.rejection is not None:
            log.info(
                "%s event %s rejected after journaling (%s); nothing to retry",
                entry.kind,
                entry.dedupe_key,
                result.rejection.reason,
            )
        failed = {(f.plugin, f.hook): _error_text(f.error) for f in result.failures}
        failed_plugins = {p for p, _ in failed}
        for key in gone:
            if key[0] in failed_plugins:
                failed[key] = f"plugin {key[0]!r} no longer implements {key[1]}; it failed others"
        state = journal.finish(
            entry.id,
            succeeded=(*result.succeeded_hooks, *(k for k in gone if k[0] not in failed_plugins)),
            failed=failed,
            settings=self.settings,
            first=not entry.rounds,
            dead=orphans,
            replays=claimed_replays,
        )
        if state == "dead" or orphans:
            self._log_dead(entry, {**failed, **orphans})

    def _log_dead(self, entry: JournalEntry, failed: Mapping[tuple[str, str], str]) -> None:
        log.error(
            "%s event %s dead-lettered for plugin(s) %s",
            entry.kind,
            entry.dedupe_key,
            ", ".join(sorted({p for p, _ in failed})),
        )

    def health(self) -> dict[str, Any]:
        """Whether events can make progress here: ``ok`` plus the backlog's figures.

        Not ok when the worker thread is dead or stalled, the journal file is
        gone, unwritable or corrupt, or a due event has waited longer than
        ``POSTMARK_JOURNAL_MAX_DELAY``.
        """
        self._check_fork()
        report: dict[str, Any] = {"ok": True, "mode": "journal"}
        problems: list[str] = []
        if self._closed:
            problems.append("the dispatcher is closed")
        elif self.settings.worker and (self._thread is None or not self._thread.is_alive()):
            problems.append("the journal worker thread is not running")
        try:
            if _inode(self.settings.path) != self._inode:
                problems.append("the journal file was removed or replaced")
            stats = self.journal.health_check()
        except (sqlite3.Error, OSError) as exc:
            problems.append(f"the journal is not usable: {exc}")
        else:
            report.update(stats)
            delay = stats["oldest_due_seconds"]
            if delay is not None and delay > self.settings.max_delay:
                problems.append(
                    f"a due event has waited {delay:.0f}s"
                    f" (over POSTMARK_JOURNAL_MAX_DELAY={self.settings.max_delay:g})"
                )
        if self._runner is not None:
            stuck = self._runner.stuck()
            if stuck:
                report["stuck_plugins"] = [f"{p}.{h}" for p, h in stuck]
        if problems:
            report["ok"] = False
            report["error"] = "; ".join(problems)
        return report


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def journal_dispatcher(
    pm: pluggy.PluginManager, client: ServerClient | None, config: Mapping[str, Any]
) -> JournalDispatcher:
    """The ``journal`` entry of :data:`~postmark_kit.receiver.dispatch.DISPATCHERS`."""
    return JournalDispatcher(
        pm, client, JournalSettings.from_mapping(config), plugin_timeout=plugin_timeout(config)
    )
