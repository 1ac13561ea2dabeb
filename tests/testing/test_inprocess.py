"""The simulator's webhooks delivered into a user's Flask app in process, with shipped fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request

from postmark_kit import Email, InactiveRecipientError, ServerClient, TrackLinks, hookimpl
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.testing import (
    HARD_BOUNCE_ADDRESS,
    AppWebhooks,
    FakePostmark,
    payloads,
    post_webhook,
)

AUTH = ("postmark", "hook-pass")


class BounceWatcher:
    """A user's plugin: remembers bounced addresses and tells ops, through the client."""

    plugin_name = "bounce-watcher"

    def __init__(self) -> None:
        self.bounced: list[str] = []
        self.kinds: list[str] = []

    @hookimpl
    def postmark_event(self, event: Any, webhook: Any) -> None:
        self.kinds.append(webhook.kind)

    @hookimpl
    def postmark_bounce(self, event: Any, client: ServerClient | None) -> None:
        self.bounced.append(event.email)
        assert client is not None
        client.email.send(
            Email(
                from_email="sender@example.com",
                to="ops@example.com",
                subject=f"bounced: {event.email}",
                text_body=event.description or "",
            )
        )


def make_app(fake: FakePostmark, plugin: Any, **config: Any) -> Flask:
    """A user's app: a signup view sending a welcome mail, and the receiver."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        POSTMARK_SERVER_TOKEN=fake.server_token,
        POSTMARK_BASE_URL=fake.base_url,
        POSTMARK_WEBHOOK_USERNAME=AUTH[0],
        POSTMARK_WEBHOOK_PASSWORD=AUTH[1],
        POSTMARK_LOAD_ENTRYPOINTS=False,
        **config,
    )
    PostmarkReceiver(plugins=[plugin]).init_app(app)

    @app.post("/signup")
    def signup() -> tuple[str, int]:
        with ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as client:
            try:
                client.email.send(
                    Email(
                        from_email="sender@example.com",
                        to=request.form["email"],
                        subject="Welcome",
                        text_body="Hi",
                        tag="welcome",
                    )
                )
            except InactiveRecipientError:
                return "inactive", 409
        return "ok", 201

    return app


@pytest.fixture
def watcher() -> BounceWatcher:
    return BounceWatcher()


@pytest.fixture
def app(postmark_fake: FakePostmark, watcher: BounceWatcher) -> Iterator[Flask]:
    app = make_app(postmark_fake, watcher)
    yield app
    PostmarkReceiver.shutdown(app)


def test_signup_hard_bounce_reaches_the_plugin_which_calls_back(
    app: Flask,
    watcher: BounceWatcher,
    postmark_fake: FakePostmark,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    hooks = postmark_webhooks_into(app)
    client = app.test_client()
    assert client.post("/signup", data={"email": "ann@example.com"}).status_code == 201
    assert client.post("/signup", data={"email": HARD_BOUNCE_ADDRESS}).status_code == 201
    # nothing reaches the app before the test asks: a unit test stays deterministic
    assert watcher.kinds == []
    delivered = hooks.deliver()
    assert watcher.bounced == [HARD_BOUNCE_ADDRESS]
    # ann's delivery, the bounce and the suppression it causes, then the delivery
    # of the mail the plugin sent to ops while handling the bounce
    kinds = ["Delivery", "Bounce", "SubscriptionChange", "Delivery"]
    assert [d.record_type for d in delivered] == kinds
    assert all(d.delivered and d.in_process and d.status == 200 for d in delivered)
    assert watcher.kinds == ["delivery", "bounce", "subscription_change", "delivery"]
    assert delivered[3].payload["Recipient"] == "ops@example.com"
    # the address is now suppressed: a second signup is refused
    assert client.post("/signup", data={"email": HARD_BOUNCE_ADDRESS}).status_code == 409
    assert hooks.deliver() == []


def test_every_kind_of_simulated_webhook_arrives(
    app: Flask,
    watcher: BounceWatcher,
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    hooks = postmark_webhooks_into(app)
    sent = postmark_client.email.send(
        Email(
            from_email="sender@example.com",
            to="bo@example.com",
            subject="s",
            html_body='<a href="https://example.com/x">x</a>',
            track_opens=True,
            track_links=TrackLinks.HTML_AND_TEXT,
        )
    )
    assert sent.message_id is not None
    postmark_fake.open(sent.message_id)
    postmark_fake.click(sent.message_id, "https://example.com/x")
    postmark_fake.spam_complaint(sent.message_id)
    postmark_fake.inject_inbound(From="cy@example.com", Subject="Hello", TextBody="hi")
    postmark_fake.wait_for_webhooks()  # the simulator's own wait delivers in process too
    assert watcher.kinds == [
        "delivery",
        "open",
        "click",
        "spam_complaint",
        "subscription_change",
        "inbound",
    ]
    assert all(d.in_process and d.delivered for d in hooks.deliveries)


def test_wrong_credentials_fail_like_postmark_retrying(
    app: Flask,
    watcher: BounceWatcher,
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    hooks = postmark_webhooks_into(app, auth=("postmark", "wrong"))
    postmark_client.email.send(
        Email(from_email="sender@example.com", to="di@example.com", subject="s", text_body="t")
    )
    (delivery,) = hooks.deliver()
    assert delivery.status == 401 and not delivery.delivered
    assert delivery.attempts == 1  # Postmark drops an event webhook on a 4xx (not 408/429)
    assert watcher.kinds == []


def test_post_a_payload_factory_dict_straight_into_the_receiver(
    app: Flask, watcher: BounceWatcher
) -> None:
    body = payloads.bounce(email="eve@example.com")
    first = post_webhook(app, body, trace_id="t-1")
    assert first.status_code == 200
    assert first.headers["Postmark-Kit-Event"] == "bounce"
    assert first.headers["Postmark-Kit-Key"] == "trace:t-1"
    other = post_webhook(app, payloads.bounce(email="fay@example.com", type="SoftBounce"))
    assert other.status_code == 200
    assert watcher.bounced == ["eve@example.com", "fay@example.com"]
    assert post_webhook(app, body, auth=None).status_code == 401


def test_close_removes_the_simulator_configuration(app: Flask, postmark_fake: FakePostmark) -> None:
    headers = {"X-Postmark-Server-Token": postmark_fake.server_token}

    def get(path: str) -> Any:
        return requests.get(postmark_fake.base_url + path, headers=headers, timeout=5).json()

    with AppWebhooks(postmark_fake, app) as hooks:
        (hook,) = get("/webhooks?MessageStream=outbound")["Webhooks"]
        assert hook["Url"] == hooks.url and hook["Url"].endswith("/postmark/webhook")
        assert hook["HttpAuth"] == {"Username": AUTH[0], "Password": AUTH[1]}
        assert all(t["Enabled"] for t in hook["Triggers"].values())
        assert get("/server")["InboundHookUrl"].startswith("http://postmark:hook-pass@")
    assert get("/webhooks")["Webhooks"] == []
    assert get("/server")["InboundHookUrl"] == ""


def test_two_apps_each_get_the_webhooks(
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    first, second = BounceWatcher(), BounceWatcher()
    apps = [
        make_app(postmark_fake, first),
        make_app(postmark_fake, second, POSTMARK_URL_PREFIX="/hooks/pm"),
    ]
    try:
        one = postmark_webhooks_into(apps[0], inbound=False)
        two = postmark_webhooks_into(apps[1], inbound=False)
        assert two.path == "/hooks/pm/webhook"
        postmark_client.email.send(
            Email(
                from_email="sender@example.com", to=HARD_BOUNCE_ADDRESS, subject="s", text_body="t"
            )
        )
        # each deliver() is about its own app: nothing reaches the other one meanwhile
        assert [d.record_type for d in one.deliver()] == [
            "Bounce",
            "SubscriptionChange",
            "Delivery",
        ]
        assert second.kinds == []
        assert [d.record_type for d in two.deliver()] == [
            "Bounce",
            "SubscriptionChange",
            "Delivery",  # the first app's plugin's mail to ops
            "Delivery",  # its own plugin's
        ]
        assert [d.record_type for d in one.deliver()] == ["Delivery"]
        assert first.bounced == second.bounced == [HARD_BOUNCE_ADDRESS]
        assert first.kinds.count("delivery") == second.kinds.count("delivery") == 2
    finally:
        for app in apps:
            PostmarkReceiver.shutdown(app)


def test_a_named_second_receiver_gets_its_own_webhooks(
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    main, billing = BounceWatcher(), BounceWatcher()
    app = make_app(postmark_fake, main)
    app.config.update(
        POSTMARK_BILLING_URL_PREFIX="/billing",
        POSTMARK_BILLING_WEBHOOK_USERNAME="billing",
        POSTMARK_BILLING_WEBHOOK_PASSWORD="other-pass",
        POSTMARK_BILLING_LOAD_ENTRYPOINTS=False,
    )
    PostmarkReceiver(app, name="billing", config_prefix="POSTMARK_BILLING_", plugins=[billing])
    try:
        hooks = postmark_webhooks_into(app, receiver="billing", inbound=False)
        assert hooks.path == "/billing/webhook" and hooks.auth == ("billing", "other-pass")
        postmark_client.email.send(
            Email(from_email="sender@example.com", to="gil@example.com", subject="s", text_body="t")
        )
        (delivery,) = hooks.deliver()
        assert delivery.delivered
        assert billing.kinds == ["delivery"] and main.kinds == []
        body = payloads.bounce(email="h@example.com")
        with pytest.raises(RuntimeError, match="pass name="):
            post_webhook(app, body)  # two receivers: which one?
        assert post_webhook(app, body, receiver="postmark_kit").status_code == 200
        assert main.bounced == ["h@example.com"] and billing.bounced == []
    finally:
        PostmarkReceiver.shutdown(app, "billing")
        PostmarkReceiver.shutdown(app, "postmark_kit")


def test_journal_mode_plugins_have_run_when_deliver_returns(
    postmark_fake: FakePostmark,
    tmp_path: Any,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    watcher = BounceWatcher()
    app = make_app(
        postmark_fake,
        watcher,
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_JOURNAL_WORKER=False,  # only deliver() dispatches: deterministic
    )
    try:
        hooks = postmark_webhooks_into(app)
        app.test_client().post("/signup", data={"email": HARD_BOUNCE_ADDRESS})
        delivered = hooks.deliver()
        assert watcher.bounced == [HARD_BOUNCE_ADDRESS]
        # the mail the plugin sent while handling the bounce, delivered and dispatched too
        assert [d.record_type for d in delivered] == ["Bounce", "SubscriptionChange", "Delivery"]
        assert watcher.kinds == ["bounce", "subscription_change", "delivery"]
    finally:
        PostmarkReceiver.shutdown(app)
