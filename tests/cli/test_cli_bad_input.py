"""Every command against bad input: one ``Error:`` line, a non-zero exit, never a traceback.

Each case runs the real command through click's runner with exceptions caught:
anything but a ``SystemExit`` (an exception escaping the command) fails, and so
does "Traceback" anywhere in the output.  API commands run against the local
simulator (real HTTP on 127.0.0.1) or against a closed loopback port.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit import Email, ServerClient
from postmark_kit.cli import main
from postmark_kit.plugins.store import EventStore
from postmark_kit.receiver.journal import WebhookJournal
from postmark_kit.testing import FakePostmark

BIG = str(2**70)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        with ServerClient(server.server_token, base_url=server.base_url) as client:
            client.email.send(
                Email(
                    from_email=server.sender_email, to="a@example.com", subject="s", text_body="t"
                )
            )
        yield server


@pytest.fixture(scope="module")
def blank_databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An empty event store and journal, made once: each test gets copies."""
    folder = tmp_path_factory.mktemp("blank")
    store, journal = folder / "events.sqlite3", folder / "journal.sqlite3"
    EventStore(store).close()
    WebhookJournal(journal).close()
    return store, journal


@pytest.fixture
def files(tmp_path: Path, blank_databases: tuple[Path, Path]) -> dict[str, str]:
    store, journal = tmp_path / "events.sqlite3", tmp_path / "journal.sqlite3"
    shutil.copyfile(blank_databases[0], store)
    shutil.copyfile(blank_databases[1], journal)
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 50)
    (tmp_path / "opens.jsonl").write_text(
        json.dumps({"RecordType": "Open", "MessageID": "x", "ReceivedAt": "2024-01-01"}) + "\n"
    )
    (tmp_path / "notjson").write_text("{nope")
    (tmp_path / "binary.html").write_bytes(b"\xff\xfe{{name}}")
    (tmp_path / "list.json").write_text("[1, 2]")
    tpl = tmp_path / "emails" / "templates" / "welcome"
    tpl.mkdir(parents=True)
    (tpl / "meta.json").write_text("{broken")
    return {
        "store": str(store),
        "journal": str(journal),
        "garbage": str(tmp_path / "garbage.db"),
        "opens": str(tmp_path / "opens.jsonl"),
        "notjson": str(tmp_path / "notjson"),
        "binary": str(tmp_path / "binary.html"),
        "list": str(tmp_path / "list.json"),
        "emails": str(tmp_path / "emails"),
        "missing_dir": str(tmp_path / "no" / "such" / "dir"),
        "tmp": str(tmp_path),
    }


