"""End to end: the real client over real HTTP against the simulator."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from postmark_kit import AccountClient, ServerClient, hookimpl
from postmark_kit.errors import (
    ApiError,
    InactiveRecipientError,
    InvalidTokenError,
    SenderSignatureError,
    UnprocessableEntityError,
)
from postmark_kit.events import BounceEvent
from postmark_kit.models.common import Header
from postmark_kit.models.email import BulkEmail, BulkRecipient, Email, TemplatedEmail
from postmark_kit.models.webhooks import (
    BounceTrigger,
    HttpAuth,
    OpenTrigger,
    Trigger,
    WebhookTriggers,
)
from postmark_kit.receiver import create_app
from postmark_kit.testing import HARD_BOUNCE_ADDRESS, SOFT_BOUNCE_ADDRESS, FakePostmark
from postmark_kit.testing import simulator as sim_app

from .conftest import Sink


def _email(fake: FakePostmark, to: str = "a@example.org", **kw: object) -> Email:
    return Email(
        from_email=fake.sender_email,
        to=to,
        subject=kw.pop("subject", "Hello"),
        text_body="Hi",
        **kw,  # type: ignore[arg-type]
    )


def test_send_search_details_dump(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    first = postmark_client.email.send(_email(postmark_fake, tag="welcome", metadata={"k": "1"}))
    second = postmark_client.email.send(_email(postmark_fake, to="b@example.org", subject="Other"))
    assert first.error_code == 0 and first.message_id != second.message_id

    page = postmark_client.outbound.list(count=10)
    assert page.total == 2
    assert [m.message_id for m in page.items] == [second.message_id, first.message_id]
    assert [m.message_id for m in postmark_client.outbound.list(tag="welcome").items] == [
        first.message_id
    ]
    assert postmark_client.outbound.list(recipient="b@example.org").total == 1
    assert postmark_client.outbound.list(metadata={"k": "1"}).total == 1
    assert postmark_client.outbound.list(metadata={"k": "2"}).total == 0
    assert postmark_client.outbound.list(subject="other").total == 1
    assert postmark_client.outbound.list(message_stream="broadcast").total == 0
    assert postmark_client.outbound.list(count=1, offset=1).items[0].message_id == first.message_id

    details = postmark_client.outbound.get(first.message_id)
    assert details.subject == "Hello" and details.text_body == "Hi"
    assert details.message_events and details.message_events[0].type == "Delivered"
    dump = postmark_client.outbound.get_dump(first.message_id)
    assert "Subject: Hello" in (dump.body or "")


def test_search_window_is_a_700_error(postmark_fake: FakePostmark) -> None:
    resp = requests.get(
        f"{postmark_fake.base_url}/messages/outbound",
        params={"count": 500, "offset": 9600},
        headers={
            "X-Postmark-Server-Token": postmark_fake.server_token,
            "Accept": "application/json",
        },
        timeout=5,
    )
    assert resp.status_code == 422 and resp.json()["ErrorCode"] == 700


def test_validation_errors_use_postmark_codes(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    headers = {"X-Postmark-Server-Token": postmark_fake.server_token}
    url = f"{postmark_fake.base_url}/email"
    cases = [
        ({"From": postmark_fake.sender_email, "To": "x@example.org"}, 300),  # no body
        ({"From": postmark_fake.sender_email, "TextBody": "b"}, 300),  # no To
        ({"From": postmark_fake.sender_email, "To": "not-an-email", "TextBody": "b"}, 300),
        ({"From": "stranger@example.net", "To": "x@example.org", "TextBody": "b"}, 400),
    ]
    for body, code in cases:
        resp = requests.post(url, json=body, headers=headers, timeout=5)
        assert (resp.status_code, resp.json()["ErrorCode"]) == (422, code), body
    json_type = {**headers, "Content-Type": "application/json"}
    resp = requests.post(url, data="{nope", headers=json_type, timeout=5)
    assert resp.json()["ErrorCode"] == 402
    too_many = ",".join(f"r{i}@example.org" for i in range(51))
    resp = requests.post(
        url,
        json={"From": postmark_fake.sender_email, "To": too_many, "TextBody": "b"},
        headers=headers,
        timeout=5,
    )
    assert resp.json()["ErrorCode"] == 300
    resp = requests.post(f"{url}/batch", json=[{}] * 501, headers=headers, timeout=5)
    assert resp.json()["ErrorCode"] == 410

    postmark_fake.add_sender("pending@example.com", confirmed=False)
    with pytest.raises(SenderSignatureError) as exc:
        postmark_client.email.send(
            Email(from_email="pending@example.com", to="x@example.org", text_body="b")
        )
    assert exc.value.error_code == 401


def test_batch_reports_per_message_errors(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    good = _email(postmark_fake)
    bad = Email(from_email="nobody@example.net", to="x@example.org", text_body="b")
    results = postmark_client.email.send_batch([good, bad])
    assert [r.error_code for r in results] == [0, 400]
    assert postmark_client.outbound.list().total == 1


def test_templates_render_with_the_model(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    created = postmark_client.templates.create(
        name="Welcome",
        alias="welcome",
        subject="Hi {{name}}",
        text_body="Hello {{name}}{{#each items}}, {{.}}{{/each}}",  # Mustachio loops with each
    )
    sent = postmark_client.email.send_with_template(
        TemplatedEmail(
            from_email=postmark_fake.sender_email,
            to="a@example.org",
            template_alias="welcome",
            template_model={"name": "Ada", "items": ["x", "y"]},
        )
    )
    details = postmark_client.outbound.get(sent.message_id or "")
    assert details.subject == "Hi Ada" and details.text_body == "Hello Ada, x, y"
    assert postmark_client.templates.get(created.template_id or 0).alias == "welcome"
    check = postmark_client.templates.validate(subject="{{#a}}", test_render_model={})
    assert check.all_content_is_valid is False
    ok = postmark_client.templates.validate(subject="Hi {{name}}", test_render_model={"name": "B"})
    assert ok.subject is not None and ok.subject.rendered_content == "Hi B"


def test_magic_addresses_bounce_and_hard_bounce_suppresses(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    postmark_client.email.send(_email(postmark_fake, to=HARD_BOUNCE_ADDRESS))
    postmark_client.email.send(_email(postmark_fake, to=SOFT_BOUNCE_ADDRESS))
    bounces = postmark_client.bounces.list()
    assert sorted(b.type or "" for b in bounces.items) == ["HardBounce", "SoftBounce"]
    assert postmark_client.bounces.list(type="HardBounce").total == 1
    with pytest.raises(InactiveRecipientError) as exc:
        postmark_client.email.send(_email(postmark_fake, to=HARD_BOUNCE_ADDRESS))
    assert exc.value.error_code == 406

    hard = next(b for b in bounces.items if b.type == "HardBounce")
    activated = postmark_client.bounces.activate(hard.id or 0)
    assert activated.bounce is not None and activated.bounce.inactive is False
    postmark_client.email.send(_email(postmark_fake, to=HARD_BOUNCE_ADDRESS))  # sendable again
    assert postmark_client.bounces.get_delivery_stats().inactive_mails == 1


def test_spam_complaint_suppresses(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    sent = postmark_client.email.send(_email(postmark_fake, to="c@example.org"))
    postmark_fake.spam_complaint(sent.message_id or "")
    dump = postmark_client.suppressions.list("outbound")
    assert [(s.email_address, s.suppression_reason) for s in dump] == [
        ("c@example.org", "SpamComplaint")
    ]
    with pytest.raises(InactiveRecipientError):
        postmark_client.email.send(_email(postmark_fake, to="c@example.org"))
    overview = postmark_client.stats.get_outbound_overview()
    assert (overview.sent, overview.spam_complaints) == (1, 1)


def test_unknown_token_is_401(postmark_fake: FakePostmark) -> None:
    client = ServerClient("wrong-token", base_url=postmark_fake.base_url, retries=0)
    with client, pytest.raises(InvalidTokenError) as exc:
        client.outbound.list()
    assert exc.value.error_code == 10


def test_unimplemented_operation_is_501_naming_it(
    postmark_fake: FakePostmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every catalogued operation is simulated now: a future one stands in
    monkeypatch.setattr(
        sim_app.app, "UNSIMULATED_OPERATIONS", [("POST", "/future/{}/thing", "future_thing")]
    )
    resp = requests.post(
        f"{postmark_fake.base_url}/future/1/thing",
        headers={"X-Postmark-Account-Token": postmark_fake.account_token},
        timeout=5,
    )
    assert resp.status_code == 501 and "future_thing" in resp.json()["Message"]
    assert requests.post(f"{postmark_fake.base_url}/nowhere", timeout=5).status_code == 404


def test_webhooks_delivered_with_auth_headers_and_retries(
    postmark_fake: FakePostmark, postmark_client: ServerClient, sink: Sink
) -> None:
    postmark_client.webhooks.create(
        url=sink.url,
        http_auth=HttpAuth(username="hook", password="s3cret"),
        http_headers=[Header(name="X-Env", value="test")],
        triggers=WebhookTriggers(
            open=OpenTrigger(enabled=True),
            click=Trigger(enabled=True),
            delivery=Trigger(enabled=True),
            bounce=BounceTrigger(enabled=True),
            subscription_change=Trigger(enabled=True),
        ),
    )
    sink.fail_first = 2  # the first delivery is refused twice, then retried
    sent = postmark_client.email.send(
        Email(
            from_email=postmark_fake.sender_email,
            to="a@example.org",
            html_body='<a href="https://example.org/x">x</a>',
            track_opens=True,
            track_links="HtmlOnly",
        )
    )
    postmark_fake.open(sent.message_id or "")
    postmark_fake.click(sent.message_id or "", "https://example.org/x")
    postmark_client.email.send(_email(postmark_fake, to=HARD_BOUNCE_ADDRESS))
    assert postmark_fake.wait_for_webhooks(timeout=10)

    kinds = sorted(b["RecordType"] for b in sink.bodies())
    assert kinds == ["Bounce", "Click", "Delivery", "Open", "SubscriptionChange"]
    assert all(r["basic"] == "hook:s3cret" for r in sink.requests)
    assert all(r["headers"]["X-Env"] == "test" for r in sink.requests)
    assert all(r["headers"].get("X-PM-Webhook-Trace-Id") for r in sink.requests)
    delivery = next(d for d in postmark_fake.deliveries if d.record_type == "Delivery")
    assert (delivery.attempts, delivery.delivered) == (3, True)
    assert sink.bodies("Open")[0]["MessageID"] == sent.message_id


def test_inbound_inject_list_details_and_hook(
    postmark_fake: FakePostmark, postmark_client: ServerClient, sink: Sink
) -> None:
    postmark_client.server.update(inbound_hook_url=sink.url)
    msg = postmark_fake.inject_inbound(
        From="someone@example.net",
        To="inbox+ticket42@inbound.example.com",
        Subject="Help",
        TextBody="pls",
    )
    page = postmark_client.inbound.list(count=10)
    assert page.total == 1 and page.items[0].mailbox_hash == "ticket42"
    assert postmark_client.inbound.get(msg["MessageID"]).text_body == "pls"
    assert postmark_fake.wait_for_webhooks(timeout=10)
    assert sink.bodies()[0]["Subject"] == "Help"
    with pytest.raises(UnprocessableEntityError) as exc:
        postmark_client.inbound.retry(msg["MessageID"])
    assert exc.value.error_code == 703


def test_details_of_unknown_message_is_701(postmark_client: ServerClient) -> None:
    with pytest.raises(ApiError) as exc:
        postmark_client.outbound.get("00000000-0000-0000-0000-000000000000")
    assert exc.value.error_code == 701


def test_bulk_send_renders_per_recipient(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    bulk = postmark_client.email.send_bulk(
        BulkEmail(
            from_email=postmark_fake.sender_email,
            subject="News for {{name}}",
            text_body="Hi {{name}}",
            message_stream="broadcast",
            messages=[
                BulkRecipient("u1@example.org", template_model={"name": "One"}),
                BulkRecipient("u2@example.org", template_model={"name": "Two"}),
            ],
        )
    )
    status = postmark_client.email.get_bulk_status(bulk.id or "")
    assert (status.status, status.total_messages) == ("Completed", 2)
    page = postmark_client.outbound.list(message_stream="broadcast")
    assert sorted(m.subject or "" for m in page.items) == ["News for One", "News for Two"]


def test_webhook_to_receiver_plugin_that_calls_the_client_back(
    postmark_fake: FakePostmark, postmark_client: ServerClient, tmp_path: Path
) -> None:
    """send -> bounce webhook -> receiver -> plugin -> client -> simulator state changed."""

    class SuppressSoftBounces:
        @hookimpl
        def postmark_bounce(self, event: BounceEvent, client: ServerClient | None) -> None:
            assert client is not None
            client.suppressions.create(event.message_stream or "outbound", event.email or "")

    receiver_client = ServerClient(
        postmark_fake.server_token, base_url=postmark_fake.base_url, retries=0
    )
    app = create_app(
        {
            "POSTMARK_EVENT_STORE": str(tmp_path / "events.sqlite3"),
            "POSTMARK_DISPATCH": "inline",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_URL_PREFIX": "/postmark",
            "POSTMARK_WEBHOOK_USERNAME": "u",
            "POSTMARK_WEBHOOK_PASSWORD": "p",
        },
        plugins=[SuppressSoftBounces()],
        client=receiver_client,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    try:
        postmark_client.webhooks.create(
            url=f"http://127.0.0.1:{server.server_port}/postmark/webhook",
            http_auth=HttpAuth(username="u", password="p"),
            triggers=WebhookTriggers(bounce=BounceTrigger(enabled=True)),
        )
        postmark_client.email.send(_email(postmark_fake, to=SOFT_BOUNCE_ADDRESS))
        assert postmark_fake.wait_for_webhooks(timeout=10)
        assert [d.delivered for d in postmark_fake.deliveries] == [True]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        receiver_client.close()
    dump = postmark_client.suppressions.list("outbound")
    assert [(s.email_address, s.origin) for s in dump] == [(SOFT_BOUNCE_ADDRESS, "Customer")]
    with pytest.raises(InactiveRecipientError):
        postmark_client.email.send(_email(postmark_fake, to=SOFT_BOUNCE_ADDRESS))


def test_domains_authorize_senders(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    account = AccountClient(postmark_fake.account_token, base_url=postmark_fake.base_url, retries=0)
    with account:
        created = account.domains.create(name="brand.example")
        assert created.dkim_verified is False
        assert [d.name for d in account.domains.list().items] == ["brand.example"]
        with pytest.raises(SenderSignatureError) as exc:
            postmark_client.email.send(
                Email(from_email="news@brand.example", to="a@example.org", text_body="b")
            )
        assert exc.value.error_code == 401
        postmark_fake.add_domain("verified.example")
        sent = postmark_client.email.send(
            Email(from_email="any@verified.example", to="a@example.org", text_body="b")
        )
        assert sent.error_code == 0


def test_stream_archive_and_unarchive(postmark_client: ServerClient) -> None:
    archived = postmark_client.message_streams.archive("broadcast")
    assert archived.expected_purge_date is not None
    assert "broadcast" not in [s.id for s in postmark_client.message_streams.list()]
    assert postmark_client.message_streams.unarchive("broadcast").archived_at is None


def test_simulators_of_one_process_serve_their_own_state_concurrently() -> None:
    # every simulator of a process shares one set of routes: each request must still
    # reach the state of the simulator it was sent to, however they interleave
    with FakePostmark() as one, FakePostmark() as two:
        errors: list[BaseException] = []

        def send(fake: FakePostmark, to: str) -> None:
            try:
                with ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as c:
                    for _ in range(5):
                        c.email.send(_email(fake, to=to))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=send, args=(fake, to))
            for fake, to in [(one, "one@example.org"), (two, "two@example.org")] * 2
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        assert [m["Recipients"] for m in one.state.outbound] == [["one@example.org"]] * 10
        assert [m["Recipients"] for m in two.state.outbound] == [["two@example.org"]] * 10
        # and each one takes only its own tokens
        wrong = ServerClient(one.server_token, base_url=two.base_url, retries=0)
        with wrong, pytest.raises(InvalidTokenError):
            wrong.outbound.list()


def test_an_app_of_its_own_serves_the_same_state(postmark_fake: FakePostmark) -> None:
    # ``fake.app`` (``create_app(fake.state)``) is a Flask app: a test client sees the
    # simulator's state, and the port sees what it changed
    client = postmark_fake.app.test_client()
    token = {"X-Postmark-Server-Token": postmark_fake.server_token}
    body = {"From": postmark_fake.sender_email, "To": "a@example.org", "TextBody": "Hi"}
    sent = client.post("/email", json=body, headers=token)
    assert sent.status_code == 200, sent.get_data(as_text=True)
    message_id = sent.get_json()["MessageID"]
    with ServerClient(
        postmark_fake.server_token, base_url=postmark_fake.base_url, retries=0
    ) as over_http:
        assert [m.message_id for m in over_http.outbound.list().items] == [message_id]
    assert client.get("/messages/outbound?count=1", headers=token).get_json()["TotalCount"] == 1
    assert client.get("/messages/outbound?count=1").status_code == 401


def test_paths_are_case_insensitive_like_postmarks(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    token = {"X-Postmark-Server-Token": postmark_fake.server_token, "Accept": "application/json"}
    base = postmark_fake.base_url
    assert requests.get(f"{base}/SERVER", headers=token, timeout=5).status_code == 200
    found = requests.get(f"{base}/Messages/OUTBOUND?count=1", headers=token, timeout=5)
    assert found.status_code == 200 and found.json()["TotalCount"] == 0
    # a path that matches as sent is kept: an alias spelled like a fixed word stays the alias
    postmark_client.templates.create(name="V", alias="Validate", subject="s", text_body="t")
    got = requests.get(f"{base}/templates/Validate", headers=token, timeout=5)
    assert got.status_code == 200 and got.json()["Alias"] == "Validate"


def test_an_app_of_its_own_serves_its_state_in_a_request_context_made_by_hand(
    postmark_fake: FakePostmark,
) -> None:
    postmark_fake.add_domain("made-by-hand.example")
    headers = {"X-Postmark-Account-Token": postmark_fake.account_token}
    with postmark_fake.app.test_request_context("/domains?count=5", headers=headers):
        listed = sim_app.account.list_domains().get_json()
    assert [d["Name"] for d in listed["Domains"]] == ["made-by-hand.example"]
