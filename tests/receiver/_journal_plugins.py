"""Plugins for the journal tests that record every call in a SQLite file.

Importable by receiver processes the tests start (``POSTMARK_PLUGINS=
tests.receiver._journal_plugins:CounterA``, the checkout on ``PYTHONPATH``); the
file is named by ``JOURNAL_TEST_CALLS``.  No unique constraint, so a second call for
one event shows up as a second row.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from postmark_kit import hookimpl


def open_calls(path: str | Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA busy_timeout = 60000")
    db.execute("CREATE TABLE IF NOT EXISTS calls (plugin TEXT, key TEXT, pid INTEGER)")
    return db


def read_calls(path: str | Path) -> Counter[tuple[str, str]]:
    """(plugin, dedupe key) -> number of calls."""
    db = open_calls(path)
    try:
        return Counter((r[0], r[1]) for r in db.execute("SELECT plugin, key FROM calls"))
    finally:
        db.close()


class _Counter:
    plugin_name = "counter"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path or os.environ["JOURNAL_TEST_CALLS"])
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @hookimpl
    def postmark_event(self, webhook: Any) -> None:
        with self._lock:
            if self._db is None or self._pid != os.getpid():
                self._db = open_calls(self.path)
                self._pid = os.getpid()
            self._db.execute(
                "INSERT INTO calls VALUES (?, ?, ?)",
                (self.plugin_name, webhook.dedupe_key, os.getpid()),
            )


class CounterA(_Counter):
    plugin_name = "counter-a"


class CounterB(_Counter):
    plugin_name = "counter-b"