#: (arguments, text the error must contain); {name} is filled from ``files``.
LOCAL_CASES: list[tuple[list[str], str]] = [
    (["events", "show", BIG, "--store", "{store}"], "not in the range"),
    (["events", "--store", "{store}", "show", BIG], "not in the range"),
    (["events", "list", "--limit", BIG, "--store", "{store}"], "not in the range"),
    (["events", "failed", "--limit", BIG, "--journal", "{journal}"], "not in the range"),
    (["events", "replay", "--id", BIG, "--journal", "{journal}"], "not in the range"),
    (["events", "--store", "{journal}"], "is the receiver's journal"),
    (["events", "list", "--store", "{journal}"], "is the receiver's journal"),
    (["events", "show", "1", "--store", "{garbage}"], "not an SQLite database"),
    (["events", "list", "--store", "{garbage}"], "not an SQLite database"),
    (["events", "failed", "--journal", "{store}"], "is the receiver's event store"),
    (["events", "replay", "--all", "--journal", "{garbage}"], "not an SQLite database"),
    (["events", "list", "--since", "yesterday", "--store", "{store}"], "not an ISO date"),
    (["serve", "--journal", "{missing_dir}/journal.sqlite3"], "no such directory: "),
    (["serve", "--journal", "{garbage}"], "cannot open journal"),
    (["messages", "--limit", BIG], "not in the range"),
    (["messages", "--status", "bogus"], "use queued, sent"),
    (["messages", "inbound", "--status", "bogus"], "use blocked, processed"),
    (["export", "-o", "{missing_dir}/out.jsonl"], "no such directory"),
    (["export", "-o", "{tmp}"], "directory"),
    (["export", "--status", "bogus", "-o", "{tmp}/x.jsonl"], "use queued, sent"),
    (["export", "--resume", "-o", "{opens}"], "holds exported open events"),
    (
        [
            "send",
            "--template",
            "welcome",
            "--model",
            "{notjson}",
            "--from",
            "a@b.c",
            "--to",
            "d@e.f",
        ],
        "is not JSON",
    ),
    (
        ["send", "--template", "welcome", "--model", "{list}", "--from", "a@b.c", "--to", "d@e.f"],
        "one JSON object",
    ),
    (
        [
            "send",
            "--template",
            "welcome",
            "--model",
            "{tmp}/none.json",
            "--from",
            "a@b.c",
            "--to",
            "d@e.f",
        ],
        "cannot read",
    ),
    (
        ["send", "--template", "welcome", "--text", "hi", "--from", "a@b.c", "--to", "d@e.f"],
        "the template gives the content",
    ),
    (
        ["send", "--model", "{list}", "--from", "a@b.c", "--to", "d@e.f"],
        "--model goes with --template",
    ),
    (["templates", "push", "{emails}", "--dry-run"], "is not JSON"),
    (["templates", "push", "{missing_dir}", "--dry-run"], "is not a folder"),
    (["templates", "preview", "{missing_dir}"], "does not exist"),
    (["templates", "pull", "{opens}"], "is a file"),
    (["bounces", "show", BIG], "not in the range"),
    (["bounces", "list", "--limit", BIG], "not in the range"),
    (["bounces", "list", "--from-date", "2024-13-01"], "is not YYYY-MM-DD"),
    (["bounces", "activate", "0"], "not in the range"),
    (["webhooks", "delete", BIG], "not in the range"),
    (["webhooks", "create", "not-a-url"], "is not an http(s) URL"),
    (["webhooks", "create", "https://x.example", "--header", "X-Novalue"], "NAME=VALUE"),
    (["suppressions", "add", " "], "at least one address"),
    (["servers", "list", "--limit", BIG], "not in the range"),
    (["domains", "verify", BIG], "not in the range"),
    (["senders", "verify", "0"], "not in the range"),
    (["stats", "--base-url", "ftp://example.com"], "must start with https://"),
    (["render-template", "{binary}"], "is not UTF-8 text"),
    (["render-template", "{notjson}", "--model", "{notjson}"], "is not JSON"),
    (["fake", "--control", "http://127.0.0.1:1", "messages"], "cannot reach"),
    (["stats", "--from-date", "2024-05-02", "--to-date", "2024-05-01"], "after --to-date"),
]

#: API commands: each must name the host and the reason when nothing listens.
API_COMMANDS: list[list[str]] = [
    ["messages"],
    ["stats"],
    ["export", "-o", "{tmp}/out.jsonl", "--no-progress"],
    ["send", "--from", "a@b.c", "--to", "d@e.f", "--text", "hi"],
    ["send", "--template", "welcome", "--from", "a@b.c", "--to", "d@e.f"],
    ["templates", "list"],
    ["templates", "pull", "{tmp}/pulled"],
    ["bounces", "list"],
    ["bounces", "show", "1"],
    ["bounces", "activate", "1"],
    ["suppressions", "list"],
    ["suppressions", "add", "a@example.com"],
    ["suppressions", "remove", "a@example.com"],
    ["webhooks", "list"],
    ["webhooks", "create", "https://example.com/hook"],
    ["webhooks", "delete", "1"],
    ["streams", "list"],
    ["servers", "list"],
    ["domains", "list"],
    ["domains", "verify", "1"],
    ["senders", "list"],
    ["senders", "verify", "1"],
]


