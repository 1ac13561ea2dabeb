"""An embedded SQLite event store: every accepted event, raw JSON included, once.

Postmark delivers at least once: a retry of an event we already stored (same
``X-PM-Webhook-Trace-Id``, or the same type-specific key) hits a unique index
and is skipped, so the table holds each event exactly once.  One connection
per store, guarded by a lock (Flask may serve requests on several threads);
WAL mode so several gunicorn workers can write one file.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import attrs

from .._sqlite import use_wal, write_transaction
from ..events import Event, parse_event
from ..hookspecs import hookimpl
from ..webhook import Webhook

__all__ = ["EventStore", "StoreError", "StoredEvent"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    record_type TEXT,
    message_id  TEXT,
    recipient   TEXT,
    trace_id    TEXT,
    received_at TEXT NOT NULL,
    raw         TEXT NOT NULL,
    tag         TEXT,
    server_id   INTEGER
);
"""

_ADD = (
    "INSERT OR IGNORE INTO events (dedupe_key, kind, record_type, message_id,"
    " recipient, trace_id, received_at, raw, tag, server_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The same with the body's size for ``raw``: a text of that many bytes, filled in after.
_ADD_LARGE = (
    "INSERT OR IGNORE INTO events (dedupe_key, kind, record_type, message_id,"
    " recipient, trace_id, received_at, raw, tag, server_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, CAST(zeroblob(?) AS TEXT), ?, ?)"
)
#: Bodies over this many bytes are written in pieces of ``_RAW_PIECE``.
_RAW_IN_PIECES = 256 * 1024
_RAW_PIECE = 256 * 1024

#: Indexes, created after any column upgrade (``tag``/``server_id`` came later).
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS events_dedupe ON events (dedupe_key);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, received_at);
CREATE INDEX IF NOT EXISTS events_kind_id ON events (kind);
CREATE INDEX IF NOT EXISTS events_recipient ON events (recipient);
CREATE INDEX IF NOT EXISTS events_recipient_nocase ON events (recipient COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at, kind);
CREATE INDEX IF NOT EXISTS events_tag ON events (tag);
CREATE INDEX IF NOT EXISTS events_tag_server ON events (tag, server_id);
CREATE INDEX IF NOT EXISTS events_server ON events (server_id);
"""

#: Events per hour and kind, kept with each insert: the console's chart reads
#: a week from 168 x 7 rows here instead of counting 100,000 events.
_HOURS = """
CREATE TABLE IF NOT EXISTS event_hours (
    hour TEXT NOT NULL,
    kind TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (hour, kind)
) WITHOUT ROWID
"""

#: Columns added after the first release: name -> JSON path they are filled from.
_ADDED_COLUMNS = {"tag": ("TEXT", "$.Tag"), "server_id": ("INTEGER", "$.ServerID")}

_COLUMNS = (
    "id, dedupe_key, kind, record_type, message_id, recipient, trace_id, received_at, raw,"
    " tag, server_id"
)


class StoreError(RuntimeError):
    """The event store file is missing or unusable."""


@attrs.frozen
class StoredEvent:
    """One row of the store."""

    id: int
    dedupe_key: str
    kind: str
    record_type: str | None
    message_id: str | None
    recipient: str | None
    trace_id: str | None
    received_at: datetime
    raw: str = attrs.field(repr=False)
    #: The event's ``Tag`` (``None``: untagged).
    tag: str | None = None
    #: The Postmark server that sent it (``ServerID``).
    server_id: int | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The webhook body as Postmark sent it, decoded."""
        data: dict[str, Any] = json.loads(self.raw)
        return data

    def event(self) -> Event:
        """The typed event again (as :func:`~postmark_kit.events.parse_event` builds it)."""
        return parse_event(self.payload)

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["received_at"] = self.received_at.isoformat()
        out["payload"] = self.payload
        del out["raw"]
        return out


