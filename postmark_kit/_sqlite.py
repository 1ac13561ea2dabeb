"""SQLite helpers shared by the journal and the event store (internal)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

__all__ = ["use_wal", "write_transaction"]


def use_wal(db: sqlite3.Connection, wait: float) -> None:
    """Put ``db``'s file in WAL mode, waiting up to ``wait`` seconds for other processes.

    Switching a new file to WAL takes an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, while another
    connection is opening the same file: several receiver processes starting
    together on a first deploy (gunicorn workers) failed that way.  The file
    keeps the mode, so once one of them has switched it the others go through.
    """
    deadline = time.monotonic() + wait
    pause = 0.001
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock, now), then ``COMMIT``, or ``ROLLBACK`` on any error.

    For a connection in autocommit mode (``isolation_level=None``), where
    sqlite3 opens no transaction by itself.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
