"""Processes opening one new journal or event store at once (gunicorn workers on a first deploy).

Switching a new file to WAL needs an exclusive lock; SQLite refused it at once
("database is locked"), without its busy handler, while another connection was
writing the file, and the worker failed to start.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postmark_kit.plugins.store import EventStore
from postmark_kit.receiver.journal import WebhookJournal

OPENERS: list[Callable[[Path], Any]] = [EventStore, WebhookJournal]


@pytest.mark.parametrize("opener", OPENERS, ids=["store", "journal"])
def test_a_new_file_being_written_by_another_connection_is_waited_for(
    opener: Callable[[Path], Any], tmp_path: Path
) -> None:
    path = tmp_path / "new.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process, still creating the file
    other.execute("CREATE TABLE elsewhere (x)")
    done = threading.Event()

    def finish() -> None:
        done.wait(0.05)
        other.execute("COMMIT")

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        opened = opener(path)
    finally:
        done.set()
        writer.join()
        other.close()
    try:
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        opened.close()


@pytest.mark.slow  # a race: 30 rounds of 6 threads, to show no opener fails
@pytest.mark.parametrize("opener", OPENERS, ids=["store", "journal"])
def test_six_openers_of_one_new_file_all_succeed(
    opener: Callable[[Path], Any], tmp_path: Path
) -> None:
    failures: list[BaseException] = []
    for round_ in range(30):
        path = tmp_path / f"new-{round_}.sqlite3"
        start = threading.Barrier(6)

        def open_it(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                opener(path).close()
            except Exception as exc:  # each one is reported below
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
