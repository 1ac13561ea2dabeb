"""Every documented webhook payload through the real Flask app to the right hook, typed."""

# Fixtures are imported from _receiver_support (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from postmark_kit.events import (
    BounceEvent,
    ClickEvent,
    DeliveryEvent,
    InboundMessage,
    InvalidEventError,
    OpenEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
    UnknownEvent,
    dedupe_key,
    parse_event,
)
from postmark_kit.models.bounces import Bounce
from postmark_kit.receiver import PostmarkReceiver, Webhook
from tests.conftest import load_webhook
from tests.receiver._receiver_support import (  # noqa: F401 - fixtures
    KINDS,
    WEBHOOK,
    Recorder,
    clean_env,
    post,
    recorder,
    shared_app,
    shared_recorder,
)

EXPECTED = {
    "bounce": ("postmark_bounce", BounceEvent),
    "delivery": ("postmark_delivery", DeliveryEvent),
    "open": ("postmark_open", OpenEvent),
    "click": ("postmark_click", ClickEvent),
    "spam_complaint": ("postmark_spam_complaint", SpamComplaintEvent),
    "subscription_change": ("postmark_subscription_change", SubscriptionChangeEvent),
    "inbound": ("postmark_inbound", InboundMessage),
}


def _deliver(shared_app: Any, name: str, **kw: Any) -> tuple[Recorder, Any]:
    """POST a documented payload to the module's app; the recorder is emptied first."""
    app = shared_app(recorded=True)
    recorder: Recorder = PostmarkReceiver.plugin_manager(app).get_plugin("recorder")
    recorder.calls.clear()
    response = post(app.test_client(), load_webhook(name), **kw)
    return recorder, response


@pytest.mark.parametrize("name", KINDS)
def test_each_type_reaches_its_hook_then_postmark_event(shared_app: Any, name: str) -> None:
    recorder, response = _deliver(shared_app, name, headers={"X-PM-Webhook-Trace-Id": f"t-{name}"})
    assert response.status_code == 200
    assert response.headers["Postmark-Kit-Event"] == name
    assert response.get_data() == b""
    hook, cls = EXPECTED[name]
    assert recorder.hooks() == [hook, "postmark_event"]
    (_, event, client, webhook), (_, same, _, _) = recorder.calls
    assert type(event) is cls and same is event
    assert client is None  # no POSTMARK_SERVER_TOKEN
    assert isinstance(webhook, Webhook)
    assert webhook.kind == name
    assert webhook.trace_id == f"t-{name}"
    assert webhook.dedupe_key == f"trace:t-{name}"
    assert webhook.payload == load_webhook(name)


@pytest.mark.parametrize(
    "recipient", ["plain@example.com", "ünïcode@exämple.com", "line\nbreak@example.com", "50%@x.io"]
)
def test_accepted_answer_names_the_key_in_a_header_safe_form(
    shared_app: Any, recorder: Recorder, recipient: str
) -> None:
    """A key built from body fields may hold any text; the header carries it percent-encoded."""
    delivery = {**load_webhook("delivery"), "Recipient": recipient}
    response = post(shared_app(recorded=True).test_client(), delivery)
    assert response.status_code == 200 and response.get_data() == b""
    assert "Content-Type" not in response.headers and response.headers["Content-Length"] == "0"
    header = response.headers["Postmark-Kit-Key"]
    assert header.isascii() and header.isprintable()
    webhook = recorder.calls[0][3]
    assert unquote(header) == webhook.dedupe_key and recipient in webhook.dedupe_key
    assert "Postmark-Kit-Duplicate" not in response.headers


@pytest.mark.parametrize("name", KINDS)
def test_per_type_endpoint_accepts_its_type_only(
    shared_app: Any, recorder: Recorder, name: str
) -> None:
    client = shared_app(recorded=True).test_client()
    assert post(client, load_webhook(name), url=f"{WEBHOOK}/{name}").status_code == 200
    other = "delivery" if name != "delivery" else "bounce"
    wrong = post(client, load_webhook(other), url=f"{WEBHOOK}/{name}")
    assert wrong.status_code == 422
    assert len(recorder.calls) == 2  # only the matching post


def test_bounce_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "bounce")
    event = recorder.calls[0][1]
    assert isinstance(event, Bounce)  # the API's shape, reused
    assert event.id == 4323372036854775807
    assert event.type == "HardBounce" and event.type_code == 1
    assert event.email == "john@example.com"
    assert event.from_email == "sender@example.com"
    assert event.bounced_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    assert event.metadata == {"a_key": "a_value", "b_key": "b_value"}
    assert event.inactive is True and event.can_activate is True
    assert event.server_id == 23 and event.message_stream == "outbound"


