"""Events the simulator reports, and how it posts them, as Postmark documents them.

Doc pages followed:
- https://postmarkapp.com/developer/webhooks/webhooks-overview (retries: which answers,
  the schedule, X-PM-Retries-Remaining)
- https://postmarkapp.com/developer/webhooks/inbound-webhook (inbound: 10 retries over
  10.5 hours, a 403 stops them; attachments, MailboxHash)
- https://postmarkapp.com/developer/webhooks/open-tracking-webhook and
  .../click-webhook (only messages sent with TrackOpens / TrackLinks report them)
- https://postmarkapp.com/developer/webhooks/delivery-webhook, .../bounce-webhook,
  .../spam-complaint-webhook, .../subscription-change-webhook
"""

from __future__ import annotations

import pytest

from postmark_kit import ServerClient
from postmark_kit.events import InboundMessage, parse_event
from postmark_kit.models.email import Email
from postmark_kit.models.webhooks import (
    BounceTrigger,
    OpenTrigger,
    SpamComplaintTrigger,
    Trigger,
    WebhookTriggers,
)
from postmark_kit.testing import FakePostmark, SimulationError
from postmark_kit.testing.hooks import EVENT_RETRY_DELAYS, INBOUND_RETRY_DELAYS

from .conftest import Sink

ALL = WebhookTriggers(
    open=OpenTrigger(enabled=True),
    click=Trigger(enabled=True),
    delivery=Trigger(enabled=True),
    bounce=BounceTrigger(enabled=True),
    spam_complaint=SpamComplaintTrigger(enabled=True),
    subscription_change=Trigger(enabled=True),
)
LINK = "https://example.org/start"


def _send(fake: FakePostmark, client: ServerClient, **kw: object) -> str:
    email = Email(
        from_email=fake.sender_email,
        to=str(kw.pop("to", "a@example.org")),
        subject="s",
        html_body=f'<a href="{LINK}">start</a>',
        text_body=f"Start: {LINK}",
        **kw,  # type: ignore[arg-type]
    )
    return client.email.send(email).message_id or ""


