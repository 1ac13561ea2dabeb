"""The journal against clock steps and storage faults (issue 14: time and storage).

Clocks are injected (``Clock``); storage is real SQLite files in the test's
folder.  Each test failed before this round (see the comment under its name).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from postmark_kit import hookimpl
from postmark_kit.events import parse_event
from postmark_kit.receiver import Webhook
from postmark_kit.receiver.journal import (
    Clock,
    JournalDispatcher,
    JournalSettings,
    WebhookJournal,
)
from postmark_kit.receiver.manager import build_plugin_manager
from tests.conftest import ROOT, load_webhook
from tests.receiver import _receiver_support
from tests.receiver._receiver_support import Recorder, post
from tests.receiver.test_receiver_journal import dispatcher_of, journaled, wait_until

clean_env = _receiver_support.clean_env
make_app = _receiver_support.make_app
store_path = _receiver_support.store_path

BOUNCE = load_webhook("bounce")


class SteppedClock(Clock):
    """A clock the test moves: wall-clock steps and monotonic time apart."""

    def __init__(self, boot: str = "boot-1") -> None:
        self.boot = boot
        self.wall = 1_800_000_000.0
        self.mono = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def _webhook(n: int, body: bytes | None = None) -> Webhook:
    payload = {**BOUNCE, "ID": n}
    return Webhook(
        body=body if body is not None else json.dumps(payload).encode(),
        payload=payload,
        dedupe_key=f"bounce:{n}",
        kind="bounce",
        received_at=datetime.now(UTC),
    )


OWNER_A = f"{os.uname().nodename}|{os.getpid()}|a"
OWNER_B = f"{os.uname().nodename}|{os.getpid()}|b"


def test_a_clock_stepping_back_does_not_strand_retries(tmp_path: Path) -> None:
    # Before: due times were wall-clock only; stepped back an hour, a retry due
    # in 5 s waited an hour and 5 s.
    clock = SteppedClock()
    journal = WebhookJournal(tmp_path / "j.sqlite3", clock=clock)
    settings = JournalSettings(retry_base=5.0)
    try:
        event_id = journal.append(_webhook(1))
        assert event_id is not None
        assert len(journal.claim(OWNER_A, limit=10, lease=300)) == 1
        journal.finish(
            event_id,
            succeeded=[],
            failed={("crm", "postmark_bounce"): "down"},
            settings=settings,
        )
        clock.wall -= 3600  # NTP steps the clock back an hour
        clock.mono += 2
        assert journal.claim(OWNER_A, limit=10, lease=300) == []  # not due yet: 4-6 s
        clock.mono += 5
        assert [e.id for e in journal.claim(OWNER_A, limit=10, lease=300)] == [event_id]
        state, attempts, due = journal.deliveries(event_id)[("crm", "postmark_bounce")]
        assert (state, attempts, due) == ("retry", 1, True)
        # The health figures use the same clocks: due for 1-3 s, not "an hour ago".
        stats = journal.health_check()
        assert 0 <= stats["oldest_due_seconds"] < 4
    finally:
        journal.close()


def test_a_clock_stepping_forward_does_not_end_a_live_claim(tmp_path: Path) -> None:
    # Before: a claim older than the lease by the wall clock was taken over, so
    # a step forward of two hours let a second worker run an event in hand.
    clock = SteppedClock()
    journal = WebhookJournal(tmp_path / "j.sqlite3", clock=clock)
    try:
        journal.append(_webhook(1))
        assert [e.id for e in journal.claim(OWNER_A, limit=10, lease=300)] == [1]
        clock.wall += 7200
        clock.mono += 1
        assert journal.claim(OWNER_B, limit=10, lease=300) == []
        clock.mono += 300  # the lease really has run out
        assert [e.id for e in journal.claim(OWNER_B, limit=10, lease=300)] == [1]
        # After a reboot, monotonic times of the last boot mean nothing: wall clock.
        rebooted = SteppedClock(boot="boot-2")
        rebooted.wall, rebooted.mono = clock.wall + 1, 5.0
        other = WebhookJournal(tmp_path / "j.sqlite3", clock=rebooted)
        try:
            assert other.claim(OWNER_A, limit=10, lease=300) == []  # B's claim: 1 s old
            rebooted.wall += 301
            assert [e.id for e in other.claim(OWNER_A, limit=10, lease=300)] == [1]
        finally:
            other.close()
    finally:
        journal.close()


class Counter:
    plugin_name = "counter"

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def postmark_event(self) -> None:
        self.calls += 1


@pytest.mark.slow  # load: thousands of events
def test_the_wal_file_stays_small_under_steady_load(tmp_path: Path) -> None:
    # Before: with requests appending and the worker claiming all the time,
    # SQLite's automatic checkpoints never restarted the -wal file: it grew by
    # every commit (159 MB for these 36 MB of events).
    path = tmp_path / "j.sqlite3"
    counter = Counter()
    settings = JournalSettings(path=str(path), poll=0.01)
    dispatcher = JournalDispatcher(
        build_plugin_manager([counter], load_entrypoints=False), None, settings
    )
    peak = 0
    filler = "x" * 100_000
    try:

        def send(start: int) -> None:
            nonlocal peak
            for n in range(start, start + 90):
                payload = {**BOUNCE, "ID": n, "Content": filler}
                webhook = _webhook(n, json.dumps(payload).encode())
                assert dispatcher.dispatch(parse_event(payload), webhook).ok
                peak = max(peak, dispatcher.journal.wal_bytes())

        senders = [threading.Thread(target=send, args=(k * 1000,)) for k in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=60)
        wait_until(lambda: counter.calls == 360, timeout=60)
    finally:
        dispatcher.close()
    written = 360 * len(filler)
    print(f"\n-wal peak {peak / 1e6:.1f} MB for {written / 1e6:.0f} MB of events")
    assert peak < 30_000_000


def test_pruning_returns_space_to_the_disk(tmp_path: Path) -> None:
    # Before: pruned rows left their pages free inside the file: it never shrank.
    path = tmp_path / "j.sqlite3"
    journal = WebhookJournal(path)
    try:
        for n in range(20):  # 4 MB: pages enough to see them go back
            event_id = journal.append(_webhook(n, json.dumps({"x": "y" * 200_000}).encode()))
            assert event_id is not None
            journal.finish(
                event_id, succeeded=[], failed={}, settings=JournalSettings(), first=True
            )
        journal.checkpoint(wait=1)
        before = path.stat().st_size
        assert journal.prune(0) == 20
        after = path.stat().st_size
    finally:
        journal.close()
    print(f"\njournal file {before / 1e6:.1f} MB -> {after / 1e6:.2f} MB after pruning")
    assert before > 4_000_000 and after < 1_000_000


def test_a_round_that_could_not_be_recorded_is_retried_soon(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: when the worker could not record a round (disk full), the event
    # stayed claimed by the live worker until the lease ran out: 5 minutes.
    recorder = Recorder()
    app = journaled(make_app, tmp_path, plugins=[recorder], worker=True)
    failures = {"left": 1}  # a failed round pauses the worker half a second (journal.py)
    real_finish = WebhookJournal.finish

    def full(self: WebhookJournal, *args: Any, **kwargs: Any) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return real_finish(self, *args, **kwargs)

    monkeypatch.setattr(WebhookJournal, "finish", full)
    assert post(app.test_client(), BOUNCE).status_code == 200
    wait_until(lambda: dispatcher_of(app).journal.counts()["done"] == 1, timeout=10)
    assert failures["left"] == 0


_DISK_FULL = """
import base64, json, os, resource, signal, sys, time
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
from postmark_kit.receiver import PostmarkReceiver, create_app
from postmark_kit.plugins import EventStore
folder, bounce = sys.argv[1], json.loads(sys.argv[2])
app = create_app({
    "POSTMARK_WEBHOOK_USERNAME": "u", "POSTMARK_WEBHOOK_PASSWORD": "p",
    "POSTMARK_JOURNAL": folder + "/j.sqlite3", "POSTMARK_EVENT_STORE": folder + "/e.sqlite3",
    "POSTMARK_LOAD_ENTRYPOINTS": False, "POSTMARK_JOURNAL_POLL": 0.05,
    "POSTMARK_JOURNAL_RETRY_BASE": 0.05, "POSTMARK_LOG_EVENTS": False})
