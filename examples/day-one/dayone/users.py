"""The app's users, in SQLite (``DAYONE_DATABASE``)."""

from __future__ import annotations

import sqlite3

from flask import Flask, current_app


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def init_db(app: Flask) -> None:
    with _connect(app.config["DAYONE_DATABASE"]) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS users (email TEXT PRIMARY KEY, status TEXT NOT NULL)"
        )


def add(email: str) -> None:
    with _connect(current_app.config["DAYONE_DATABASE"]) as db:
        db.execute("INSERT OR IGNORE INTO users VALUES (?, 'active')", (email.lower(),))


def mark_bounced(email: str) -> None:
    with _connect(current_app.config["DAYONE_DATABASE"]) as db:
        db.execute("UPDATE users SET status = 'bounced' WHERE email = ?", (email.lower(),))


def status(email: str) -> str | None:
    with _connect(current_app.config["DAYONE_DATABASE"]) as db:
        row = db.execute("SELECT status FROM users WHERE email = ?", (email.lower(),)).fetchone()
    return row[0] if row else None