def test_opens_only_for_messages_sent_with_open_tracking(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    untracked = _send(postmark_fake, postmark_client)
    with pytest.raises(SimulationError, match="open tracking"):
        postmark_fake.open(untracked)
    text_only = postmark_client.email.send(
        Email(
            from_email=postmark_fake.sender_email,
            to="a@example.org",
            text_body="t",
            track_opens=True,
        )
    ).message_id
    with pytest.raises(SimulationError):  # the pixel lives in the HTML body
        postmark_fake.open(text_only or "")
    tracked = _send(postmark_fake, postmark_client, track_opens=True)
    assert postmark_fake.open(tracked)["FirstOpen"] is True
    assert postmark_fake.open(tracked)["FirstOpen"] is False
    postmark_client.server.update(track_opens=True)  # the server's default applies
    assert postmark_fake.open(_send(postmark_fake, postmark_client))["RecordType"] == "Open"
    assert postmark_client.outbound.list_opens().total == 3


def test_clicks_only_for_tracked_links_in_the_tracked_body(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    untracked = _send(postmark_fake, postmark_client)
    with pytest.raises(SimulationError, match="TrackLinks=None"):
        postmark_fake.click(untracked, LINK)
    html_only = _send(postmark_fake, postmark_client, track_links="HtmlOnly")
    with pytest.raises(SimulationError):
        postmark_fake.click(html_only, LINK, location="Text")
    with pytest.raises(SimulationError, match="not in the HTML body"):
        postmark_fake.click(html_only, "https://elsewhere.example/")
    assert postmark_fake.click(html_only, LINK)["OriginalLink"] == LINK
    both = _send(postmark_fake, postmark_client, track_links="HtmlAndText")
    assert postmark_fake.click(both, LINK, location="Text")["ClickLocation"] == "Text"
    with pytest.raises(SimulationError, match="not a recipient"):
        postmark_fake.click(both, LINK, "stranger@example.org")


def test_a_helper_for_every_event_kind(sink: Sink) -> None:
    with FakePostmark(auto_deliver=False) as fake:
        client = ServerClient(fake.server_token, base_url=fake.base_url, retries=0)
        with client:
            client.webhooks.create(url=sink.url, triggers=ALL)
            client.server.update(inbound_hook_url=sink.url)
            mid = _send(
                fake,
                client,
                to="a@example.org, b@example.org, c@example.org",
                track_opens=True,
                track_links="HtmlAndText",
                metadata={"order": "42"},
            )
            assert fake.wait_for_webhooks(5) and sink.bodies() == []  # nothing delivered yet
            fake.deliver(mid, "a@example.org")
            with pytest.raises(SimulationError):
                fake.deliver(mid, "a@example.org")  # delivered once
            fake.bounce(mid, "b@example.org", type="SoftBounce")
            fake.deliver(mid, "c@example.org")
            fake.open(mid, "a@example.org")
            fake.click(mid, LINK, "a@example.org")
            fake.spam_complaint(mid, "c@example.org")
            fake.subscription_change(mid, "a@example.org")
            fake.subscription_change(mid, "a@example.org", suppress=False)
            fake.inbound(From="Ann <ann@example.net>", To="box+t-1@inbound.example.com")
            assert fake.wait_for_webhooks(10)
            kinds = [b.get("RecordType", "Inbound") for b in sink.bodies()]
            assert sorted(set(kinds)) == [
                "Bounce",
                "Click",
                "Delivery",
                "Inbound",
                "Open",
                "SpamComplaint",
                "SubscriptionChange",
            ]
            for body in sink.bodies():
                event = parse_event(body)
                if body.get("RecordType") != "Inbound" and "FromFull" not in body:
                    assert body["Metadata"] == {"order": "42"}, body
                assert event is not None
            changes = [b for b in sink.bodies("SubscriptionChange")]
            assert [(c["Recipient"], c["SuppressSending"]) for c in changes] == [
                ("c@example.org", True),
                ("a@example.org", True),
                ("a@example.org", False),
            ]
            suppressed = {s.email_address for s in client.suppressions.list("outbound")}
            assert suppressed == {"c@example.org"}


def test_event_webhook_retries_follow_postmarks_rules(
    postmark_fake: FakePostmark, postmark_client: ServerClient, sink: Sink
) -> None:
    postmark_client.webhooks.create(url=sink.url, triggers=WebhookTriggers(delivery=Trigger(True)))
    sink.script = [503, 429, 408]  # retried, then 200
    _send(postmark_fake, postmark_client)
    assert postmark_fake.wait_for_webhooks(5)
    (first,) = postmark_fake.deliveries
    assert (first.attempts, first.delivered) == (4, True)
    retries_left = [r["headers"]["X-PM-Retries-Remaining"] for r in sink.requests]
    assert retries_left == [str(len(EVENT_RETRY_DELAYS) - n) for n in range(4)]

    sink.script = [400]  # any other 4xx is final at once
    _send(postmark_fake, postmark_client)
    assert postmark_fake.wait_for_webhooks(5)
    second = postmark_fake.deliveries[-1]
    assert (second.attempts, second.delivered, second.status) == (1, False, 400)

    sink.script = [500] * 10  # the whole schedule: 1 + 6 attempts over ~an hour (scaled)
    _send(postmark_fake, postmark_client)
    assert postmark_fake.wait_for_webhooks(5)
    assert postmark_fake.deliveries[-1].attempts == 1 + len(EVENT_RETRY_DELAYS)
    assert sum(EVENT_RETRY_DELAYS) == 51 * 60


def test_inbound_retries_403_stops_them_and_failed_mail_can_be_retried(
    postmark_fake: FakePostmark,
    postmark_client: ServerClient,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Postmark's 10 inbound retries without their ~0.4 s of scaled waiting (the
    # schedule's scaling: test_retry_schedule_is_injectable)
    zeros = (0.0,) * len(INBOUND_RETRY_DELAYS)
    monkeypatch.setattr(postmark_fake.dispatcher, "inbound_retry_schedule", zeros)
    postmark_client.server.update(inbound_hook_url=sink.url)
    sink.script = [201] * 20  # inbound wants exactly 200: every other answer is retried
    mid = postmark_fake.inbound(From="a@example.net", Subject="one")["MessageID"]
    assert postmark_fake.wait_for_webhooks(5)
    assert postmark_fake.deliveries[-1].attempts == 1 + len(INBOUND_RETRY_DELAYS) == 11
    assert 10 * 3600 < sum(INBOUND_RETRY_DELAYS) < 11 * 3600  # "about 10.5 hours"
    assert postmark_client.inbound.get(mid).status == "Failed"

    sink.script = [403]
    mid = postmark_fake.inbound(From="a@example.net", Subject="two")["MessageID"]
    assert postmark_fake.wait_for_webhooks(5)
    stopped = postmark_fake.deliveries[-1]
    assert (stopped.attempts, stopped.status, stopped.delivered) == (1, 403, False)
    assert postmark_client.inbound.get(mid).status == "Failed"
    sink.script = []
    postmark_client.inbound.retry(mid)
    assert postmark_fake.wait_for_webhooks(5)
    assert postmark_fake.deliveries[-1].delivered
    assert postmark_client.inbound.get(mid).status == "Processed"


def test_retry_schedule_is_injectable() -> None:
    with FakePostmark(time_scale=0.0) as fake:
        assert set(fake.dispatcher.retry_schedule) == {0.0}
        assert len(fake.dispatcher.inbound_retry_schedule) == 10
    with FakePostmark(retry_schedule=[0.0], inbound_retry_schedule=[0.0, 0.0]) as fake:
        assert fake.dispatcher.retry_schedule == (0.0,)
        assert fake.dispatcher.inbound_retry_schedule == (0.0, 0.0)


def test_inbound_with_attachments_mailbox_hash_and_metadata(
    postmark_fake: FakePostmark, postmark_client: ServerClient, sink: Sink
) -> None:
    postmark_client.server.update(inbound_hook_url=sink.url)
    postmark_fake.inbound(
        From='"Ann Example" <ann@example.net>',
        To="Support <support+ticket-42@inbound.example.com>",
        Subject="Logs",
        TextBody="see attached",
        Metadata={"customer": "ann"},
        Attachments=[
            {"Name": "log.txt", "Content": b"hello", "ContentType": "text/plain"},
            {
                "Name": "logo.png",
                "Content": "iVBORw0K",
                "ContentType": "image/png",
                "ContentID": "logo@x",
                "Disposition": "inline",
            },
        ],
    )
    assert postmark_fake.wait_for_webhooks(5)
    (body,) = sink.bodies()
    message = parse_event(body)
    assert isinstance(message, InboundMessage)
    assert message.mailbox_hash == "ticket-42"
    assert message.to_full[0].mailbox_hash == "ticket-42"
    assert message.from_email == "ann@example.net" and message.from_name == "Ann Example"
    assert message.metadata == {"customer": "ann"} and "Metadata" not in message.extra
    text, logo = message.attachments
    assert text.decode() == b"hello" and text.content_length == 5
    assert (logo.disposition, logo.content_id) == ("inline", "logo@x")
    assert logo.extra == {}
