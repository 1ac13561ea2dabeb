"""``postmark-kit send``: from flags, from a .json or .eml file, dry run and errors."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests_mock as requests_mock_module

from tests.cli.test_cli_query import api_run, run
from tests.conftest import API, SERVER_TOKEN, load_response


def dry(*args: str) -> dict[str, Any]:
    result = run("send", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_send_from_flags(mock_api: requests_mock_module.Mocker, tmp_path: Path) -> None:
    mock_api.post(API + "/email", json=load_response("send_email"))
    invoice = tmp_path / "invoice.txt"
    invoice.write_bytes(b"total: 42")
    result = api_run(
        "send",
        "--from", "you@example.com",
        "--to", "a@example.com",
        "--to", "b@example.com",
        "--subject", "Hi",
        "--text", "Hello",
        "--tag", "welcome",
        "--metadata", "user=42",
        "--attach", str(invoice),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["MessageID"] == load_response("send_email")["MessageID"]
    sent = mock_api.request_history[0]
    assert sent.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    body = sent.json()
    assert body["To"] == "a@example.com, b@example.com"
    assert body["Metadata"] == {"user": "42"}
    assert body["Attachments"][0]["Name"] == "invoice.txt"
    assert base64.b64decode(body["Attachments"][0]["Content"]) == b"total: 42"


def test_dry_run_output_sends_again_with_file(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    mock_api.post(API + "/email", json=load_response("send_email"))
    printed = dry("--from", "you@example.com", "--to", "a@example.com", "--html", "<p>Hi</p>")
    mail = tmp_path / "mail.json"
    mail.write_text(json.dumps(printed))
    result = api_run("send", "--file", str(mail))
    assert result.exit_code == 0, result.output
    assert mock_api.request_history[0].json() == printed


def test_flags_override_the_file(tmp_path: Path) -> None:
    mail = tmp_path / "mail.json"
    mail.write_text(
        json.dumps(
            {
                "From": "a@example.com",
                "To": "old@example.com",
                "TextBody": "x",
                "Metadata": {"k": "1"},
            }
        )
    )
    out = dry("--file", str(mail), "--to", "new@example.com", "--metadata", "j=2")
    assert out["To"] == "new@example.com"
    assert out["From"] == "a@example.com"
    assert out["Metadata"] == {"k": "1", "j": "2"}


def test_send_from_eml(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "Support <support@example.com>"
    message["To"] = "ada@example.com, grace@example.com"
    message["Cc"] = "team@example.com"
    message["Subject"] = "Ticket #4711"
    message["X-PM-Tag"] = "ticket"
    message["X-PM-Metadata-ticket"] = "4711"
    message["X-Ticket-Priority"] = "high"
    message.set_content("We are on it.")
    message.add_alternative("<p>We are on it.</p>", subtype="html")
    message.add_attachment(b"log line", maintype="text", subtype="plain", filename="log.txt")
    eml = tmp_path / "ticket.eml"
    eml.write_bytes(bytes(message))
    out = dry("--file", str(eml))
    assert out["From"] == "Support <support@example.com>"
    assert out["To"] == "ada@example.com, grace@example.com"
    assert out["Cc"] == "team@example.com"
    assert out["Subject"] == "Ticket #4711"
    assert out["TextBody"].strip() == "We are on it."
    assert out["HtmlBody"].strip() == "<p>We are on it.</p>"
    assert out["Tag"] == "ticket"
    assert out["Metadata"] == {"ticket": "4711"}
    assert out["Headers"] == [{"Name": "X-Ticket-Priority", "Value": "high"}]
    assert out["Attachments"][0]["Name"] == "log.txt"
    assert base64.b64decode(out["Attachments"][0]["Content"]) == b"log line"


def test_bad_files_are_usage_errors(tmp_path: Path) -> None:
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"From": "a@example.com", "To": "b@example.com", "Subjet": "x"}))
    result = run("send", "--dry-run", "--file", str(typo))
    assert result.exit_code == 2
    assert "unknown field(s) Subjet" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    result = run("send", "--dry-run", "--file", str(broken))
    assert result.exit_code == 2 and "is not JSON" in result.stderr
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    assert run("send", "--dry-run", "--file", str(listed)).exit_code == 2


def test_missing_fields_are_usage_errors() -> None:
    assert "give --from" in run("send", "--to", "a@example.com", "--text", "x").stderr
    assert "give --to" in run("send", "--from", "a@example.com", "--text", "x").stderr
    result = run("send", "--from", "a@example.com", "--to", "b@example.com")
    assert result.exit_code == 2 and "give --text or --html" in result.stderr
    result = run("send", "--from", "a@example.com", "--to", "b@example.com", "--text", "x")
    assert result.exit_code == 2 and "no server token" in result.stderr


def test_refused_send_is_one_line_exit_1(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.post(
        API + "/email",
        status_code=422,
        json={
            "ErrorCode": 406,
            "Message": "You tried to send to a recipient that has been marked as inactive.",
        },
    )
    result = api_run("send", "--from", "a@example.com", "--to", "b@example.com", "--text", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: HTTP 422, ErrorCode 406: You tried to send")
    assert len(result.stderr.strip().splitlines()) == 1
    assert SERVER_TOKEN not in result.output


def test_a_send_that_failed_on_the_server_is_not_repeated(
    mock_api: requests_mock_module.Mocker,
) -> None:
    mock_api.post(API + "/email", status_code=500, json={"ErrorCode": 0, "Message": "boom"})
    result = run(
        "send", "--from", "a@example.com", "--to", "b@example.com", "--text", "x",
        env={"POSTMARK_SERVER_TOKEN": SERVER_TOKEN},
    )  # fmt: skip
    assert result.exit_code == 1
    assert mock_api.call_count == 1
