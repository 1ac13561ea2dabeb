"""``postmark-kit export``: JSON lines, resumable, nothing lost on failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests_mock as requests_mock_module

from tests.cli.test_cli_query import api_run, outbound_messages, query_of, serve_pages
from tests.conftest import API, SERVER_TOKEN, load_response


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["MessageID"] for line in path.read_text().splitlines()]


def test_export_writes_every_message_as_json_lines(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    items = outbound_messages(620)
    serve_pages(mock_api, "/messages/outbound", "Messages", items)
    out = tmp_path / "may.jsonl"
    result = api_run(
        "export", "-o", str(out), "--from-date", "2024-05-01", "--to-date", "2024-05-31"
    )
    assert result.exit_code == 0, result.output
    assert ids_in(out) == [m["MessageID"] for m in items]
    assert f"Exported 620 messages to {out}." in result.stderr
    assert result.stdout == ""
    for request in mock_api.request_history:
        q = query_of(request)
        # After the first page the walk holds todate to its newest record (within May).
        assert q["fromdate"] == ["2024-05-01"] and q["todate"][0][:10] <= "2024-05-31"
    assert query_of(mock_api.request_history[0])["todate"] == ["2024-05-31"]
    # The progress bar's total comes from the first page: two pages, no extra call.
    assert [query_of(r)["count"] for r in mock_api.request_history] == [["500"], ["500"]]


def test_export_refuses_to_clobber_an_existing_file(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text('{"MessageID": "keep-me"}\n')
    result = api_run("export", "-o", str(out))
    assert result.exit_code == 2
    assert "--resume" in result.stderr and "--overwrite" in result.stderr
    assert out.read_text() == '{"MessageID": "keep-me"}\n'
    assert mock_api.request_history == []


def test_export_overwrite_replaces(mock_api: requests_mock_module.Mocker, tmp_path: Path) -> None:
    serve_pages(mock_api, "/messages/outbound", "Messages", outbound_messages(2))
    out = tmp_path / "x.jsonl"
    out.write_text('{"MessageID": "old"}\n')
    result = api_run("export", "-o", str(out), "--overwrite", "--no-progress")
    assert result.exit_code == 0
    assert "old" not in ids_in(out) and len(ids_in(out)) == 2


def test_failure_keeps_what_was_written_and_resume_completes_it(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    items = outbound_messages(700)
    out = tmp_path / "export.jsonl"
    calls = {"n": 0}

    def flaky(request: Any, context: Any) -> dict[str, Any]:
        calls["n"] += 1
        q = parse_qs(urlparse(request.url).query)
        count, offset = int(q["count"][0]), int(q["offset"][0])
        if offset >= 500 and calls["n"] < 10:
            context.status_code = 500
            return {"ErrorCode": 0, "Message": "Internal Server Error"}
        return {"TotalCount": len(items), "Messages": items[offset : offset + count]}

    mock_api.get(API + "/messages/outbound", json=flaky)
    first = api_run("export", "-o", str(out))
    assert first.exit_code == 1
    assert "HTTP 500" in first.stderr
    assert "500 written; rerun with --resume to continue" in first.stderr
    assert ids_in(out) == [m["MessageID"] for m in items[:500]]

    calls["n"] = 100  # Postmark is back
    second = api_run("export", "-o", str(out), "--resume")
    assert second.exit_code == 0, second.output
    assert "Exported 200 messages" in second.stderr and "500 already there" in second.stderr
    assert ids_in(out) == [m["MessageID"] for m in items]


def test_resume_drops_a_torn_last_line(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    items = outbound_messages(3)
    serve_pages(mock_api, "/messages/outbound", "Messages", items)
    out = tmp_path / "export.jsonl"
    whole = json.dumps({"MessageID": items[0]["MessageID"]}) + "\n"
    out.write_text(whole + '{"MessageID": "' + items[1]["MessageID"][:10])
    result = api_run("export", "-o", str(out), "--resume", "--no-progress")
    assert result.exit_code == 0, result.output
    assert ids_in(out) == [m["MessageID"] for m in items]


def test_resume_refuses_a_file_that_is_not_an_export(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("shopping list\n")
    result = api_run("export", "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert f"{out}:1 is not an exported record" in result.stderr
    assert out.read_text() == "shopping list\n"
    assert mock_api.request_history == []


def test_export_to_stdout(mock_api: requests_mock_module.Mocker) -> None:
    items = outbound_messages(3)
    serve_pages(mock_api, "/messages/outbound", "Messages", items)
    result = api_run("export", "-o", "-", "--tag", "Invitation")
    assert result.exit_code == 0
    assert [json.loads(x)["MessageID"] for x in result.stdout.splitlines()] == [
        m["MessageID"] for m in items
    ]
    assert query_of(mock_api.request_history[0])["tag"] == ["Invitation"]
    assert api_run("export", "-o", "-", "--resume").exit_code == 2


def test_export_never_prints_the_token(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    mock_api.get(
        API + "/messages/outbound", status_code=401, json={"ErrorCode": 10, "Message": "x"}
    )
    result = api_run("export", "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 1
    assert SERVER_TOKEN not in result.output


def test_resume_never_cuts_a_last_line_that_is_not_a_record(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("shopping list")  # no newline at the end
    result = api_run("export", "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert out.read_text() == "shopping list"


def test_resume_keeps_a_whole_last_record_without_newline(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    items = outbound_messages(3)
    serve_pages(mock_api, "/messages/outbound", "Messages", items)
    out = tmp_path / "export.jsonl"
    out.write_text(json.dumps(items[0]))
    result = api_run("export", "-o", str(out), "--resume", "--no-progress")
    assert result.exit_code == 0, result.output
    assert ids_in(out) == [m["MessageID"] for m in items]
    assert "1 already there" in result.stderr


def click_events(n: int) -> list[dict[str, Any]]:
    template = load_response("list_message_clicks")["Clicks"][0]
    return [
        {**template, "MessageID": f"m-{i // 2}", "ReceivedAt": f"2024-05-20T10:{59 - i:02d}:00Z"}
        for i in range(n)
    ]


def test_export_clicks_and_resume_them(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    events = click_events(6)
    serve_pages(mock_api, "/messages/outbound/clicks", "Clicks", events)
    out = tmp_path / "clicks.jsonl"
    out.write_text(json.dumps(events[0]) + "\n" + json.dumps(events[1]) + "\n")
    result = api_run("export", "--what", "clicks", "--tag", "news", "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert "Exported 4 click events" in result.stderr and "2 already there" in result.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["MessageID"], r["ReceivedAt"][:16]) for r in lines] == [
        (e["MessageID"], e["ReceivedAt"][:16]) for e in events
    ]
    assert lines[2]["OriginalLink"] == "https://example.com"
    assert query_of(mock_api.request_history[-1])["tag"] == ["news"]


def test_export_events_refuse_message_only_filters(tmp_path: Path) -> None:
    result = api_run("export", "--what", "opens", "--status", "sent", "-o", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "messages only" in result.stderr


def test_ctrl_c_keeps_the_lines_written_and_says_how_to_resume(
    mock_api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    items = outbound_messages(700)

    def answer(request: Any, context: Any) -> dict[str, Any]:
        q = parse_qs(urlparse(request.url).query)
        count, offset = int(q["count"][0]), int(q["offset"][0])
        if offset >= 500:
            raise KeyboardInterrupt
        return {"TotalCount": len(items), "Messages": items[offset : offset + count]}

    mock_api.get(API + "/messages/outbound", json=answer)
    out = tmp_path / "export.jsonl"
    result = api_run("export", "-o", str(out))
    assert result.exit_code == 130
    assert "500 written, rerun with --resume to continue" in result.stderr
    assert len(ids_in(out)) == 500
