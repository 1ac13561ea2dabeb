"""``export`` on a terminal: the progress bar redraws a few times a second, not per record;
``export --resume`` refuses a file holding another kind of record."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from postmark_kit import Email, ServerClient
from postmark_kit.cli import main
from postmark_kit.testing import FakePostmark

MESSAGES = 3000
FEW = 30


def _simulator_with(count: int) -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        with ServerClient(server.server_token, base_url=server.base_url) as client:
            emails = [
                Email(from_email=server.sender_email, to=f"u{i}@example.com", subject="s",
                      text_body="t")
                for i in range(count)
            ]  # fmt: skip
            client.email.send_batch(emails)
        yield server


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePostmark]:
    """Enough messages for many progress redraws."""
    yield from _simulator_with(MESSAGES)


@pytest.fixture(scope="module")
def few() -> Iterator[FakePostmark]:
    """A few messages: enough to export, cheap to send."""
    yield from _simulator_with(FEW)


@pytest.mark.slow  # a CLI subprocess on a pseudo-terminal
def test_progress_redraws_are_throttled_on_a_terminal(fake: FakePostmark, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    primary, secondary = pty.openpty()
    env = {
        **os.environ,
        "POSTMARK_SERVER_TOKEN": fake.server_token,
        "POSTMARK_BASE_URL": fake.base_url,
        "TERM": "xterm",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postmark_kit.cli", "export", "-o", str(out), "--retries", "0"],
        stderr=secondary,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(timeout=120)
    os.close(primary)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, drawn[-500:]
    assert len(out.read_text().splitlines()) == MESSAGES
    assert f"Exported {MESSAGES} messages".encode() in drawn
    # One redraw is about 60 bytes; at most 4 a second (plus the first and the last).
    redraws = drawn.count(b"\r")
    assert redraws <= 4 * elapsed + 4, (redraws, elapsed)
    assert len(drawn) < 100 * (4 * elapsed + 4)  # per record it was over 60 bytes x 3,000


def test_resume_refuses_a_file_of_another_kind(few: FakePostmark, tmp_path: Path) -> None:
    env = {"POSTMARK_SERVER_TOKEN": few.server_token, "POSTMARK_BASE_URL": few.base_url}
    opens = tmp_path / "opens.jsonl"
    line = {"RecordType": "Open", "MessageID": "m-1", "Recipient": "a@example.com",
            "ReceivedAt": "2024-05-01T10:00:00Z"}  # fmt: skip
    opens.write_text(json.dumps(line) + "\n")
    result = CliRunner(env=env).invoke(
        main, ["export", "--resume", "-o", str(opens), "--no-progress", "--retries", "0"]
    )
    assert result.exit_code == 2
    assert "holds exported open events (line 1), not messages" in result.stderr
    assert "--what opens" in result.stderr
    assert opens.read_text() == json.dumps(line) + "\n"  # untouched

    messages = tmp_path / "messages.jsonl"
    first = CliRunner(env=env).invoke(
        main, ["export", "-o", str(messages), "--no-progress", "--retries", "0"]
    )
    assert first.exit_code == 0, first.output
    clicks = CliRunner(env=env).invoke(
        main, ["export", "--what", "clicks", "--resume", "-o", str(messages), "--no-progress"]
    )
    assert clicks.exit_code == 2 and "holds exported messages" in clicks.stderr
    assert len(messages.read_text().splitlines()) == FEW
