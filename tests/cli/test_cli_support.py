"""Support commands (bounces, suppressions, webhooks, streams, servers, domains, senders).

Against the simulator over real HTTP; requests-mock where the simulator cannot
say it (DNS verification answers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests_mock as requests_mock_module
from click.testing import CliRunner

from postmark_kit import AccountClient, Email, ServerClient
from postmark_kit.cli import main
from postmark_kit.testing import HARD_BOUNCE_ADDRESS, FakePostmark
from tests.conftest import ACCOUNT_TOKEN, API, load_response


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        yield server


@pytest.fixture
def cli(fake: FakePostmark) -> Any:
    fake.reset()
    env = {
        "POSTMARK_SERVER_TOKEN": fake.server_token,
        "POSTMARK_ACCOUNT_TOKEN": fake.account_token,
        "POSTMARK_BASE_URL": fake.base_url,
        "POSTMARK_WEBHOOK_USERNAME": None,
        "POSTMARK_WEBHOOK_PASSWORD": None,
    }

    def invoke(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, [*args, "--retries", "0"])

    return invoke


def _bounce(fake: FakePostmark) -> None:
    with ServerClient(fake.server_token, base_url=fake.base_url) as client:
        client.email.send(
            Email(from_email=fake.sender_email, to=HARD_BOUNCE_ADDRESS, subject="s", text_body="t")
        )


def test_bounces_list_show_activate(fake: FakePostmark, cli: Any) -> None:
    _bounce(fake)
    table = cli("bounces", "list", "--type", "HardBounce")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "BOUNCED", "AT", "TYPE"]
    assert "HardBounce" in row and HARD_BOUNCE_ADDRESS[:20] in row
    (listed,) = json.loads(cli("bounces", "list", "--json").stdout)
    (line,) = cli("bounces", "list", "--jsonl").stdout.splitlines()
    assert json.loads(line) == listed and listed["Inactive"] is True
    shown = cli("bounces", "show", str(listed["ID"]))
    assert json.loads(shown.stdout)["Email"] == HARD_BOUNCE_ADDRESS
    dump = cli("bounces", "show", str(listed["ID"]), "--dump")
    assert dump.exit_code == 0 and HARD_BOUNCE_ADDRESS in dump.stdout
    activated = cli("bounces", "activate", str(listed["ID"]))
    assert activated.exit_code == 0 and HARD_BOUNCE_ADDRESS in activated.stdout
    assert json.loads(cli("bounces", "list", "--json").stdout)[0]["Inactive"] is False
    none = cli("bounces", "list", "--email", "nobody@example.com")
    assert none.exit_code == 0 and none.stdout == "" and "No bounces match." in none.stderr
    missing = cli("bounces", "show", "999999")
    assert missing.exit_code == 1 and "HTTP 422, ErrorCode 1001" in missing.stderr


def test_suppressions_per_stream(cli: Any) -> None:
    added = cli("suppressions", "add", "a@example.com", "b@example.com", "--stream", "outbound")
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines() == ["a@example.com  Suppressed", "b@example.com  Suppressed"]
    listed = json.loads(cli("suppressions", "list", "--json").stdout)
    assert sorted(s["EmailAddress"] for s in listed) == ["a@example.com", "b@example.com"]
    other = cli("suppressions", "list", "--stream", "broadcast", "--jsonl")
    assert other.exit_code == 0 and other.stdout == ""
    removed = cli("suppressions", "remove", "a@example.com")
    assert removed.exit_code == 0 and "a@example.com  Deleted" in removed.stdout
    table = cli("suppressions", "list")
    assert "b@example.com" in table.stdout and "a@example.com" not in table.stdout


def test_webhooks_create_list_delete_never_show_the_password(cli: Any) -> None:
    created = cli(
        "webhooks", "create", "https://example.com/hooks", "--trigger", "bounce",
        "--trigger", "delivery", "--username", "pm", "--password", "s3cret-pass",
        "--header", "X-Env=prod",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    webhook_id = created.stdout.split()[2]
    table = cli("webhooks", "list")
    assert table.stdout.splitlines()[1].split() == [
        webhook_id, "outbound", "https://example.com/hooks", "Delivery,", "Bounce"
    ]  # fmt: skip
    (item,) = json.loads(cli("webhooks", "list", "--json").stdout)
    assert item["HttpAuth"] == {"Username": "pm", "Password": "[hidden]"}
    assert "s3cret-pass" not in cli("webhooks", "list", "--jsonl").output
    deleted = cli("webhooks", "delete", webhook_id)
    assert deleted.exit_code == 0
    assert json.loads(cli("webhooks", "list", "--json").stdout) == []


def test_streams_and_account_listings(cli: Any, fake: FakePostmark) -> None:
    streams = cli("streams", "list", "--json")
    assert {s["ID"] for s in json.loads(streams.stdout)} >= {"outbound", "inbound"}
    assert cli("streams", "list").stdout.split()[:5] == ["ID", "TYPE", "NAME", "ARCHIVED", "AT"]

    servers = cli("servers", "list", "--json")
    assert servers.exit_code == 0, servers.output
    (server,) = json.loads(servers.stdout)
    assert "ApiTokens" not in server  # tokens are never echoed
    assert fake.server_token not in cli("servers", "list").output

    senders = json.loads(cli("senders", "list", "--json").stdout)
    assert [s["EmailAddress"] for s in senders] == [fake.sender_email]
    confirmed = cli("senders", "verify", str(senders[0]["ID"]))
    assert confirmed.exit_code == 0 and "confirmed" in confirmed.stdout

    with AccountClient(fake.account_token, base_url=fake.base_url) as account:
        account.domains.create(name="example.org")
    domains = cli("domains", "list")
    assert domains.exit_code == 0 and "example.org" in domains.stdout
    without = CliRunner(env={"POSTMARK_ACCOUNT_TOKEN": None}).invoke(main, ["domains", "list"])
    assert without.exit_code == 2 and "no account token" in without.stderr


def test_domains_verify_reports_each_record(mock_api: requests_mock_module.Mocker) -> None:
    answer = load_response("get_domain")
    mock_api.put(API + "/domains/1234/verifyDkim", json={**answer, "DKIMVerified": True})
    mock_api.put(
        API + "/domains/1234/verifyReturnPath", json={**answer, "ReturnPathDomainVerified": False}
    )
    env = {"POSTMARK_ACCOUNT_TOKEN": ACCOUNT_TOKEN, "POSTMARK_BASE_URL": None}
    result = CliRunner(env=env).invoke(main, ["domains", "verify", "1234", "--retries", "0"])
    assert result.exit_code == 1, result.output
    name = answer["Name"]
    assert result.stdout.splitlines() == [
        f"{name}  DKIM: verified",
        f"{name}  Return-Path: not verified",
    ]
    only = CliRunner(env=env).invoke(main, ["domains", "verify", "1234", "--what", "dkim"])
    assert only.exit_code == 0 and only.stdout.strip() == f"{name}  DKIM: verified"


def test_senders_verify_resends_the_confirmation(mock_api: requests_mock_module.Mocker) -> None:
    signature = {**load_response("get_sender_signature"), "Confirmed": False}
    mock_api.get(API + "/senders/1234", json=signature)
    resend = mock_api.post(API + "/senders/1234/resend", json={"ErrorCode": 0, "Message": "OK"})
    env = {"POSTMARK_ACCOUNT_TOKEN": ACCOUNT_TOKEN, "POSTMARK_BASE_URL": None}
    result = CliRunner(env=env).invoke(main, ["senders", "verify", "1234", "--resend"])
    assert result.exit_code == 1
    assert "not confirmed; confirmation email sent again" in result.stdout
    assert resend.call_count == 1
    assert ACCOUNT_TOKEN not in result.output
