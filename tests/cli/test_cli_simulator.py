"""The CLI end to end against the local Postmark simulator (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit import Email, ServerClient
from postmark_kit.cli import main
from postmark_kit.testing import FakePostmark


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        yield server


@pytest.fixture
def cli(fake: FakePostmark) -> Any:
    fake.reset()
    env = {"POSTMARK_SERVER_TOKEN": fake.server_token, "POSTMARK_BASE_URL": fake.base_url}

    def invoke(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, [*args, "--retries", "0"], catch_exceptions=False)

    return invoke


def test_send_then_find_export_and_count(cli: Any, fake: FakePostmark, tmp_path: Path) -> None:
    sent_ids = []
    for i in range(3):
        result = cli(
            "send", "--from", fake.sender_email, "--to", f"user{i}@example.com",
            "--subject", f"Welcome {i}", "--text", "Hello", "--tag", "welcome",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        sent_ids.append(json.loads(result.stdout)["MessageID"])
    cli(
        "send", "--from", fake.sender_email, "--to", "other@example.com",
        "--subject", "Other", "--text", "x", "--tag", "other",
    )  # fmt: skip

    found = cli("messages", "--tag", "welcome", "--json")
    assert found.exit_code == 0, found.output
    records = [json.loads(line) for line in found.stdout.splitlines()]
    assert sorted(r["MessageID"] for r in records) == sorted(sent_ids)
    assert {r["Subject"] for r in records} == {"Welcome 0", "Welcome 1", "Welcome 2"}

    table = cli("messages", "--recipient", "user1@example.com")
    assert table.exit_code == 0
    assert "Welcome 1" in table.stdout and "Welcome 0" not in table.stdout

    out = tmp_path / "export.jsonl"
    exported = cli("export", "-o", str(out), "--tag", "welcome")
    assert exported.exit_code == 0, exported.output
    assert sorted(json.loads(x)["MessageID"] for x in out.read_text().splitlines()) == sorted(
        sent_ids
    )
    again = cli("export", "-o", str(out), "--resume")
    assert again.exit_code == 0
    assert "Exported 1 messages" in again.stderr and "3 already there" in again.stderr

    stats = cli("stats", "--json", "--tag", "welcome")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["Sent"] == 3


def test_wrong_token_against_the_simulator(fake: FakePostmark) -> None:
    env = {"POSTMARK_SERVER_TOKEN": "not-the-token", "POSTMARK_BASE_URL": fake.base_url}
    result = CliRunner(env=env).invoke(main, ["messages", "--retries", "0"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: HTTP 401")
    assert "not-the-token" not in result.output


@pytest.mark.slow  # a CLI subprocess piped into a reader
def test_json_lines_piped_into_a_reader_that_stops_early(fake: FakePostmark) -> None:
    """``postmark-kit messages --json --limit 0 | head -1``: no traceback when the pipe closes."""
    fake.reset()
    with ServerClient(fake.server_token, base_url=fake.base_url) as client:
        client.email.send_batch(
            [
                Email(from_email=fake.sender_email, to=f"u{i}@example.com", subject="x" * 200,
                      text_body="Hello")
                for i in range(400)
            ]
        )  # fmt: skip
    env = {**os.environ, "POSTMARK_SERVER_TOKEN": fake.server_token}
    env["POSTMARK_BASE_URL"] = fake.base_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "postmark_kit.cli", "messages", "--json", "--limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader is done after one line
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert json.loads(first)["Subject"] == "x" * 200
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 141


def _demo(*args: str) -> Any:
    return CliRunner().invoke(main, ["demo", "--timeout", "30", *args], catch_exceptions=False)


def test_demo_tells_the_story_and_keeps_its_store(tmp_path: Path) -> None:
    store = tmp_path / "demo events.sqlite3"
    result = _demo("--store", str(store))
    assert result.exit_code == 0, result.output
    out = result.output
    bounced = "hardbounce@bounce-testing.postmarkapp.com"
    # what was sent to whom
    for to in ("alice@example.org", "bob@example.org", bounced):
        assert f"to {to}: accepted, MessageID" in out
    # which address bounced and why
    assert f"{bounced}: HardBounce, The server was unable to deliver your message." in out
    # what was simulated
    assert "alice@example.org opens the mail" in out
    assert "alice@example.org clicks https://example.org/start" in out
    assert "bob@example.org marks it as spam" in out
    assert "(an inbound message)" in out
    # which webhook reached which plugin; the suppressions are explained, not counted
    story = out.split("4. The webhooks")[1].split("5. A plugin")[0]
    lines = story.strip().splitlines()[1:]
    events, reached = lines[0::2], lines[1::2]
    assert len(events) == 10
    assert all(r.strip().startswith("-> postmark-kit-event-store") for r in reached)
    bounce_at = next(i for i, e in enumerate(events) if e.strip().startswith("Bounce "))
    assert reached[bounce_at].strip() == "-> postmark-kit-event-store, bounce-alert"
    assert sum("SubscriptionChange" in e and "Postmark now refuses" in e for e in events) == 2
    # the plugin calling the client back, and its mail's own Delivery webhook
    assert "'bounce-alert' got the hard bounce of " + bounced in out
    assert "support@example.org: accepted by the recipient's mail server" in out
    # where to read the events: the store is kept, and the printed command works
    assert store.exists()
    assert f"postmark-kit events --store '{store}' list" in out
    assert "Next steps:" in out and "   3. " in out
    listed = CliRunner().invoke(main, ["events", "--store", str(store), "list", "--json"])
    assert listed.exit_code == 0, listed.output
    kinds = sorted(json.loads(line)["kind"] for line in listed.output.splitlines())
    assert kinds == sorted(
        ["delivery"] * 3
        + ["bounce", "subscription_change", "open", "click", "spam_complaint"]
        + ["subscription_change", "inbound"]
    )


def test_demo_without_store_keeps_events_in_a_printed_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the temporary folder of the test run (in RAM when the suite can), not /tmp on disk:
    # the demo's SQLite commits fsync
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = _demo()
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("All 10 webhooks arrived"))
    store = Path(line.split(" are kept in ")[1].split(". Read them")[0])
    try:
        assert store.exists() and store.parent.name.startswith("postmark-kit-demo-")
    finally:
        for leftover in store.parent.iterdir():
            leftover.unlink()
        store.parent.rmdir()


def test_demo_with_an_unusable_store_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "notes.txt"
    store.write_text("not a database")
    result = _demo("--store", str(store))
    assert result.exit_code == 1
    assert f"Error: cannot keep the demo's events in {store}" in result.output
    assert "Traceback" not in result.output
