"""``postmark-kit messages`` and ``stats`` driven through click's runner against requests-mock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests_mock as requests_mock_module
from click.testing import CliRunner

from postmark_kit.cli import main
from tests.conftest import API, SERVER_TOKEN, load_response

#: Unset the variables a developer's shell may carry into the runner.
NEWEST = datetime(2024, 5, 20, 10, 0, tzinfo=timezone(timedelta(hours=-4)))
CLEAN_ENV: dict[str, str | None] = {"POSTMARK_SERVER_TOKEN": None, "POSTMARK_BASE_URL": None}


def run(*args: str, env: dict[str, str | None] | None = None) -> Any:
    runner = CliRunner(env={**CLEAN_ENV, **(env or {})})
    return runner.invoke(main, list(args), catch_exceptions=False)


def api_run(*args: str) -> Any:
    return run(*args, "--retries", "0", env={"POSTMARK_SERVER_TOKEN": SERVER_TOKEN})


def outbound_messages(n: int) -> list[dict[str, Any]]:
    template = load_response("list_outbound_messages")["Messages"][0]
    out = []
    for i in range(n):
        # A top-level copy: the nested values are shared, so tests change top-level keys only.
        m = {
            **template,
            "MessageID": f"00000000-0000-0000-0000-{i:012d}",
            "Subject": f"Subject {i}",
            "ReceivedAt": (NEWEST - timedelta(minutes=i)).isoformat(),
        }
        out.append(m)
    return out


def serve_pages(mock: requests_mock_module.Mocker, path: str, key: str, items: list[Any]) -> None:
    """Answer a count/offset search from ``items`` the way Postmark pages."""

    def answer(request: Any, context: Any) -> dict[str, Any]:
        q = parse_qs(urlparse(request.url).query)
        count, offset = int(q["count"][0]), int(q["offset"][0])
        return {"TotalCount": len(items), key: items[offset : offset + count]}

    mock.get(API + path, json=answer)


def query_of(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(request.url).query)


def test_every_command_has_help() -> None:
    for name in main.commands:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage: " in result.output


def test_messages_table_sends_the_filters(mock_api: requests_mock_module.Mocker) -> None:
    serve_pages(mock_api, "/messages/outbound", "Messages", outbound_messages(3))
    result = api_run(
        "messages",
        "--tag",
        "Invitation",
        "--recipient",
        "john.doe@yahoo.com",
        "--from-date",
        "2024-05-01",
        "--to-date",
        "2024-05-31T12:00",
        "--metadata",
        "color=blue",
        "--stream",
        "outbound",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["RECEIVED", "STATUS", "MESSAGE"]
    assert len(lines) == 4
    assert "00000000-0000-0000-0000-000000000000" in lines[1]
    assert "john.doe@yahoo.com" in lines[1] and "Subject 0" in lines[1]
    q = query_of(mock_api.request_history[0])
    assert q["tag"] == ["Invitation"]
    assert q["recipient"] == ["john.doe@yahoo.com"]
    assert q["fromdate"] == ["2024-05-01"]
    assert q["todate"] == ["2024-05-31T12:00:00"]
    assert q["metadata_color"] == ["blue"]
    assert q["messagestream"] == ["outbound"]
    assert mock_api.request_history[0].headers["X-Postmark-Server-Token"] == SERVER_TOKEN


def test_messages_json_lines_keep_unknown_fields(mock_api: requests_mock_module.Mocker) -> None:
    items = outbound_messages(2)
    items[0]["SomethingNew"] = {"a": 1}
    serve_pages(mock_api, "/messages/outbound", "Messages", items)
    result = api_run("messages", "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["MessageID"] for r in records] == [m["MessageID"] for m in items]
    assert records[0]["SomethingNew"] == {"a": 1}
    assert records[0]["Metadata"] == {"color": "blue", "client-id": "12345"}


def test_messages_limit_caps_the_request_and_the_output(
    mock_api: requests_mock_module.Mocker,
) -> None:
    serve_pages(mock_api, "/messages/outbound", "Messages", outbound_messages(30))
    result = api_run("messages", "--json", "--limit", "7")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 7
    assert query_of(mock_api.request_history[0])["count"] == ["7"]


def test_messages_limit_zero_walks_every_page(mock_api: requests_mock_module.Mocker) -> None:
    serve_pages(mock_api, "/messages/outbound", "Messages", outbound_messages(1100))
    result = api_run("messages", "--json", "--limit", "0")
    assert result.exit_code == 0
    ids = [json.loads(line)["MessageID"] for line in result.stdout.splitlines()]
    assert len(ids) == len(set(ids)) == 1100
    assert len(mock_api.request_history) == 3


def test_messages_inbound(mock_api: requests_mock_module.Mocker) -> None:
    data = load_response("list_inbound_messages")
    serve_pages(mock_api, "/messages/inbound", "InboundMessages", data["InboundMessages"])
    result = api_run("messages", "inbound", "--status", "blocked", "--mailbox-hash", "abc")
    assert result.exit_code == 0, result.output
    assert "cc5727a0-ea30-4e79-baea-aa43c9628ac4" in result.stdout
    assert "dart-zzzzz@yandex.ru" in result.stdout
    assert "2014-02-13 17:48:22" in result.stdout
    q = query_of(mock_api.request_history[0])
    assert q["status"] == ["blocked"] and q["mailboxhash"] == ["abc"]


def test_messages_nothing_found_says_so(mock_api: requests_mock_module.Mocker) -> None:
    serve_pages(mock_api, "/messages/outbound", "Messages", [])
    result = api_run("messages")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No messages match." in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["messages", "inbound", "--stream", "outbound"], "outbound messages only"),
        (["messages", "--mailbox-hash", "x"], "inbound messages only"),
        (["messages", "--metadata", "novalue"], "KEY=VALUE"),
        (["messages", "--from-date", "2024-02-30"], "is not YYYY-MM-DD"),
        (["messages", "--from-date", "2024-05-02", "--to-date", "2024-05-01"], "after"),
        (["stats", "--base-url", "ftp://example.com"], "must start with https://"),
        (["messages", "--limit", "-1"], "--limit"),
    ],
)
def test_usage_errors_exit_2_without_calling_postmark(
    mock_api: requests_mock_module.Mocker, args: list[str], message: str
) -> None:
    result = api_run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert mock_api.request_history == []


@pytest.mark.parametrize("command", ["messages", "stats", "export"])
def test_missing_token_is_a_usage_error(command: str, tmp_path: Any) -> None:
    args = [command] + (["-o", str(tmp_path / "out.jsonl")] if command == "export" else [])
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: no server token: pass --server-token or set POSTMARK_SERVER_TOKEN"
    )


def test_api_error_is_one_line_exit_1_and_never_shows_the_token(
    mock_api: requests_mock_module.Mocker,
) -> None:
    mock_api.get(
        API + "/messages/outbound",
        status_code=401,
        json={"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied."},
    )
    result = api_run("messages")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: HTTP 401, ErrorCode 10: No Account")
    assert SERVER_TOKEN not in result.output


def test_network_error_exits_1(mock_api: requests_mock_module.Mocker) -> None:
    import requests

    mock_api.get(API + "/stats/outbound", exc=requests.ConnectionError("refused"))
    result = api_run("stats")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


def test_token_flag_is_used_and_help_never_shows_it() -> None:
    result = run("messages", "--help", env={"POSTMARK_SERVER_TOKEN": SERVER_TOKEN})
    assert result.exit_code == 0
    assert SERVER_TOKEN not in result.output
    assert "POSTMARK_SERVER_TOKEN" in result.output


def test_base_url_from_environment(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.get(
        "http://127.0.0.1:9999/stats/outbound", json=load_response("get_outbound_overview")
    )
    result = run(
        "stats",
        "--server-token",
        SERVER_TOKEN,
        env={"POSTMARK_BASE_URL": "http://127.0.0.1:9999"},
    )
    assert result.exit_code == 0, result.output


def test_stats_table(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.get(API + "/stats/outbound", json=load_response("get_outbound_overview"))
    result = api_run(
        "stats", "--from-date", "2024-05-01", "--to-date", "2024-05-31", "--tag", "welcome"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "from 2024-05-01 to 2024-05-31 tag 'welcome'"
    assert "Sent                  615" in lines
    assert "Bounce rate           10.41 %" in lines
    q = query_of(mock_api.request_history[0])
    assert q == {"fromdate": ["2024-05-01"], "todate": ["2024-05-31"], "tag": ["welcome"]}


def test_stats_json(mock_api: requests_mock_module.Mocker) -> None:
    overview = load_response("get_outbound_overview")
    mock_api.get(API + "/stats/outbound", json=overview)
    result = api_run("stats", "--json", "--stream", "outbound")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == overview
    assert query_of(mock_api.request_history[0]) == {"messagestream": ["outbound"]}


def test_messages_shows_a_message_once_when_new_mail_shifts_the_pages(
    mock_api: requests_mock_module.Mocker,
) -> None:
    items = outbound_messages(600)
    newcomer = outbound_messages(601)[600]
    newcomer["MessageID"] = "new-one"

    def answer(request: Any, context: Any) -> dict[str, Any]:
        q = parse_qs(urlparse(request.url).query)
        count, offset = int(q["count"][0]), int(q["offset"][0])
        # A message arrives between the first and the second page.
        current = items if offset == 0 else [newcomer, *items]
        return {"TotalCount": len(current), "Messages": current[offset : offset + count]}

    mock_api.get(API + "/messages/outbound", json=answer)
    result = api_run("messages", "--json", "--limit", "0")
    assert result.exit_code == 0
    ids = [json.loads(line)["MessageID"] for line in result.stdout.splitlines()]
    assert len(ids) == len(set(ids)) == 600
