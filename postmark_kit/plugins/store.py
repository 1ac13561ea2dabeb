"""An embedded SQLite event store: every accepted event, raw JSON included, once.

Postmark delivers at least once: a retry of an event we already stored (same
``X-PM-Webhook-Trace-Id``, or the same type-specific key) hits a unique index
and is skipped, so the table holds each event exactly once.  One connection
per store, guarded by a lock (Flask may serve requests on several threads);
WAL mode so several gunicorn workers can write one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import attrs

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
    raw         TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_dedupe ON events (dedupe_key);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, received_at);
CREATE INDEX IF NOT EXISTS events_recipient ON events (recipient);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id);
"""

_COLUMNS = "id, dedupe_key, kind, record_type, message_id, recipient, trace_id, received_at, raw"


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
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from exc
        self._closed = False

    def __repr__(self) -> str:
        return f"EventStore({self.path!r})"

    # -- writing -------------------------------------------------------------

    def add(self, event: Event, webhook: Webhook) -> bool:
        """Store ``event``; ``False`` when its dedupe key is already there (a retry)."""
        raw = webhook.body.decode("utf-8") if webhook.body else json.dumps(webhook.payload)
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
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO events (dedupe_key, kind, record_type, message_id,"
                " recipient, trace_id, received_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return cur.rowcount == 1

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
    ) -> list[StoredEvent]:
        """Stored events matching every filter given (``recipient`` is case-insensitive)."""
        where, args = self._where(kind, recipient, message_id, since, until)
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
    ) -> int:
        where, args = self._where(kind, recipient, message_id, since, until)
        with self._lock:
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
        )
