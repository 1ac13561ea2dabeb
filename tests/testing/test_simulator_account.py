"""The simulator's account operations and breakdown stats, through the real clients over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from postmark_kit import AccountClient, ServerClient
from postmark_kit.errors import (
    ApiError,
    InvalidTokenError,
    NotFoundError,
    SenderSignatureError,
    UnprocessableEntityError,
)
from postmark_kit.models.email import Email
from postmark_kit.testing import FakePostmark


@pytest.fixture
def account(postmark_fake: FakePostmark) -> Iterator[AccountClient]:
    with AccountClient(
        postmark_fake.account_token, base_url=postmark_fake.base_url, retries=0
    ) as client:
        yield client


def _code(exc: pytest.ExceptionInfo[ApiError]) -> int | None:
    return exc.value.error_code


def test_servers_list_create_get_edit(
    postmark_fake: FakePostmark, account: AccountClient, postmark_client: ServerClient
) -> None:
    first = account.servers.list()
    assert first.total == 1 and first.items[0].id == 1
    assert first.items[0].api_tokens == [postmark_fake.server_token]

    staging = account.servers.create(
        name="Staging", color="Red", inbound_spam_threshold=10, delivery_type="Sandbox"
    )
    assert staging.id != 1 and staging.color == "red" and staging.delivery_type == "Sandbox"
    assert staging.inbound_spam_threshold == 10
    assert staging.api_tokens and staging.api_tokens != [postmark_fake.server_token]
    assert [s.name for s in account.servers.list(name="stag").items] == ["Staging"]
    assert account.servers.list().total == 2
    assert staging.id is not None
    assert account.servers.get(staging.id) == staging
    other = ServerClient(staging.api_tokens[0], base_url=postmark_fake.base_url, retries=0)
    with other, pytest.raises(InvalidTokenError):  # server-token calls serve server #1 only
        other.server.get()

    edited = account.servers.update(staging.id, name="Staging 2", track_opens=True)
    assert edited.name == "Staging 2" and edited.track_opens is True
    assert edited.delivery_type == "Sandbox" and edited.color == "red"  # kept
    assert account.servers.get(staging.id).name == "Staging 2"

    # server #1 is the simulated server: an account-level edit shows through its token
    account.servers.update(1, name="Renamed", track_links="HtmlOnly")
    assert postmark_client.server.get().name == "Renamed"
    assert postmark_client.server.get().track_links == "HtmlOnly"

    with pytest.raises(UnprocessableEntityError) as dup:
        account.servers.update(staging.id, name="renamed")
    assert _code(dup) == 603
    with pytest.raises(UnprocessableEntityError) as color:
        account.servers.create(name="Other", color="Pink")
    assert _code(color) == 607
    with pytest.raises(NotFoundError) as missing:
        account.servers.get(999_999)
    assert _code(missing) == 601
    assert account.servers.list().total == 2  # the refused create added nothing


def test_server_delete_needs_support_then_works(
    postmark_fake: FakePostmark, account: AccountClient
) -> None:
    server = account.servers.create(name="Doomed")
    assert server.id is not None
    with pytest.raises(UnprocessableEntityError) as refused:
        account.servers.delete(server.id)
    assert _code(refused) == 604
    assert account.servers.get(server.id).name == "Doomed"

    postmark_fake.state.allow_server_delete = True
    result = account.servers.delete(server.id)
    assert result.error_code == 0 and result.message == "Server Doomed removed."
    with pytest.raises(NotFoundError):
        account.servers.get(server.id)
    with pytest.raises(UnprocessableEntityError) as own:
        account.servers.delete(1)
    assert _code(own) == 605
    postmark_fake.reset()
    assert postmark_fake.state.allow_server_delete is False


def test_tokens_are_not_interchangeable(postmark_fake: FakePostmark) -> None:
    url = postmark_fake.base_url
    with AccountClient(postmark_fake.server_token, base_url=url, retries=0) as wrong:
        calls = [
            wrong.servers.list,
            lambda: wrong.domains.verify_dkim(1),
            lambda: wrong.senders.resend_confirmation(1),
            lambda: wrong.data_removals.create(requested_by="a@b.example", requested_for="c@d.ex"),
            lambda: wrong.templates.push(
                source_server_id=1, destination_server_id=2, perform_changes=False
            ),
        ]
        for call in calls:
            with pytest.raises(InvalidTokenError):
                call()
    with ServerClient(postmark_fake.account_token, base_url=url, retries=0) as wrong_server:
        with pytest.raises(InvalidTokenError):
            wrong_server.stats.get_open_platform_usage()
        with pytest.raises(InvalidTokenError):
            wrong_server.stats.get_click_location()


def test_template_push_dry_run_then_real(
    postmark_fake: FakePostmark, account: AccountClient, postmark_client: ServerClient
) -> None:
    postmark_client.templates.create(
        name="Base", alias="base", template_type="Layout", html_body="<main>{{{@content}}}</main>"
    )
    postmark_client.templates.create(
        name="Welcome", alias="welcome", subject="Hi {{name}}", text_body="Hello {{name}}"
    )
    postmark_client.templates.create(name="No alias", subject="s", text_body="t")
    dest = account.servers.create(name="Production")
    assert dest.id is not None

    def dest_templates() -> dict[str, dict[str, object]]:
        with postmark_fake.state.lock:
            return {
                t["Alias"]: dict(t) for t in postmark_fake.state.server_templates[dest.id].values()
            }

    dry = account.templates.push(
        source_server_id=1, destination_server_id=dest.id, perform_changes=False
    )
    assert dry.total_count == 2
    assert [(t.action, t.alias) for t in dry.templates] == [
        ("Create", "base"),  # layouts first: templates that use them follow
        ("Create", "welcome"),
    ]
    assert dest_templates() == {}  # a dry run changes nothing

    done = account.templates.push(
        source_server_id=1, destination_server_id=dest.id, perform_changes=True
    )
    assert [(t.action, t.alias) for t in done.templates] == [
        (t.action, t.alias) for t in dry.templates
    ]
    copied = dest_templates()
    assert sorted(copied) == ["base", "welcome"]
    assert copied["welcome"]["Subject"] == "Hi {{name}}"
    assert copied["welcome"]["AssociatedServerId"] == dest.id
    assert copied["base"]["TemplateType"] == "Layout"

    again = account.templates.push(
        source_server_id=1, destination_server_id=dest.id, perform_changes=True
    )
    assert again.total_count == 0 and again.templates == []  # nothing differs

    postmark_client.templates.update("welcome", subject="Welcome {{name}}")
    edit = account.templates.push(
        source_server_id=1, destination_server_id=dest.id, perform_changes=False
    )
    assert [(t.action, t.alias, t.name) for t in edit.templates] == [("Edit", "welcome", "Welcome")]
    assert dest_templates()["welcome"]["Subject"] == "Hi {{name}}"
    account.templates.push(source_server_id=1, destination_server_id=dest.id, perform_changes=True)
    assert dest_templates()["welcome"]["Subject"] == "Welcome {{name}}"

    with pytest.raises(NotFoundError) as unknown:
        account.templates.push(
            source_server_id=1, destination_server_id=424242, perform_changes=True
        )
    assert _code(unknown) == 601


def test_domain_dns_verification_and_dkim_rotation(
    postmark_fake: FakePostmark, account: AccountClient, postmark_client: ServerClient
) -> None:
    dom = account.domains.create(name="brand.example")
    assert dom.id is not None
    assert dom.dkim_verified is False and dom.dkim_host == "" and dom.dkim_pending_host
    first_key = dom.dkim_pending_host
    mail = Email(from_email="news@brand.example", to="a@example.org", text_body="x")
    with pytest.raises(SenderSignatureError) as unverified:
        postmark_client.email.send(mail)
    assert _code(unverified) == 401

    dkim = account.domains.verify_dkim(dom.id)
    assert dkim.dkim_verified is True and dkim.dkim_update_status == "Verified"
    assert dkim.dkim_host == first_key and dkim.dkim_pending_host == ""
    assert postmark_client.email.send(mail).error_code == 0  # the domain may send now

    assert dkim.return_path_domain_verified is False
    assert account.domains.verify_return_path(dom.id).return_path_domain_verified is True
    with pytest.deprecated_call():
        assert account.domains.verify_spf(dom.id).spf_verified is True

    rotating = account.domains.rotate_dkim(dom.id)
    assert rotating.dkim_update_status == "Pending" and rotating.dkim_verified is True
    second_key = rotating.dkim_pending_host
    assert second_key and second_key != first_key and rotating.dkim_host == first_key
    with pytest.raises(UnprocessableEntityError) as twice:
        account.domains.rotate_dkim(dom.id)
    assert _code(twice) == 505
    rotated = account.domains.verify_dkim(dom.id)
    assert rotated.dkim_host == second_key and rotated.dkim_pending_host == ""
    assert rotated.dkim_revoked_host == first_key
    assert rotated.safe_to_remove_revoked_key_from_dns is True

    moved = account.domains.update(dom.id, return_path_domain="bounces.brand.example")
    assert moved.return_path_domain == "bounces.brand.example"
    assert moved.return_path_domain_verified is False  # the new CNAME is unchecked
    assert account.domains.get(dom.id).return_path_domain == "bounces.brand.example"
    with pytest.raises(UnprocessableEntityError) as outside:
        account.domains.update(dom.id, return_path_domain="bounces.other.example")
    assert _code(outside) == 511

    # names under .invalid never resolve: every check fails
    dead = account.domains.create(name="nowhere.invalid")
    assert dead.id is not None
    assert account.domains.verify_dkim(dead.id).dkim_verified is False
    assert account.domains.verify_return_path(dead.id).return_path_domain_verified is False
    with pytest.raises(NotFoundError) as missing:
        account.domains.verify_dkim(1)
    assert _code(missing) == 510


def test_sender_signature_edit_resend_verify_delete(
    postmark_fake: FakePostmark, account: AccountClient, postmark_client: ServerClient
) -> None:
    sig = account.senders.create(from_email="new@brand.example", name="New")
    assert sig.id is not None and sig.confirmed is False and sig.dkim_pending_host
    got = account.senders.get(sig.id)
    assert got.email_address == "new@brand.example" and got.spf_host == "brand.example"

    edited = account.senders.update(
        sig.id, name="Newer", reply_to_email="reply@brand.example", confirmation_personal_note="hi"
    )
    assert edited.name == "Newer" and edited.reply_to_email_address == "reply@brand.example"
    assert edited.confirmation_personal_note == "hi"
    assert account.senders.get(sig.id).name == "Newer"
    no_name = requests.put(  # Postmark's docs: Name required (the client asks for it)
        f"{postmark_fake.base_url}/senders/{sig.id}",
        json={"ReplyToEmail": "other@brand.example"},
        headers={"X-Postmark-Account-Token": postmark_fake.account_token},
        timeout=10,
    )
    assert no_name.status_code == 422 and no_name.json()["ErrorCode"] == 520
    with pytest.raises(UnprocessableEntityError) as bad_reply:
        account.senders.update(sig.id, name="Newer", reply_to_email="not-an-address")
    assert _code(bad_reply) == 522
    assert account.senders.get(sig.id).reply_to_email_address == "reply@brand.example"

    resent = account.senders.resend_confirmation(sig.id)
    assert resent.error_code == 0 and "new@brand.example" in (resent.message or "")
    with pytest.raises(UnprocessableEntityError) as confirmed:
        account.senders.resend_confirmation(1)
    assert _code(confirmed) == 506

    with pytest.deprecated_call():
        assert account.senders.verify_spf(sig.id).spf_verified is True
    with pytest.deprecated_call():
        assert account.senders.request_new_dkim(1).error_code == 0
    assert account.senders.get(1).dkim_pending_host
    with pytest.raises(UnprocessableEntityError) as twice, pytest.deprecated_call():
        account.senders.request_new_dkim(1)
    assert _code(twice) == 505

    assert account.senders.delete(sig.id).message == f"Signature ID {sig.id} removed."
    assert [s.id for s in account.senders.list().items] == [1]
    with pytest.raises(NotFoundError) as gone:
        account.senders.get(sig.id)
    assert _code(gone) == 501

    # without its signature the From address may no longer send
    account.senders.delete(1)
    with pytest.raises(SenderSignatureError) as unsigned:
        postmark_client.email.send(
            Email(from_email=postmark_fake.sender_email, to="a@example.org", text_body="x")
        )
    assert _code(unsigned) == 400


def test_data_removal_pending_then_done_erases_the_address(
    postmark_fake: FakePostmark, account: AccountClient, postmark_client: ServerClient
) -> None:
    for to in ("gone@example.org", "kept@example.org"):
        postmark_client.email.send(
            Email(from_email=postmark_fake.sender_email, to=to, text_body="x")
        )
    created = account.data_removals.create(
        requested_by="dpo@example.com", requested_for="Gone@example.org", notify_when_completed=True
    )
    assert created.id and created.status == "Pending" and not created.done

    first = account.data_removals.get(created.id)
    assert first.status == "Pending"
    assert postmark_client.outbound.list(recipient="gone@example.org").total == 1  # not yet
    done = account.data_removals.get(created.id)
    assert done.done and done.id == created.id
    assert postmark_client.outbound.list(recipient="gone@example.org").total == 0
    assert postmark_client.outbound.list(recipient="kept@example.org").total == 1
    assert account.data_removals.get(created.id).status == "Done"

    with pytest.raises(NotFoundError):
        account.data_removals.get(987_654)
    with pytest.raises(UnprocessableEntityError):
        account.data_removals.create(requested_by="dpo@example.com", requested_for="nobody")


def test_breakdown_stats_count_simulated_opens_and_clicks(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    def send(tag: str) -> str:
        sent = postmark_client.email.send(
            Email(
                from_email=postmark_fake.sender_email,
                to="a@example.org",
                html_body="<a href='https://x.example/'>x</a>",
                text_body="https://x.example/",
                tag=tag,
                track_opens=True,
                track_links="HtmlAndText",
            )
        )
        return sent.message_id or ""

    mid, other = send("news"), send("other")
    fake = postmark_fake
    fake.open(mid, platform="Desktop", client="Apple Mail", read_seconds=3)
    fake.open(mid, platform="Mobile", client="Gmail", read_seconds=3)
    fake.open(mid, platform="WebMail", client="Gmail", read_seconds=45)
    fake.open(other, platform="Desktop", client="Outlook", read_seconds=1)
    fake.click(mid, "https://x.example/", platform="Mobile", browser="Chrome")
    fake.click(mid, "https://x.example/", platform="Desktop", browser="Chrome", location="Text")
    fake.click(other, "https://x.example/", platform="Desktop", browser="Safari")

    stats = postmark_client.stats
    platforms = stats.get_open_platform_usage(tag="news")
    assert (platforms.desktop, platforms.mobile, platforms.web_mail, platforms.unknown) == (
        1,
        1,
        1,
        0,
    )
    assert len(platforms.days) == 1 and platforms.days[0].mobile == 1
    assert platforms.days[0].unknown is None  # a day lists only what happened
    assert stats.get_open_platform_usage().desktop == 2

    clients = stats.get_open_client_usage(tag="news")
    assert clients.totals == {"Apple Mail": 1, "Gmail": 2}
    assert clients.days[0].counts == {"Apple Mail": 1, "Gmail": 2}
    assert stats.get_open_read_times(tag="news").totals == {"3s": 2, "20s+": 1}
    assert stats.get_open_client_usage().totals["Outlook"] == 1

    assert stats.get_click_browser_usage().totals == {"Chrome": 2, "Safari": 1}
    click_platforms = stats.get_click_platform_usage(tag="news")
    assert (click_platforms.desktop, click_platforms.mobile, click_platforms.unknown) == (1, 1, 0)
    location = stats.get_click_location()
    assert (location.html, location.text) == (2, 1)
    assert stats.get_click_location(message_stream="broadcast").html == 0
    assert stats.get_click_location(message_stream="broadcast").days == []