def _fill(args: list[str], files: dict[str, str]) -> list[str]:
    return [a.format(**files) for a in args]


def _check(result: Any, expected: str) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "internal error" not in result.output, result.output  # the safety net: a bug
    assert result.exit_code not in (0, None), result.output
    assert expected in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr


@pytest.mark.parametrize(("args", "expected"), LOCAL_CASES, ids=lambda v: str(v)[:60])
def test_bad_input_is_one_line_never_a_traceback(
    args: list[str],
    expected: str,
    files: dict[str, str],
    fake: FakePostmark,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # serve exports its options to the environment (for its workers): restored after.
    for key in ("POSTMARK_JOURNAL", "POSTMARK_EVENT_STORE", "POSTMARK_DISPATCH"):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    env = {
        "POSTMARK_SERVER_TOKEN": fake.server_token,
        "POSTMARK_ACCOUNT_TOKEN": fake.account_token,
        "POSTMARK_BASE_URL": fake.base_url,
        "POSTMARK_WEBHOOK_USERNAME": "user",
        "POSTMARK_WEBHOOK_PASSWORD": "secret-password",
        "POSTMARK_DISPATCH": "journal",
        # a command's default store is relative to the working directory: not the checkout
        "POSTMARK_EVENT_STORE": str(Path(files["tmp"]) / "default-events.sqlite3"),
    }
    result = CliRunner(env=env).invoke(main, _fill(args, files), catch_exceptions=True)
    _check(result, expected)


def test_export_to_a_full_disk(fake: FakePostmark, tmp_path: Path) -> None:
    env = {"POSTMARK_SERVER_TOKEN": fake.server_token, "POSTMARK_BASE_URL": fake.base_url}
    result = CliRunner(env=env).invoke(
        main, ["export", "-o", "/dev/full", "--overwrite", "--retries", "0"], catch_exceptions=True
    )
    _check(result, "No space left on device")
    assert "rerun with --resume" in result.stderr


@pytest.mark.parametrize("args", API_COMMANDS, ids=lambda v: " ".join(v)[:40])
def test_network_errors_name_the_host_and_the_reason(
    args: list[str], files: dict[str, str]
) -> None:
    port = _closed_port()
    env = {
        "POSTMARK_SERVER_TOKEN": "server-token-never-shown",
        "POSTMARK_ACCOUNT_TOKEN": "account-token-never-shown",
        "POSTMARK_BASE_URL": f"http://127.0.0.1:{port}",
    }
    result = CliRunner(env=env).invoke(
        main, [*_fill(args, files), "--retries", "0"], catch_exceptions=True
    )
    _check(result, f"cannot reach 127.0.0.1:{port}: connection refused")
    assert "never-shown" not in result.output


def test_a_missing_token_is_one_line() -> None:
    env = {"POSTMARK_SERVER_TOKEN": None, "POSTMARK_ACCOUNT_TOKEN": None}
    for args, wanted in (
        (["bounces", "list"], "no server token"),
        (["servers", "list"], "no account token"),
    ):
        result = CliRunner(env=env).invoke(main, args, catch_exceptions=True)
        _check(result, wanted)


def test_an_unexpected_error_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last resort: a bug escaping a command is named in one line, not a traceback."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(ServerClient, "__init__", broken)
    env = {"POSTMARK_SERVER_TOKEN": "t", "POSTMARK_KIT_DEBUG": None}
    result = CliRunner(env=env).invoke(main, ["stats"], catch_exceptions=True)
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert "Error: internal error: ZeroDivisionError: boom" in result.stderr
    assert "Traceback" not in result.output
    debug = CliRunner(env={**env, "POSTMARK_KIT_DEBUG": "1"}).invoke(main, ["stats"])
    assert isinstance(debug.exception, ZeroDivisionError)
