"""Journal dispatch: committed before the 200, plugins after, retries, dead letters, replay."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit import hookimpl
from postmark_kit.cli import main
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.receiver.config import ConfigError
from postmark_kit.receiver.journal import JournalDispatcher, JournalSettings, WebhookJournal
from tests.conftest import load_webhook
from tests.receiver import _receiver_support
from tests.receiver._journal_plugins import CounterA, CounterB, read_calls
from tests.receiver._receiver_support import Recorder, post

# The fixtures this module uses (assigned: parameters named like them are not redefinitions).
clean_env = _receiver_support.clean_env
make_app = _receiver_support.make_app
store_path = _receiver_support.store_path

BOUNCE = load_webhook("bounce")


def journaled(make_app: Any, tmp_path: Path, *, worker: bool = False, **extra: Any) -> Any:
    """A receiver in journal mode; without a worker thread the test drains by hand."""
    config = {
        "POSTMARK_DISPATCH": "journal",
        "POSTMARK_JOURNAL": str(tmp_path / "journal.sqlite3"),
        "POSTMARK_JOURNAL_WORKER": worker,
        "POSTMARK_JOURNAL_RETRY_BASE": 0.001,
        "POSTMARK_JOURNAL_POLL": 0.01,
        "POSTMARK_LOAD_ENTRYPOINTS": False,
        "POSTMARK_EVENT_STORE": "",
        **{k: v for k, v in extra.items() if k.startswith("POSTMARK_")},
    }
    return make_app(config, plugins=extra.get("plugins", ()))


def dispatcher_of(app: Any) -> JournalDispatcher:
    dispatcher = PostmarkReceiver.state_for(app).dispatcher
    assert isinstance(dispatcher, JournalDispatcher)
    return dispatcher


def drain_all(app: Any, timeout: float = 10.0) -> None:
    """Drain until nothing is pending (retries become due after their backoff)."""
    dispatcher = dispatcher_of(app)
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while dispatcher.journal.counts()["pending"]:
        assert time.monotonic() < deadline, dispatcher.journal.counts()
        dispatcher.drain()
        if dispatcher.journal.counts()["pending"]:  # a retry not due yet: a short pause
            time.sleep(delay)
            delay = min(delay * 2, 0.005)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` from every half millisecond up to every 5 ms: a wait ends
    about when the condition starts to hold, without spinning on a long one."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(delay)
        delay = min(delay * 2, 0.005)


class Flaky:
    """Fails ``failures`` times, then succeeds; counts calls."""

    def __init__(self, name: str, failures: int) -> None:
        self.plugin_name = name
        self.failures = failures
        self.calls = 0

    @hookimpl
    def postmark_bounce(self, event: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"{self.plugin_name} down (call {self.calls})")


def test_event_is_committed_before_the_answer_and_dispatched_after(
    make_app: Any, tmp_path: Path
) -> None:
    recorder = Recorder()
    app = journaled(make_app, tmp_path, plugins=[recorder])
    response = post(app.test_client(), BOUNCE, headers={"X-PM-Webhook-Trace-Id": "t-1"})
    assert response.status_code == 200
    assert response.headers["Postmark-Kit-Key"] == "trace:t-1"
    assert recorder.calls == []  # not yet: the worker runs plugins, not the request
    # Another connection (another process could be reading) sees the committed row.
    other = WebhookJournal(tmp_path / "journal.sqlite3", create=False)
    try:
        assert other.counts()["pending"] == 1
        entry = other.get(1)
        assert entry is not None
        assert json.loads(entry.body) == BOUNCE and entry.trace_id == "t-1"
    finally:
        other.close()
    drain_all(app)
    assert recorder.hooks() == ["postmark_bounce", "postmark_event"]
    _hook, event, _client, webhook = recorder.calls[0]
    assert event.id == BOUNCE["ID"] and webhook.dedupe_key == "trace:t-1"
    assert webhook.body == json.dumps(BOUNCE).encode()
    assert dispatcher_of(app).journal.counts()["done"] == 1


def test_postmark_retries_are_acknowledged_and_never_dispatched_twice(
    make_app: Any, tmp_path: Path
) -> None:
    recorder = Recorder()
    app = journaled(make_app, tmp_path, plugins=[recorder])
    client = app.test_client()
    first = post(client, BOUNCE, headers={"X-PM-Webhook-Trace-Id": "same"})
    assert "Postmark-Kit-Duplicate" not in first.headers
    drain_all(app)
    for _ in range(3):
        again = post(client, BOUNCE, headers={"X-PM-Webhook-Trace-Id": "same"})
        assert again.status_code == 200 and again.headers["Postmark-Kit-Duplicate"] == "true"
    # No trace id: the type-specific key (bounce ID) dedupes.
    post(client, BOUNCE)
    post(client, BOUNCE)
    drain_all(app)
    assert recorder.hooks().count("postmark_bounce") == 2
    assert dispatcher_of(app).journal.counts()["done"] == 2


def test_worker_thread_dispatches_each_event_once(make_app: Any, tmp_path: Path) -> None:
    calls = tmp_path / "calls.sqlite3"
    app = journaled(make_app, tmp_path, worker=True, plugins=[CounterA(calls), CounterB(calls)])
    client = app.test_client()
    for n in range(60):
        event = {**BOUNCE, "ID": 1000 + n}
        assert post(client, event).status_code == 200
    wait_until(lambda: sum(read_calls(calls).values()) == 120)
    PostmarkReceiver.shutdown(app)  # the worker has stopped: nothing more can arrive
    counted = read_calls(calls)
    assert len(counted) == 120 and set(counted.values()) == {1}
    journal = WebhookJournal(tmp_path / "journal.sqlite3", create=False)
    assert journal.counts() == {"pending": 0, "done": 60, "dead": 0, "dead_letters": 0}
    journal.close()


def test_a_failing_plugin_is_retried_alone_with_backoff(make_app: Any, tmp_path: Path) -> None:
    flaky, steady = Flaky("flaky", failures=2), Flaky("steady", failures=0)
    app = journaled(make_app, tmp_path, plugins=[flaky, steady])
    assert post(app.test_client(), BOUNCE).status_code == 200  # the journal took it
    drain_all(app)
    assert (flaky.calls, steady.calls) == (3, 1)
    journal = dispatcher_of(app).journal
    assert journal.counts()["done"] == 1 and journal.dead_letters() == []


def test_backoff_doubles_and_is_capped() -> None:
    settings = JournalSettings(retry_base=2.0, retry_max=60.0)
    assert 1.6 <= settings.backoff(1) <= 2.4
    assert 6.4 <= settings.backoff(3) <= 9.6
    assert 48 <= settings.backoff(30) <= 72


def test_a_plugin_failing_every_attempt_is_dead_lettered(
    make_app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken, steady = Flaky("broken", failures=10**6), Flaky("steady", failures=0)
    app = journaled(make_app, tmp_path, plugins=[broken, steady], POSTMARK_JOURNAL_MAX_ATTEMPTS=3)
    post(app.test_client(), BOUNCE)
    with caplog.at_level(logging.ERROR, "postmark_kit.receiver.journal"):
        drain_all(app)
    assert (broken.calls, steady.calls) == (3, 1)
    journal = dispatcher_of(app).journal
    assert journal.counts() == {"pending": 0, "done": 0, "dead": 1, "dead_letters": 1}
    (letter,) = journal.dead_letters()
    assert (letter.event_id, letter.plugin, letter.hook, letter.attempts) == (
        1,
        "broken",
        "postmark_bounce",
        3,
    )
    assert letter.error == "RuntimeError: broken down (call 3)"
    assert "dead-lettered for plugin(s) broken" in caplog.text


def test_failed_and_replay_commands(make_app: Any, tmp_path: Path) -> None:
    broken, steady = Flaky("broken", failures=2), Flaky("steady", failures=0)
    path = tmp_path / "journal.sqlite3"
    app = journaled(make_app, tmp_path, plugins=[broken, steady], POSTMARK_JOURNAL_MAX_ATTEMPTS=2)
    post(app.test_client(), BOUNCE)
    drain_all(app)
    runner = CliRunner()
    listed = runner.invoke(main, ["events", "failed", "--journal", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "broken" in listed.output and "RuntimeError: broken down (call 2)" in listed.output
    assert "1 dead letter(s); journal: 0 pending, 0 done, 1 dead" in listed.output
    as_json = runner.invoke(main, ["events", "failed", "--journal", str(path), "--json"])
    assert json.loads(as_json.output)["plugin"] == "broken"

    replayed = runner.invoke(main, ["events", "replay", "--journal", str(path), "--all"])
    assert replayed.exit_code == 0 and "queued 1 event(s)" in replayed.output
    drain_all(app)  # the receiver's worker picks it up: only the plugin that gave up
    assert (broken.calls, steady.calls) == (3, 1)
    empty = runner.invoke(main, ["events", "failed", "--journal", str(path)])
    assert "0 dead letter(s); journal: 0 pending, 1 done, 0 dead" in empty.output

    # A deliberate replay of a finished event reaches every plugin again.
    again = runner.invoke(main, ["events", "replay", "--journal", str(path), "--id", "1"])
    assert again.exit_code == 0
    drain_all(app)
    assert (broken.calls, steady.calls) == (4, 2)
    assert dispatcher_of(app).journal.get(1).replays == 2  # type: ignore[union-attr]

    unknown = runner.invoke(main, ["events", "replay", "--journal", str(path), "--id", "99"])
    assert unknown.exit_code == 1 and "no such event: 99" in unknown.output
    usage = runner.invoke(main, ["events", "replay", "--journal", str(path)])
    assert usage.exit_code == 2
    missing = runner.invoke(main, ["events", "failed", "--journal", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no journal at" in missing.output


def test_replay_now_dispatches_with_the_configured_plugins(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls.sqlite3"
    broken = Flaky("counter-a", failures=10**6)  # same name as the plugin configured below
    app = journaled(make_app, tmp_path, plugins=[broken], POSTMARK_JOURNAL_MAX_ATTEMPTS=1)
    post(app.test_client(), BOUNCE)
    drain_all(app)
    PostmarkReceiver.shutdown(app)
    monkeypatch.setenv("JOURNAL_TEST_CALLS", str(calls))
    monkeypatch.setenv("POSTMARK_PLUGINS", "tests.receiver._journal_plugins:CounterA")
    monkeypatch.setenv("POSTMARK_LOAD_ENTRYPOINTS", "false")
    monkeypatch.setenv("POSTMARK_EVENT_STORE", "")
    path = str(tmp_path / "journal.sqlite3")
    result = CliRunner().invoke(main, ["events", "replay", "--journal", path, "--all", "--now"])
    assert result.exit_code == 0, result.output
    assert (
        "dispatched 1 event(s) now: 1 succeeded, none failed; no dead letters left" in result.output
    )
    assert read_calls(calls) == {("counter-a", f"bounce:{BOUNCE['ID']}"): 1}


def test_a_journal_that_cannot_be_written_answers_5xx(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    app = journaled(make_app, tmp_path, plugins=[recorder])

    def full(self: WebhookJournal, webhook: Any) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(WebhookJournal, "append", full)
    response = post(app.test_client(), BOUNCE)
    assert response.status_code == 503  # Postmark retries: nothing acknowledged is lost
    assert response.get_json() == {"error": "the journal could not be written"}
    # Even where plugin failures are acknowledged with 200: this event was not taken.
    app200 = journaled(make_app, tmp_path, POSTMARK_FAILURE_STATUS=200)
    assert post(app200.test_client(), BOUNCE).status_code == 503
    monkeypatch.undo()
    assert dispatcher_of(app).journal.counts()["pending"] == 0


def test_reject_after_journaling_is_logged_not_retried(
    make_app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from postmark_kit.receiver import Reject

    class Refuse:
        plugin_name = "refuse"

        @hookimpl
        def postmark_bounce(self) -> None:
            raise Reject("not wanted")

    app = journaled(make_app, tmp_path, plugins=[Refuse()])
    assert post(app.test_client(), BOUNCE).status_code == 200
    with caplog.at_level(logging.INFO, "postmark_kit.receiver.journal"):
        drain_all(app)
    assert "rejected after journaling (not wanted)" in caplog.text
    assert dispatcher_of(app).journal.counts()["done"] == 1


def test_an_unreadable_journaled_body_is_dead_lettered(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from postmark_kit.receiver.dispatch import Webhook
    from postmark_kit.receiver.manager import build_plugin_manager

    recorder = Recorder()
    settings = JournalSettings(path=str(tmp_path / "j.sqlite3"), worker=False)
    dispatcher = JournalDispatcher(
        build_plugin_manager([recorder], load_entrypoints=False), None, settings
    )
    try:
        webhook = Webhook(
            body=b'{"RecordType": "Bounce"}',  # journaled by an older version, say
            payload={},
            dedupe_key="x",
            kind="bounce",
            received_at=datetime.now(UTC),
        )
        assert dispatcher.journal.append(webhook) == 1
        assert dispatcher.drain() == 1
        (letter,) = dispatcher.journal.dead_letters()
        assert letter.plugin == "<parse>" and "Bounce" in letter.error
        assert recorder.calls == []
    finally:
        dispatcher.close()


def test_a_claim_held_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "j.sqlite3"
    journal = WebhookJournal(path)
    from datetime import UTC, datetime

    from postmark_kit.receiver.dispatch import Webhook

    webhook = Webhook(
        body=json.dumps(BOUNCE).encode(),
        payload=BOUNCE,
        dedupe_key="k",
        kind="bounce",
        received_at=datetime.now(UTC),
    )
    journal.append(webhook)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    import socket

    dead_owner = f"{socket.gethostname()}|{int(gone.stdout)}|x"
    live_owner = f"{socket.gethostname()}|{os.getpid()}|y"
    assert [e.id for e in journal.claim(dead_owner, limit=10, lease=300)] == [1]
    # The claimant died: the next worker takes the event without waiting for the lease.
    assert [e.id for e in journal.claim(live_owner, limit=10, lease=300)] == [1]
    # A live claimant keeps it until the lease runs out.
    assert journal.claim(dead_owner, limit=10, lease=300) == []
    time.sleep(0.01)
    assert [e.id for e in journal.claim(dead_owner, limit=10, lease=0.005)] == [1]
    journal.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("POSTMARK_JOURNAL_MAX_ATTEMPTS", "0", "between 1 and 1000"),
        ("POSTMARK_JOURNAL_RETRY_BASE", "soon", "must be a number"),
        ("POSTMARK_JOURNAL_WORKER", "maybe", "true or false"),
    ],
)
def test_bad_journal_settings_fail_at_startup(
    make_app: Any, tmp_path: Path, key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        journaled(make_app, tmp_path, **{key: value})  # type: ignore[arg-type]


def test_standalone_app_journals_by_default(make_app: Any, tmp_path: Path) -> None:
    from postmark_kit.receiver import create_app

    os.environ["POSTMARK_JOURNAL"] = str(tmp_path / "default.sqlite3")
    app = create_app(
        {
            "POSTMARK_EVENT_STORE": "",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_INSECURE_NO_AUTH": True,
        }
    )
    try:
        assert isinstance(dispatcher_of(app), JournalDispatcher)
        assert (tmp_path / "default.sqlite3").exists()
    finally:
        PostmarkReceiver.shutdown(app)


def test_concurrent_appends_share_commits_and_each_gets_its_answer(tmp_path: Path) -> None:
    """Group commit: 400 appends from 16 threads (a quarter repeats): one answer each, right."""
    import threading
    from datetime import UTC, datetime

    from postmark_kit.receiver.dispatch import Webhook

    journal = WebhookJournal(tmp_path / "j.sqlite3")
    results: dict[int, int | None] = {}
    lock = threading.Lock()

    def send(first: int) -> None:
        for n in range(first, 400, 16):
            key = f"k{n % 300}"  # n >= 300 repeats an earlier key
            webhook = Webhook(
                body=b"{}", payload={}, dedupe_key=key, kind="bounce", received_at=datetime.now(UTC)
            )
            answer = journal.append(webhook)
            with lock:
                results[n] = answer

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert len(results) == 400
        ids = [v for v in results.values() if v is not None]
        assert len(ids) == len(set(ids)) == 300  # every key journaled once, ids distinct
        for n, answer in results.items():  # each caller got its own row's id back
            if answer is not None:
                entry = journal.get(answer)
                assert entry is not None and entry.dedupe_key == f"k{n % 300}"
        for n in range(100):  # of a key sent twice, exactly one send journaled it
            assert (results[n] is None) != (results[n + 300] is None)
        assert journal.counts()["pending"] == 300
    finally:
        journal.close()


def test_opening_waits_for_a_lock_held_elsewhere(tmp_path: Path) -> None:
    """After a crash every restarting process opens the journal at once while one
    recovers the WAL under an exclusive lock: the others wait, they don't fail to boot."""
    import threading

    path = tmp_path / "j.sqlite3"
    WebhookJournal(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # Exclusive locking mode: even readers are kept out (as during WAL recovery).
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    release = threading.Timer(0.05, holder.close)
    release.start()
    try:
        journal = WebhookJournal(path)
        assert time.monotonic() - started >= 0.05  # it did wait for the lock
        assert journal.counts()["pending"] == 0
        journal.close()
    finally:
        release.join()