def test_delivery_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "delivery")
    event = recorder.calls[0][1]
    assert event.message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert event.recipient == "john@example.com"
    assert event.delivered_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    assert event.details == "Test delivery webhook details"
    assert event.server_id == 23 and event.tag == "welcome-email"


def test_open_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "open")
    event = recorder.calls[0][1]
    assert event.first_open is True
    assert event.client.name == "Chrome 35.0.1916.153"
    assert event.os.family == "OS X 10"
    assert event.geo.ip == "188.2.95.4" and event.geo.country_iso_code == "RS"
    assert event.platform == "WebMail"
    assert event.recipient == "john@example.com"
    assert event.received_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)


def test_click_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "click")
    event = recorder.calls[0][1]
    assert event.original_link == "https://example.com"
    assert event.click_location == "HTML"
    assert event.client.company == "Google"
    assert event.geo.city == "Novi Sad"
    assert event.message_id == "00000000-0000-0000-0000-000000000000"


def test_spam_complaint_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "spam_complaint")
    event = recorder.calls[0][1]
    assert event.id == 42 and event.type_code == 512
    assert event.email == "john@example.com"
    assert event.can_activate is False
    assert event.content == "<Abuse report dump>"


def test_subscription_change_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "subscription_change")
    event = recorder.calls[0][1]
    assert event.suppress_sending is True
    assert event.suppression_reason == "HardBounce"
    assert event.origin == "Recipient"
    assert event.recipient == "bounced-address@wildbit.com"
    assert event.changed_at == datetime(2020, 2, 1, 10, 53, 34, 416071, tzinfo=UTC)
    assert event.metadata == {"example": "value", "example_2": "value"}


def test_inbound_values(shared_app: Any) -> None:
    recorder, _ = _deliver(shared_app, "inbound")
    event = recorder.calls[0][1]
    assert event.from_email == "support@postmarkapp.com"
    assert event.from_full.name == "Postmarkapp Support"
    assert [a.email for a in event.to_full] == ["yourhash+SampleHash@inbound.postmarkapp.com"]
    assert event.to_full[0].mailbox_hash == "SampleHash"
    assert [a.name for a in event.cc_full] == ["First Cc", ""]
    assert [a.email for a in event.bcc_full] == [
        "firstbcc@postmarkapp.com",
        "secondbcc@postmarkapp.com",
    ]
    assert event.mailbox_hash == "SampleHash"
    assert event.stripped_text_reply == "This is the reply text"
    assert event.header("x-spam-status") == "No"
    assert event.is_spam is False and event.spam_score == -0.1
    assert event.spam_tests == ["DKIM_SIGNED", "DKIM_VALID", "DKIM_VALID_AU", "SPF_PASS"]
    (attachment,) = event.attachments
    assert attachment.name == "test.txt"
    assert attachment.decode() == b"This is attachment contents, base-64 encoded."


def test_inbound_attachment_under_data_key_decodes() -> None:
    """Postmark's "send test" inbound payload puts the base64 under Data."""
    payload = load_webhook("inbound")
    payload["Attachments"] = [{"Name": "a.txt", "Data": "aGVsbG8=", "ContentType": "text/plain"}]
    event = parse_event(payload)
    assert isinstance(event, InboundMessage)
    assert event.attachments[0].decode() == b"hello"


def test_unknown_record_type_is_accepted_and_passed_on(shared_app: Any, recorder: Recorder) -> None:
    client = shared_app(recorded=True).test_client()
    payload = {"RecordType": "LinkPreview", "MessageID": "m-1", "Anything": [1, 2]}
    response = post(client, payload)
    assert response.status_code == 200
    assert recorder.hooks() == ["postmark_event"]
    event = recorder.calls[0][1]
    assert isinstance(event, UnknownEvent)
    assert event.record_type == "LinkPreview" and event.raw == payload


def test_inbound_with_an_explicit_record_type() -> None:
    event = parse_event({**load_webhook("inbound"), "RecordType": "Inbound"})
    assert isinstance(event, InboundMessage)
    with pytest.raises(InvalidEventError, match="Inbound: missing required field FromFull"):
        parse_event({"RecordType": "Inbound", "MessageID": "m"})


def test_smtp_api_error_arrives_as_a_bounce() -> None:
    payload = {**load_webhook("bounce"), "Type": "SMTPApiError", "TypeCode": 100007}
    event = parse_event(payload)
    assert isinstance(event, BounceEvent) and event.type_code == 100007


