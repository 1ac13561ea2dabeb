"""The operator's console on a 100,000-event store: each page's median time against 100 ms.

Builds a store of 100,000 events spread over the last week (seven kinds,
5,000 recipients, 20 tags, 3 servers) and a journal holding them with 1,000
dead letters, then fetches every console page through Flask's test client,
logged in, and reports the median of several fetches per page.  Run it with
``python -m bench --only console``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .results import Result

EVENTS = 100_000
DEAD = 1_000
BUDGET = 0.100  # seconds per page
KINDS = [
    ("delivery", "Delivery", 45),
    ("open", "Open", 25),
    ("click", "Click", 12),
    ("bounce", "Bounce", 10),
    ("spam_complaint", "SpamComplaint", 2),
    ("subscription_change", "SubscriptionChange", 3),
    ("inbound", "Inbound", 3),
]


def _build(directory: Path, n: int) -> tuple[str, str]:
    """The store and the journal, written in bulk (building them through HTTP takes minutes)."""
    from postmark_kit.plugins.store import EventStore
    from postmark_kit.receiver.journal import WebhookJournal

    store_path, journal_path = str(directory / "events.sqlite3"), str(directory / "journal.sqlite3")
    EventStore(store_path).close()
    WebhookJournal(journal_path).close()
    rng = random.Random(7)
    now = datetime.now(UTC)
    kinds = [k for k in KINDS for _ in range(k[2])]
    store_rows, journal_rows = [], []
    for i in range(n):
        kind, record_type, _ = rng.choice(kinds)
        at = (now - timedelta(seconds=(n - i) * 7 * 86400 / n)).isoformat()
        recipient = f"user{rng.randrange(5000)}@example.com"
        message_id = f"{i:08d}-0000-4000-8000-{rng.randrange(16**12):012x}"
        tag = f"tag-{rng.randrange(20)}"
        server = rng.choice((23, 42, 77))
        body = {
            "RecordType": record_type,
            "MessageID": message_id,
            "Recipient": recipient,
            "Email": recipient,
            "Tag": tag,
            "ServerID": server,
            "MessageStream": "outbound",
            "Metadata": {"order": str(i)},
        }
        if kind == "inbound":
            body = {"From": recipient, "MessageID": message_id, "Subject": "hi", "TextBody": "x"}
        raw = json.dumps(body)
        key = f"trace:bench-{i}"
        store_rows.append(
            (key, kind, record_type, message_id, recipient, key, at, raw, tag, server)
        )
        journal_rows.append((key, kind, key, at, raw.encode(), "done", time.time(), time.time()))
    with sqlite3.connect(store_path) as db:
        db.executemany(
            "INSERT INTO events (dedupe_key, kind, record_type, message_id, recipient, trace_id,"
            " received_at, raw, tag, server_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            store_rows,
        )
        # The per-hour counts the store keeps with each insert, for rows inserted in bulk.
        db.execute("DELETE FROM event_hours")
        db.execute(
            "INSERT INTO event_hours (hour, kind, n)"
            " SELECT substr(received_at, 1, 13), kind, COUNT(*) FROM events GROUP BY 1, 2"
        )
    with sqlite3.connect(journal_path) as db:
        db.executemany(
            "INSERT INTO journal (dedupe_key, kind, trace_id, received_at, body, state, due,"
            " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            journal_rows,
        )
        dead = rng.sample(range(1, n + 1), min(DEAD, n))
        db.executemany("UPDATE journal SET state = 'dead' WHERE id = ?", [(i,) for i in dead])
        db.executemany(
            "INSERT INTO deliveries (event_id, plugin, state, attempts, due, last_error,"
            " updated_at) VALUES (?, ?, 'dead', 8, 0, 'TimeoutError: crm', ?)",
            [(i, "crm-sync", time.time()) for i in dead],
        )
        db.executemany(
            "INSERT INTO dead_letters (event_id, plugin, hook, attempts, error, failed_at)"
            " VALUES (?, 'crm-sync', 'postmark_event', 8, 'TimeoutError: crm', ?)",
            [(i, time.time()) for i in dead],
        )
    return store_path, journal_path


def bench_console(quick: bool = False) -> list[Any]:
    from postmark_kit.receiver.console import ConsoleSources, console_app

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="postmark-console-bench-") as tmp:
        t0 = time.perf_counter()
        store_path, journal_path = _build(Path(tmp), EVENTS)
        print(f"console: built a {EVENTS:,}-event store in {time.perf_counter() - t0:.1f} s")
        sources = ConsoleSources(store_path, journal_path)
        app = console_app(sources, username="bench", password="bench-pass")  # noqa: S106 - a local bench
        client = app.test_client()
        login = client.post("/console/login", data={"username": "bench", "password": "bench-pass"})
        assert login.status_code == 303, login.status_code
        with sqlite3.connect(store_path) as db:
            (deep,) = db.execute("SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 500").fetchone()
            (some,) = db.execute("SELECT id FROM events WHERE kind = 'bounce' LIMIT 1").fetchone()
        today = datetime.now(UTC).date().isoformat()
        pages = {
            "overview (hour)": "/console/?period=hour",
            "overview (day)": "/console/?period=day",
            "overview (week)": "/console/?period=week",
            "events": "/console/events",
            "events, kind": "/console/events?kind=bounce",
            "events, recipient": "/console/events?recipient=USER17%40example.com",
            "events, message id": "/console/events?message_id=00001234-0000-4000-8000-000000000000",
            "events, tag + server": "/console/events?tag=tag-3&server=42",
            "events, date range": f"/console/events?since={today}&until={today}",
            "events, old page": f"/console/events?before={deep}",
            "event page": f"/console/events/{some}",
            "failures (1,000 dead)": "/console/failures",
        }
        reps = 5 if quick else 15
        for name, path in pages.items():
            times: list[float] = []
            for _ in range(reps + 1):
                start = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - start)
                assert answer.status_code == 200, (path, answer.status_code)
            median = statistics.median(times[1:])  # the first warms caches
            results.append(
                Result(
                    f"console: {name}",
                    f"{median * 1000:.1f} ms",
                    f"{BUDGET * 1000:.0f} ms budget",
                    median / BUDGET,
                    "page/budget < 1.0",
                    median < BUDGET,
                    f"first fetch {times[0] * 1000:.0f} ms",
                )
            )
        sources.close()
    return results