def _recipient(event: Event) -> str | None:
    for name in ("recipient", "email", "original_recipient"):
        value = getattr(event, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _tag(event: Event) -> str | None:
    value = getattr(event, "tag", None)
    return value if isinstance(value, str) and value else None


def _server_id(event: Event) -> int | None:
    value = getattr(event, "server_id", None)
    return value if isinstance(value, int) else None


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


class EventStore:
    """The store, and the plugin that fills it (``postmark_event``).

    ``EventStore(path)`` creates the file and schema; ``create=False`` opens an
    existing store only (for querying).
    """

    plugin_name = "postmark-kit-event-store"

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no event store at {self.path}")
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA busy_timeout = 30000")
            if create:
                use_wal(self._db, wait=30)
            if not (create and self._create()):
                self._upgrade()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from exc
        self._closed = False

    def __repr__(self) -> str:
        return f"EventStore({self.path!r})"

    def _create(self) -> bool:
        """A new file's tables and indexes in one transaction; ``False`` if it has a table.

        One commit instead of a dozen (one per statement): most stores a
        process opens are new (an app factory's, a test's).
        """
        exists = "SELECT 1 FROM sqlite_master WHERE name = 'events'"
        if self._db.execute(exists).fetchone():
            return False  # written before (maybe by an older version): upgrade it
        with write_transaction(self._db) as db:
            if db.execute(exists).fetchone():
                return False  # another process created it meanwhile
            for script in (_SCHEMA, _INDEXES, _HOURS):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
        return True

    def _upgrade(self) -> None:
        """Add the columns and indexes a store written by an older version lacks."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        if not have:
            return  # create=False on a file without the table: queries say so
        for name, (sql_type, path) in _ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {sql_type}")
                self._db.execute(
                    f"UPDATE events SET {name} = json_extract(raw, ?)",  # noqa: S608
                    (path,),
                )
        self._db.executescript(_INDEXES)
        if not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_hours'"
        ).fetchone():
            with write_transaction(self._db) as db:
                db.execute(_HOURS)
                db.execute(
                    "INSERT INTO event_hours (hour, kind, n) SELECT substr(received_at, 1, 13),"
                    " kind, COUNT(*) FROM events GROUP BY 1, 2"
                )

    # -- writing -------------------------------------------------------------

    def add(self, event: Event, webhook: Webhook) -> bool:
        """Store ``event``; ``False`` when its dedupe key is already there (a retry)."""
        size = webhook.body_size
        raw: str | int
        if size > _RAW_IN_PIECES:
            raw = size  # written into the row below, in pieces
        else:
            raw = webhook.text if size else json.dumps(webhook.payload)
        record_type = getattr(event, "record_type", None)
        if record_type is None and webhook.kind == "inbound":
            record_type = "Inbound"
        row = (
            webhook.dedupe_key,
            webhook.kind,
            record_type,
            getattr(event, "message_id", None),
            _recipient(event),
            webhook.trace_id,
            _iso(webhook.received_at),
            raw,
            _tag(event),
            _server_id(event),
        )
        with self._lock, write_transaction(self._db) as db:
            cur = db.execute(_ADD_LARGE if isinstance(raw, int) else _ADD, row)
            added = cur.rowcount == 1
            if added and isinstance(raw, int) and cur.lastrowid is not None:
                # A bound string stays in SQLite's cached statement (a copy of
                # a 40 MB body held until the next event): write it into the row.
                with db.blobopen("events", "raw", cur.lastrowid) as blob:
                    for piece in webhook.iter_body(_RAW_PIECE):
                        blob.write(piece)
            if added:
                db.execute(
                    "INSERT INTO event_hours (hour, kind, n) VALUES (?, ?, 1)"
                    " ON CONFLICT (hour, kind) DO UPDATE SET n = n + 1",
                    (str(row[6])[:13], webhook.kind),
                )
        return added

    @hookimpl
    def postmark_event(self, event: Event, webhook: Webhook) -> None:
        self.add(event, webhook)

    @hookimpl
    def postmark_unconfigure(self) -> None:
        self.close()

    # -- reading -------------------------------------------------------------

    def query(
        self,
        *,
        kind: str | None = None,
        recipient: str | None = None,
        message_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 100,
        offset: int = 0,
        newest_first: bool = True,
        tag: str | None = None,
        server_id: int | None = None,
        before_id: int | None = None,
    ) -> list[StoredEvent]:
        """Stored events matching every filter given (``recipient`` is case-insensitive).

        ``before_id`` pages by key (events with a smaller id): unlike ``offset``
        it costs the same on the last page as on the first.
        """
        where, args = self._where(
            kind, recipient, message_id, since, until, tag, server_id, before_id
        )
        if since is not None or until is not None:
            # A date range, ordered by id: bound the ids from the (received_at)
            # index first, or SQLite sorts every row of the range for a page.
            span, span_args = self._where(None, None, None, since, until)
            with self._lock:
                low, high = self._db.execute(
                    f"SELECT MIN(id), MAX(id) FROM events{span}",  # noqa: S608
                    span_args,
                ).fetchone()
            if low is None:
                return []
            where = where.replace("received_at >= ?", "+received_at >= ?").replace(
                "received_at < ?", "+received_at < ?"
            )
            where += " AND id BETWEEN ? AND ?"
            args += [low, high]
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM events{where} ORDER BY id {order}"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._row(r) for r in rows]

    def count(
        self,
        *,
        kind: str | None = None,
        recipient: str | None = None,
        message_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        tag: str | None = None,
        server_id: int | None = None,
    ) -> int:
        """How many stored events match (the filters of :meth:`query`)."""
        where, args = self._where(kind, recipient, message_id, since, until, tag, server_id)
        with self._lock:
            if not where:  # the per-hour counts hold the total: no table scan
                (n,) = self._db.execute("SELECT COALESCE(SUM(n), 0) FROM event_hours").fetchone()
                return int(n)
            (n,) = self._db.execute(f"SELECT COUNT(*) FROM events{where}", args).fetchone()  # noqa: S608
        return int(n)

    def get(self, event_id: int) -> StoredEvent | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE id = ?",  # noqa: S608
                (event_id,),
            ).fetchone()
        return self._row(row) if row else None

    def get_by_key(self, dedupe_key: str) -> StoredEvent | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE dedupe_key = ?",  # noqa: S608
                (dedupe_key,),
            ).fetchone()
        return self._row(row) if row else None

    def kind_counts(
        self, since: datetime | str, until: datetime | str, *, step: int = 3600
    ) -> dict[str, list[int]]:
        """Events per kind in ``step``-second buckets from ``since`` to ``until``.

        Kind -> one count per bucket, oldest first (for the console's chart);
        read from the ``(received_at, kind)`` index, not the rows.
        """
        start, end = _iso(since), _iso(until)
        assert start is not None and end is not None
        t0 = datetime.fromisoformat(start).timestamp()
        span = datetime.fromisoformat(end).timestamp() - t0
        n = max(1, math.ceil(span / step))
        # Hours from the per-hour table; minutes (an hour's chart) as text
        # prefixes of the ISO timestamps (UTC), grouped on the index.
        width = 16 if step < 3600 else 13
        with self._lock:
            if width == 13:
                rows = self._db.execute(
                    "SELECT kind, hour, n FROM event_hours WHERE hour >= ? AND hour < ?",
                    (start[:13], end[:13]),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT kind, substr(received_at, 1, 16), COUNT(*) FROM events"
                    " WHERE received_at >= ? AND received_at < ? GROUP BY 1, 2",
                    (start, end),
                ).fetchall()
        out: dict[str, list[int]] = {}
        suffix = ":00+00:00" if width == 16 else ":00:00+00:00"
        for kind, prefix, count in rows:
            at = datetime.fromisoformat(prefix + suffix).timestamp()
            index = min(n - 1, max(0, int((at - t0) // step)))
            out.setdefault(kind, [0] * n)[index] += int(count)
        return out

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @staticmethod
    def _where(
        kind: str | None,
        recipient: str | None,
        message_id: str | None,
        since: datetime | str | None,
        until: datetime | str | None,
        tag: str | None = None,
        server_id: int | None = None,
        before_id: int | None = None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        if recipient:
            clauses.append("recipient = ? COLLATE NOCASE")
            args.append(recipient)
        if message_id:
            clauses.append("message_id = ?")
            args.append(message_id)
        if since is not None:
            clauses.append("received_at >= ?")
            args.append(_iso(since))
        if until is not None:
            clauses.append("received_at < ?")
            args.append(_iso(until))
        if tag:
            clauses.append("tag = ?")
            args.append(tag)
        if server_id is not None:
            clauses.append("server_id = ?")
            args.append(int(server_id))
        if before_id is not None:
            clauses.append("id < ?")
            args.append(int(before_id))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    @staticmethod
    def _row(row: tuple[Any, ...]) -> StoredEvent:
        return StoredEvent(
            id=row[0],
            dedupe_key=row[1],
            kind=row[2],
            record_type=row[3],
            message_id=row[4],
            recipient=row[5],
            trace_id=row[6],
            received_at=datetime.fromisoformat(row[7]),
            raw=row[8],
            tag=row[9],
            server_id=row[10],
        )