def test_new_fields_are_kept_in_extra() -> None:
    event = parse_event({**load_webhook("delivery"), "NewField": {"x": 1}})
    assert isinstance(event, DeliveryEvent)
    assert event.extra == {"NewField": {"x": 1}}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "expected a JSON object"),
        ({"Foo": 1}, "missing RecordType"),
        ({"RecordType": 3}, "RecordType must be"),
        ({"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@b.c"}, "missing required"),
        ({**load_webhook("bounce"), "ID": "12"}, "ID must be an integer"),
        ({**load_webhook("bounce"), "Inactive": "yes"}, "Inactive must be a boolean"),
        ({**load_webhook("delivery"), "DeliveredAt": "yesterday"}, "not a valid timestamp"),
        ({**load_webhook("open"), "Geo": "Serbia"}, "Geo must be an object"),
        ({**load_webhook("inbound"), "ToFull": {"Email": "x"}}, "ToFull must be an array"),
        ({**load_webhook("inbound"), "Headers": [{"Name": 5}]}, "Headers[0]: Name"),
        ({**load_webhook("subscription_change"), "SuppressSending": "true"}, "SuppressSending"),
    ],
)
def test_parse_event_rejects_invalid_payloads(payload: Any, reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_event(payload)


def test_dedupe_keys_without_trace_id() -> None:
    keys = {name: dedupe_key(parse_event(load_webhook(name))) for name in KINDS}
    assert keys["bounce"] == "bounce:4323372036854775807"
    assert keys["spam_complaint"] == "spam_complaint:42"
    assert keys["inbound"] == "inbound:73e6d360-66eb-11e1-8e72-a8904824019b"
    assert keys["delivery"].startswith(
        "delivery:883953f4-6105-42a2-a16a-77a8eac79483|john@example.com|2019-11-05"
    )
    assert len(set(keys.values())) == len(KINDS)
    assert dedupe_key(parse_event(load_webhook("open")), "abc") == "trace:abc"


# -- one pass over a webhook body (issue 15) ---------------------------------------------

#: Values that must keep their format (enums, dates): left ASCII.
_FORMATTED = {"RecordType", "Type", "BouncedAt", "Date", "MessageStream", "ContentType"}


def _accented(value: Any, key: str | None = None) -> Any:
    """``value`` with every free-text string made non-ASCII (so the Unicode check sees it)."""
    if isinstance(value, dict):
        return {k: _accented(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_accented(v, key) for v in value]
    if isinstance(value, str) and key not in _FORMATTED:
        return value + " \u00e9t\u00e9"
    return value


def _strings(value: Any) -> list[str]:
    """Every non-ASCII string in ``value``: keys and values, as often as they occur."""
    if isinstance(value, dict):
        out = [k for k in value if not k.isascii()]
        for v in value.values():
            out += _strings(v)
        return out
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) and not value.isascii() else []


@pytest.mark.parametrize("kind", ["bounce", "inbound"])
def test_a_webhook_body_is_walked_once(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation and structuring are one pass: no shape check or type check walks it first.

    Every non-ASCII string (each field, list item, metadata value, unknown key)
    reaches the Unicode check exactly once, and the generic JSON walk is never
    run over the whole body, nor twice over any part of it.
    """
    import postmark_kit.convert as convert_module
    import postmark_kit.events as events_module

    payload = _accented(load_webhook(kind))
    # Unknown fields (kept in ``extra``), nested, with a non-ASCII key too.
    payload["Zus\u00e4tzlich"] = {"Gr\u00f6\u00dfe": ["\u00fc", {"tief": "\u00df"}]}
    if kind == "bounce":
        payload["Metadata"] = {"Kunde": "M\u00fcller", "plain": "ascii"}
    checked: list[str] = []
    walked: list[int] = []
    real_unicode, real_check = convert_module._unicode, convert_module.check_json

    def spy_unicode(value: str) -> str:
        checked.append(value)
        return real_unicode(value)

    def spy_check(value: Any, depth: int = 1) -> Any:
        if isinstance(value, dict | list):
            walked.append(id(value))
        return real_check(value, depth)

    monkeypatch.setattr(convert_module, "_unicode", spy_unicode)
    monkeypatch.setattr(convert_module, "check_json", spy_check)
    monkeypatch.setattr(events_module, "check_json", spy_check)
    event = parse_event(payload)

    assert event.extra["Zus\u00e4tzlich"] == payload["Zus\u00e4tzlich"]
    expected = _strings(payload)
    assert len(expected) > 10
    assert sorted(checked) == sorted(expected)  # each string checked once, none skipped
    assert id(payload) not in walked  # no generic walk of the whole body
    assert len(walked) == len(set(walked))  # nor of any part of it twice
