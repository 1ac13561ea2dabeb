"""Durability round 2: operator replays, plugin faults, /health (issue 14).

Each test here failed on the receiver before this round: the comment under
its name says how.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit import hookimpl
from postmark_kit.cli import main
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.receiver.journal import Clock, WebhookJournal
from tests.conftest import load_webhook
from tests.receiver import _receiver_support
from tests.receiver._receiver_support import post
from tests.receiver.test_receiver_journal import (
    dispatcher_of,
    drain_all,
    journaled,
    wait_until,
)

clean_env = _receiver_support.clean_env
make_app = _receiver_support.make_app
store_path = _receiver_support.store_path

BOUNCE = load_webhook("bounce")
DELIVERY = load_webhook("delivery")


class Counting:
    """``postmark_bounce`` and ``postmark_event``, each failing its first ``fail_*`` calls."""

    def __init__(self, name: str, fail_bounce: int = 0, fail_event: int = 0) -> None:
        self.plugin_name = name
        self.fail_bounce, self.fail_event = fail_bounce, fail_event
        self.bounce_calls = self.event_calls = 0

    @hookimpl
    def postmark_bounce(self) -> None:
        self.bounce_calls += 1
        if self.bounce_calls <= self.fail_bounce:
            raise RuntimeError(f"{self.plugin_name} bounce down")

    @hookimpl
    def postmark_event(self) -> None:
        self.event_calls += 1
        if self.event_calls <= self.fail_event:
            raise RuntimeError(f"{self.plugin_name} event down")


def journal_state(app: Any, event_id: int = 1) -> str:
    entry = dispatcher_of(app).journal.get(event_id)
    assert entry is not None
    return entry.state


# -- operator actions ----------------------------------------------------------


def test_replay_from_a_process_without_the_plugin_keeps_the_dead_letter(
    make_app: Any, tmp_path: Path
) -> None:
    # Before: the replaying process ran the plugins it had, found nothing left
    # to do and marked the event done: the dead letter was gone for good.
    crm, steady = Counting("crm", fail_bounce=10**6), Counting("steady")
    first = journaled(make_app, tmp_path, plugins=[crm, steady], POSTMARK_JOURNAL_MAX_ATTEMPTS=1)
    post(first.test_client(), BOUNCE)
    drain_all(first)
    assert journal_state(first) == "dead"
    PostmarkReceiver.shutdown(first)

    other = journaled(make_app, tmp_path, plugins=[Counting("steady")])
    journal = dispatcher_of(other).journal
    assert journal.replay([1]) == [1]
    dispatcher_of(other).drain()
    assert journal_state(other) == "dead"
    (letter,) = journal.dead_letters()
    assert letter.plugin == "crm"
    assert "PluginNotLoaded" in letter.error and "'crm' is not loaded" in letter.error
    # And back where crm is loaded (and fixed), the replay goes to crm alone.
    PostmarkReceiver.shutdown(other)
    fixed = Counting("crm")
    third = journaled(make_app, tmp_path, plugins=[fixed, steady])
    assert dispatcher_of(third).journal.replay(None) == [1]
    drain_all(third)
    assert (fixed.bounce_calls, fixed.event_calls) == (1, 0)  # its event hook had succeeded
    assert (steady.bounce_calls, steady.event_calls) == (1, 1)
    assert journal_state(third) == "done"
    assert dispatcher_of(third).journal.dead_letters() == []


def test_replay_now_refuses_when_a_plugin_owed_the_event_is_not_loaded(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: --now dispatched with the plugins of its own environment and
    # marked the event done although crm never got it.
    crm = Counting("crm", fail_bounce=10**6)
    app = journaled(make_app, tmp_path, plugins=[crm], POSTMARK_JOURNAL_MAX_ATTEMPTS=1)
    post(app.test_client(), BOUNCE)
    drain_all(app)
    PostmarkReceiver.shutdown(app)
    monkeypatch.setenv("POSTMARK_LOAD_ENTRYPOINTS", "false")
    monkeypatch.setenv("POSTMARK_EVENT_STORE", "")
    monkeypatch.setenv("POSTMARK_INSECURE_NO_AUTH", "true")
    path = str(tmp_path / "journal.sqlite3")
    for flags in (["--all"], ["--id", "1"]):
        result = CliRunner().invoke(main, ["events", "replay", "--journal", path, *flags, "--now"])
        assert result.exit_code == 1, result.output
        assert "plugin(s) crm not loaded here" in result.output
        assert "Traceback" not in result.output
    listed = CliRunner().invoke(main, ["events", "failed", "--journal", path])
    assert "crm" in listed.output and "1 dead letter(s)" in listed.output
    assert "0 done, 1 dead" in listed.output


def test_replaying_twice_or_while_pending_reruns_only_what_failed(
    make_app: Any, tmp_path: Path
) -> None:
    # Before: a replay of an event without dead letters dropped every
    # recorded outcome, so plugins that had succeeded ran again.
    flaky, steady = Counting("flaky", fail_bounce=1), Counting("steady")
    app = journaled(make_app, tmp_path, plugins=[flaky, steady], POSTMARK_JOURNAL_RETRY_BASE=3600)
    post(app.test_client(), BOUNCE)
    dispatcher_of(app).drain()
    assert journal_state(app) == "pending"  # flaky's retry is an hour away
    journal = dispatcher_of(app).journal
    assert journal.replay([1]) == [1]
    assert journal.replay([1]) == [1]
    drain_all(app)
    assert (flaky.bounce_calls, flaky.event_calls) == (2, 1)
    assert (steady.bounce_calls, steady.event_calls) == (1, 1)
    assert journal_state(app) == "done"
    # A dead-lettered event replayed twice before the worker runs: still once.
    broken = Counting("broken", fail_bounce=1)
    second = journaled(
        make_app,
        tmp_path,
        plugins=[broken],
        POSTMARK_JOURNAL="" + str(tmp_path / "j2.sqlite3"),
        POSTMARK_JOURNAL_MAX_ATTEMPTS=1,
    )
    post(second.test_client(), BOUNCE)
    dispatcher_of(second).drain()
    assert journal_state(second) == "dead"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(
            main, ["events", "replay", "--journal", str(tmp_path / "j2.sqlite3"), "--all"]
        )
        assert result.exit_code == 0, result.output
        # The dead letter stays listed until the plugin succeeds.
        assert len(dispatcher_of(second).journal.dead_letters()) == 1
    drain_all(second)
    assert (broken.bounce_calls, broken.event_calls) == (2, 1)
    assert dispatcher_of(second).journal.dead_letters() == []


class ReplaysMidRound(Counting):
    """Its first ``postmark_bounce`` is where an operator replays the event, then it fails.

    Meanwhile a second worker (another connection to the journal) tries to
    claim the event: it must find nothing, the event is in hand.
    """

    def __init__(self, path: str) -> None:
        super().__init__("flaky", fail_bounce=1)
        self.path = path
        self.replayed: list[int] = []
        self.second_worker_got: list[int] = []

    @hookimpl
    def postmark_bounce(self) -> None:
        if self.bounce_calls == 0:
            operator = WebhookJournal(self.path, create=False)
            try:
                self.replayed = operator.replay([1])
                claimed = operator.claim("second-worker", limit=10, lease=300)
                self.second_worker_got = [e.id for e in claimed]
            finally:
                operator.close()
        super().postmark_bounce()


def test_replaying_an_event_in_flight_reruns_the_failed_hook_now(
    make_app: Any, tmp_path: Path
) -> None:
    # Before: the round in hand recorded its failure with the full backoff (an
    # hour here), overwriting the replay that came in meanwhile: the operator's
    # replay did nothing until the backoff ran out.
    path = str(tmp_path / "journal.sqlite3")
    flaky, steady = ReplaysMidRound(path), Counting("steady")
    app = journaled(make_app, tmp_path, plugins=[flaky, steady], POSTMARK_JOURNAL_RETRY_BASE=3600)
    post(app.test_client(), BOUNCE)
    dispatcher = dispatcher_of(app)
    # The round (replayed mid-way, flaky's bounce fails), then at once the rerun:
    # the replay made the failed hook due now, not after the hour of backoff.
    assert dispatcher.drain() == 2
    assert flaky.replayed == [1]
    assert flaky.second_worker_got == []  # nobody else took the event while it was in hand
    assert journal_state(app) == "done"
    assert (flaky.bounce_calls, flaky.event_calls) == (2, 1)
    assert (steady.bounce_calls, steady.event_calls) == (1, 1)  # what succeeded ran once
    assert dispatcher.journal.dead_letters() == []


def test_a_plugin_removed_with_a_pending_retry_is_dead_lettered_not_spun_on(
    make_app: Any, tmp_path: Path
) -> None:
    # Before: the event was claimed, found with nothing to run, left pending
    # with its old due time, and claimed again at once: forever, at full CPU.
    gone, steady = Counting("gone", fail_bounce=1), Counting("steady")
    first = journaled(make_app, tmp_path, plugins=[gone, steady], POSTMARK_JOURNAL_RETRY_BASE=10)
    post(first.test_client(), BOUNCE)
    dispatcher_of(first).drain()
    assert journal_state(first) == "pending"
    PostmarkReceiver.shutdown(first)

    second = journaled(make_app, tmp_path, plugins=[steady])
    assert dispatcher_of(second).drain(timeout=2) == 0  # the retry is not due yet
    clock = dispatcher_of(second).journal.clock = LaterClock()
    clock.later = 15  # the retry (10 s +-20%) is due
    assert dispatcher_of(second).drain(timeout=2) == 1  # once, not a busy loop
    assert journal_state(second) == "dead"
    (letter,) = dispatcher_of(second).journal.dead_letters()
    assert (letter.plugin, letter.hook) == ("gone", "postmark_bounce")
    listed = CliRunner().invoke(
        main, ["events", "failed", "--journal", str(tmp_path / "journal.sqlite3")]
    )
    assert "gone" in listed.output and "is not loaded" in listed.output
    assert steady.bounce_calls == 1  # never re-run


# -- plugin faults -------------------------------------------------------------


def test_retries_are_per_hook_implementation(make_app: Any, tmp_path: Path) -> None:
    # Before: a failed postmark_bounce re-ran the same plugin's postmark_event
    # (which had succeeded) on every retry.
    plugin = Counting("both", fail_bounce=2)
    app = journaled(make_app, tmp_path, plugins=[plugin])
    post(app.test_client(), BOUNCE)
    drain_all(app)
    assert (plugin.bounce_calls, plugin.event_calls) == (3, 1)
    assert journal_state(app) == "done"


class Exits:
    """Raises ``error`` on its first call, then records."""

    plugin_name = "exits"

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls: list[str] = []

    @hookimpl
    def postmark_event(self, webhook: Any) -> None:
        self.calls.append(webhook.dedupe_key)
        if len(self.calls) == 1:
            raise self.error


class Fatal(BaseException):
    """Neither an Exception nor SystemExit/KeyboardInterrupt."""


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), Fatal("x")])
def test_a_base_exception_is_a_plugin_failure_in_every_mode(
    make_app: Any, tmp_path: Path, error: BaseException
) -> None:
    # Before: inline mode let it escape the request; the journal worker died silently.
    inline_plugin, other = Exits(error), Counting("other")
    inline = make_app({"POSTMARK_LOAD_ENTRYPOINTS": False}, plugins=[inline_plugin, other])
    answer = post(inline.test_client(), BOUNCE)
    assert answer.status_code == 503
    assert answer.get_json() == {"error": "plugin(s) failed: exits"}
    assert other.event_calls == 1  # the others still got it

    plugin = Exits(error)
    app = journaled(make_app, tmp_path, plugins=[plugin], worker=True)
    client = app.test_client()
    assert post(client, BOUNCE).status_code == 200
    assert post(client, DELIVERY).status_code == 200
    # The worker survives: the second event and the first one's retry both arrive.
    wait_until(lambda: journal_state(app, 1) == "done" and journal_state(app, 2) == "done")
    assert sorted(plugin.calls).count(f"bounce:{BOUNCE['ID']}") == 2
    health = client.get("/postmark/health")
    assert health.status_code == 200 and health.get_json()["ok"] is True


class Hangs:
    """Blocks in ``postmark_bounce`` until released (a plugin waiting on a dead socket)."""

    plugin_name = "hangs"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.finished = 0

    @hookimpl
    def postmark_bounce(self) -> None:
        self.calls += 1
        if self.calls == 1:
            self.release.wait(30)
        self.finished += 1


def test_a_hanging_plugin_times_out_and_others_keep_flowing(make_app: Any, tmp_path: Path) -> None:
    # Before: the worker waited on the plugin for as long as it hung, and every
    # other event (for every plugin) waited behind it.
    hangs, steady = Hangs(), Counting("steady")
    app = journaled(
        make_app,
        tmp_path,
        plugins=[hangs, steady],
        worker=True,
        POSTMARK_PLUGIN_TIMEOUT=0.1,
        POSTMARK_JOURNAL_RETRY_BASE=0.05,
        POSTMARK_JOURNAL_MAX_ATTEMPTS=100,
    )
    client = app.test_client()
    try:
        assert post(client, BOUNCE).status_code == 200
        wait_until(lambda: hangs.calls == 1)
        for n in range(5):
            assert post(client, {**BOUNCE, "ID": n + 1}).status_code == 200
        # Everyone else's events keep flowing while the first call is still stuck.
        wait_until(lambda: steady.event_calls == 6)
        assert hangs.finished == 0
        report = client.get("/postmark/health").get_json()
        assert report["stuck_plugins"] == ["hangs.postmark_bounce"]
        entry = dispatcher_of(app).journal.deliveries(1)
        assert entry[("hangs", "postmark_bounce")][0] == "retry"
    finally:
        hangs.release.set()
    # Once it returns, its thread exits and the retries go through.
    wait_until(lambda: dispatcher_of(app).journal.counts()["done"] == 6)
    assert "stuck_plugins" not in client.get("/postmark/health").get_json()


def test_inline_mode_answers_5xx_for_a_hanging_plugin(make_app: Any) -> None:
    hangs, steady = Hangs(), Counting("steady")
    app = make_app(
        {"POSTMARK_LOAD_ENTRYPOINTS": False, "POSTMARK_PLUGIN_TIMEOUT": 0.1},
        plugins=[hangs, steady],
    )
    try:
        answer = post(app.test_client(), BOUNCE)
        assert answer.status_code == 503 and hangs.finished == 0  # answered while it hangs
        assert answer.get_json() == {"error": "plugin(s) failed: hangs"}
        assert steady.event_calls == 1
        # While it is stuck, the next request fails it at once instead of another thread.
        assert post(app.test_client(), BOUNCE).status_code == 503
        assert hangs.calls == 1
    finally:
        hangs.release.set()
    wait_until(lambda: hangs.finished == 1)
    wait_until(lambda: post(app.test_client(), BOUNCE).status_code == 200)


@pytest.mark.parametrize("value", ["-1", "soon", "86401"])
def test_bad_plugin_timeout_fails_at_startup(make_app: Any, value: str) -> None:
    from postmark_kit.receiver import ConfigError

    with pytest.raises(ConfigError, match="POSTMARK_PLUGIN_TIMEOUT"):
        make_app({"POSTMARK_PLUGIN_TIMEOUT": value})


# -- /health -------------------------------------------------------------------


class LaterClock(Clock):
    """The real clocks, ``later`` seconds ahead: a wait without waiting."""

    later = 0.0

    def time(self) -> float:
        return super().time() + self.later

    def monotonic(self) -> float:
        return super().monotonic() + self.later


def test_health_reports_the_backlog(make_app: Any, tmp_path: Path) -> None:
    # Before: /health answered {"ok": true} whatever state the journal was in.
    app = journaled(make_app, tmp_path, POSTMARK_JOURNAL_MAX_DELAY=1)
    clock = dispatcher_of(app).journal.clock = LaterClock()
    client = app.test_client()
    report = client.get("/postmark/health").get_json()
    assert report == {
        "ok": True,
        "mode": "journal",
        "pending": 0,
        "oldest_pending_seconds": None,
        "oldest_due_seconds": None,
    }
    post(client, BOUNCE)
    answer = client.get("/postmark/health")
    assert answer.status_code == 200
    assert answer.get_json()["pending"] == 1
    assert answer.get_json()["oldest_pending_seconds"] >= 0
    clock.later = 1.2  # nobody works on it (no worker here): it is overdue
    stalled = client.get("/postmark/health")
    assert stalled.status_code == 503
    assert "a due event has waited" in stalled.get_json()["error"]
    drain_all(app)
    assert client.get("/postmark/health").status_code == 200


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_health_is_503_when_the_worker_thread_is_dead(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("worker gone")

    monkeypatch.setattr(WebhookJournal, "claim", dies)
    app = journaled(make_app, tmp_path, worker=True)
    client = app.test_client()
    wait_until(lambda: client.get("/postmark/health").status_code == 503)
    assert client.get("/postmark/health").get_json()["error"] == (
        "the journal worker thread is not running"
    )


def test_health_is_503_when_the_journal_is_corrupt_or_gone(make_app: Any, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    app = journaled(make_app, tmp_path)
    client = app.test_client()
    for n in range(20):
        post(client, {**BOUNCE, "ID": n + 1})
    assert client.get("/postmark/health").status_code == 200
    dispatcher_of(app).journal.checkpoint()
    with open(path, "r+b") as f:  # scribble over every page but the header
        f.seek(4096)
        f.write(b"\xa5" * (path.stat().st_size - 4096))
    answer = client.get("/postmark/health")
    assert answer.status_code == 503
    assert answer.get_json()["error"].startswith("the journal is not usable")

    other = journaled(make_app, tmp_path, POSTMARK_JOURNAL=str(tmp_path / "other.sqlite3"))
    (tmp_path / "other.sqlite3").unlink()
    gone = other.test_client().get("/postmark/health")
    assert gone.status_code == 503
    assert "the journal file was removed or replaced" in gone.get_json()["error"]


def test_health_after_shutdown_is_503(make_app: Any) -> None:
    app = make_app()
    PostmarkReceiver.shutdown(app)
    answer = app.test_client().get("/postmark/health")
    assert answer.status_code == 503 and answer.get_json()["ok"] is False
