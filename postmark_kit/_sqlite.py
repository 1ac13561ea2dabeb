"""SQLite helpers shared by the journal and the event store (internal)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["use_wal", "while_locked", "write_transaction"]

_T = TypeVar("_T")


def while_locked(action: Callable[[], _T], *, wait: float, longest_pause: float) -> _T:
    """``action()``, tried again while SQLite says the file is locked or busy, up to ``wait`` s.

    Pauses start at 0.1 ms and double up to ``longest_pause``: SQLite's own
    busy handler sleeps 1, 2, 5, 10... ms, which turns the sub-millisecond
    waits of processes committing one after another into many milliseconds.
    """
    deadline = time.monotonic() + wait
    pause = 0.0001
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, longest_pause)


def use_wal(db: sqlite3.Connection, wait: float) -> None:
    """Put ``db``'s file in WAL mode, waiting up to ``wait`` seconds for other processes.

    Switching a new file to WAL takes an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, while another
    connection is opening the same file: several receiver processes starting
    together on a first deploy (gunicorn workers) failed that way.  The file
    keeps the mode, so once one of them has switched it the others go through.
    """
    while_locked(
        lambda: db.execute("PRAGMA journal_mode = WAL").fetchall(), wait=wait, longest_pause=0.05
    )


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