client = app.test_client()
auth = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
def send(n):
    body = {**bounce, "ID": n, "Content": "x" * 20000}
    return client.post("/postmark/webhook", json=body, headers=auth).status_code
out = {"before": [send(n) for n in range(1, 4)]}
time.sleep(0.5)
sizes = [os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]
resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) + 8192, resource.RLIM_INFINITY))
out["full"] = [send(n) for n in range(10, 16)]
health = client.get("/postmark/health")
out["full_health"] = [health.status_code, health.mimetype, health.get_json(silent=True)]
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
out["freed"] = [send(n) for n in range(20, 26)]
deadline = time.monotonic() + 20
while time.monotonic() < deadline and client.get("/postmark/health").get_json()["pending"]:
    time.sleep(0.05)
out["health"] = client.get("/postmark/health").get_json()
store = EventStore(folder + "/e.sqlite3", create=False)
out["stored"] = sorted(json.loads(e.raw)["ID"] for e in store.query(limit=None))
store.close()
PostmarkReceiver.shutdown(app)
print(json.dumps(out))
"""


@pytest.mark.slow  # a subprocess with a file-size limit
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk: Linux")
def test_the_receiver_recovers_after_the_disk_frees_up(tmp_path: Path) -> None:
    """A real write failure (EFBIG from RLIMIT_FSIZE, in a child process), then space again."""
    result = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(tmp_path), json.dumps(BOUNCE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{out}")
    assert out["before"] == [200, 200, 200]
    assert 503 in out["full"]  # refused while full: Postmark retries them
    # /health says so while the disk is full: 503 with a JSON reason.
    status, mimetype, body = out["full_health"]
    assert (status, mimetype) == (503, "application/json"), out["full_health"]
    assert body["ok"] is False and "journal is not usable" in body["error"], body
    assert out["freed"] == [200] * 6  # no restart
    assert out["health"]["ok"] is True and out["health"]["pending"] == 0
    accepted = [10 + i for i, status in enumerate(out["full"]) if status == 200]
    assert out["stored"] == sorted([1, 2, 3, *accepted, *range(20, 26)])  # nothing lost


def test_an_inbound_body_is_not_kept_twice(make_app: Any, tmp_path: Path) -> None:
    # Before: the journal kept every body for the retention period (7 days)
    # although the event store had stored it too: a 40 MB message took 80 MB.
    from click.testing import CliRunner

    from postmark_kit.cli import main
    from postmark_kit.plugins import EventStore

    inbound = load_webhook("inbound")
    big = {**inbound, "TextBody": "x" * 200_000}
    app = journaled(make_app, tmp_path, POSTMARK_EVENT_STORE=str(tmp_path / "events.sqlite3"))
    client = app.test_client()
    assert post(client, big).status_code == 200
    assert post(client, BOUNCE).status_code == 200
    dispatcher_of(app).drain()
    journal = dispatcher_of(app).journal
    first, second = journal.get(1), journal.get(2)
    assert first is not None and second is not None
    assert (first.state, first.body) == ("done", b"")  # the store has it
    assert json.loads(second.body) == BOUNCE  # small bodies stay (replayable)
    store = EventStore(tmp_path / "events.sqlite3", create=False)
    try:
        assert store.get_by_key(first.dedupe_key).payload == big  # type: ignore[union-attr]
    finally:
        store.close()
    path = str(tmp_path / "journal.sqlite3")
    result = CliRunner().invoke(main, ["events", "replay", "--journal", path, "--id", "1"])
    assert result.exit_code == 1 and "the event store has it" in result.output
    assert journal.get(1).state == "done"  # type: ignore[union-attr]
    # Without an event store the journal keeps bodies (it is the only copy).
    alone = journaled(make_app, tmp_path, POSTMARK_JOURNAL=str(tmp_path / "alone.sqlite3"))
    assert post(alone.test_client(), big).status_code == 200
    dispatcher_of(alone).drain()
    assert json.loads(dispatcher_of(alone).journal.get(1).body) == big  # type: ignore[union-attr]
