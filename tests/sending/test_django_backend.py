"""postmark_kit.django.EmailBackend with a real Django, against requests-mock and the simulator."""

from __future__ import annotations

import base64
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from pathlib import Path
from typing import Any

import pytest
import requests_mock as requests_mock_module
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test.utils import override_settings

from postmark_kit import (
    BatchSendError,
    ClientValidationError,
    InactiveRecipientError,
    InvalidTokenError,
    TrackLinks,
)
from postmark_kit.django import (
    EmailBackend,
    HeaderInjectionError,
    PostmarkEmailMessage,
    PostmarkEmailMultiAlternatives,
    RefusedMessagesError,
)
from postmark_kit.testing import FakePostmark
from tests.conftest import API, SERVER_TOKEN
from tests.sending._support import accepted, register_sends

pytestmark = pytest.mark.usefixtures("django_settings")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def api(mock_api: requests_mock_module.Mocker) -> requests_mock_module.Mocker:
    register_sends(mock_api)
    return mock_api


def sent_messages(mock: requests_mock_module.Mocker) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for request in mock.request_history:
        body = request.json()
        out.extend(body["Messages"] if isinstance(body, dict) else body)
    return out


def test_send_mail_goes_through_the_batch_api(api: requests_mock_module.Mocker) -> None:
    count = mail.send_mail("Subject", "Body", None, ["ada@example.com"])
    assert count == 1
    (request,) = api.request_history
    assert request.path == "/email/batch"
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    assert request.json() == [
        {
            "From": "Webmaster <webmaster@example.com>",
            "To": "ada@example.com",
            "Subject": "Subject",
            "TextBody": "Body",
        }
    ]


def test_everything_django_core_mail_sends(
    api: requests_mock_module.Mocker, tmp_path: Path
) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 \x00\xff")
    message = EmailMultiAlternatives(
        subject="Grüße",
        body="Plain text",
        from_email="Shop <shop@example.com>",
        to=["Ada <ada@example.com>", "bob@example.com"],
        cc=["cc@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        headers={"X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.com>"},
    )
    message.attach_alternative('<p>HTML</p><img src="cid:logo">', "text/html")
    message.attach_file(str(report))
    message.attach("data.csv", b"a,b\n1,2\n", "text/csv")
    message.attach("notes.txt", "naïve text")
    raw = MIMEBase("application", "zip")
    raw.set_payload(b"PK\x03\x04zip")
    from email import encoders

    encoders.encode_base64(raw)
    raw.add_header("Content-Disposition", "attachment", filename="archive.zip")
    message.attach(raw)
    logo = MIMEImage(PNG, "png")
    logo.add_header("Content-ID", "<logo>")
    logo.add_header("Content-Disposition", "inline", filename="logo.png")
    message.attach(logo)

    assert message.send() == 1
    (sent,) = sent_messages(api)
    assert sent["From"] == "Shop <shop@example.com>"
    assert sent["To"] == "Ada <ada@example.com>, bob@example.com"
    assert (sent["Cc"], sent["Bcc"]) == ("cc@example.com", "audit@example.com")
    assert sent["ReplyTo"] == "support@example.com"
    assert sent["Subject"] == "Grüße"
    assert sent["TextBody"] == "Plain text"
    assert sent["HtmlBody"] == '<p>HTML</p><img src="cid:logo">'
    assert sent["Headers"] == [
        {"Name": "X-Campaign", "Value": "spring"},
        {"Name": "List-Unsubscribe", "Value": "<mailto:u@example.com>"},
    ]
    files = {a["Name"]: a for a in sent["Attachments"]}
    assert list(files) == ["report.pdf", "data.csv", "notes.txt", "archive.zip", "logo.png"]
    assert base64.b64decode(files["report.pdf"]["Content"]) == b"%PDF-1.4 \x00\xff"
    assert files["report.pdf"]["ContentType"] == "application/pdf"
    assert base64.b64decode(files["notes.txt"]["Content"]).decode() == "naïve text"
    assert base64.b64decode(files["archive.zip"]["Content"]) == b"PK\x03\x04zip"
    assert files["logo.png"]["ContentID"] == "cid:logo"
    assert base64.b64decode(files["logo.png"]["Content"]) == PNG
    assert "ContentID" not in files["data.csv"]
    assert message.postmark_message_id == "id-0"  # type: ignore[attr-defined]
    assert message.postmark_result.ok  # type: ignore[attr-defined]
    assert message.postmark_error is None  # type: ignore[attr-defined]


def test_html_only_message_and_html_content_subtype(api: requests_mock_module.Mocker) -> None:
    only_html = EmailMultiAlternatives("s", "", to=["a@example.com"])
    only_html.attach_alternative("<b>x</b>", "text/html")
    as_html = EmailMessage("s", "<i>y</i>", to=["b@example.com"])
    as_html.content_subtype = "html"
    assert mail.get_connection().send_messages([only_html, as_html]) == 2
    first, second = sent_messages(api)
    assert first["HtmlBody"] == "<b>x</b>" and "TextBody" not in first
    assert second["HtmlBody"] == "<i>y</i>" and "TextBody" not in second


def test_send_mass_mail_500_a_call(api: requests_mock_module.Mocker) -> None:
    datatuple = [("Hi", f"Body {i}", None, [f"u{i}@example.com"]) for i in range(1201)]
    assert mail.send_mass_mail(datatuple) == 1201
    # Chunks go out concurrently (send_batch's default): any order, 500 a call.
    assert sorted(len(r.json()) for r in api.request_history) == [201, 500, 500]
    assert sorted(m["To"] for m in sent_messages(api)) == sorted(
        f"u{i}@example.com" for i in range(1201)
    )


def test_mail_admins(api: requests_mock_module.Mocker) -> None:
    mail.mail_admins("Disk full", "It is full", html_message="<b>It is full</b>")
    (sent,) = sent_messages(api)
    assert sent["To"] == "admin@example.com"
    assert sent["From"] == "server@example.com"
    assert sent["Subject"] == "[Django] Disk full"
    assert sent["HtmlBody"] == "<b>It is full</b>"


def test_postmark_extras_on_the_message(api: requests_mock_module.Mocker) -> None:
    with override_settings(
        POSTMARK={
            "SERVER_TOKEN": SERVER_TOKEN,
            "BASE_URL": API,
            "MESSAGE_STREAM": "transactional",
            "TRACK_OPENS": True,
        }
    ):
        plain = EmailMessage("s", "b", to=["a@example.com"])
        plain.tag = "welcome"  # type: ignore[attr-defined]
        plain.metadata = {"user": 42}  # type: ignore[attr-defined]
        plain.track_links = "HtmlAndText"  # type: ignore[attr-defined]
        by_header = EmailMessage(
            "s",
            "b",
            to=["b@example.com"],
            headers={"X-PM-Tag": "digest", "X-PM-Metadata-plan": "pro"},
        )
        by_header.message_stream = "broadcast"  # type: ignore[attr-defined]
        by_header.track_opens = False  # type: ignore[attr-defined]
        templated = EmailMessage(to=["c@example.com"])
        templated.template_alias = "receipt"  # type: ignore[attr-defined]
        templated.template_model = {"total": "9.99"}  # type: ignore[attr-defined]
        assert mail.get_connection().send_messages([plain, templated, by_header]) == 3
    paths = [r.path for r in api.request_history]
    assert paths == ["/email/batch", "/email/batchwithtemplates"]
    first, third, second = sent_messages(api)
    assert first["Tag"] == "welcome"
    assert first["Metadata"] == {"user": "42"}
    assert first["TrackLinks"] == "HtmlAndText"
    assert first["TrackOpens"] is True and first["MessageStream"] == "transactional"
    assert third["Tag"] == "digest" and third["Metadata"] == {"plan": "pro"}
    assert third["MessageStream"] == "broadcast" and third["TrackOpens"] is False
    assert "Headers" not in third
    assert second["TemplateAlias"] == "receipt"
    assert second["TemplateModel"] == {"total": "9.99"}
    assert "Subject" not in second and "TextBody" not in second
    # Results land on the right message although the two kinds went in two calls.
    assert [m.postmark_result.to for m in (plain, templated, by_header)] == [  # type: ignore[attr-defined]
        "a@example.com",
        "c@example.com",
        "b@example.com",
    ]


def refuse_second(request: Any, context: Any) -> list[dict[str, Any]]:
    out = [accepted(m, i) for i, m in enumerate(request.json())]
    out[1] = {
        "ErrorCode": 406,
        "Message": "You tried to send to a recipient that has been marked as inactive.",
        "To": out[1]["To"],
    }
    return out


def three() -> list[EmailMessage]:
    return [EmailMessage("s", "b", to=[f"u{i}@example.com"]) for i in range(3)]


def test_refused_messages_fail_silently(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.post(API + "/email/batch", json=refuse_second)
    messages = three()
    assert mail.get_connection(fail_silently=True).send_messages(messages) == 2
    ok, refused, last = messages
    assert ok.postmark_message_id == "id-0"  # type: ignore[attr-defined]
    assert last.postmark_message_id == "id-2"  # type: ignore[attr-defined]
    assert refused.postmark_message_id is None  # type: ignore[attr-defined]
    error = refused.postmark_error  # type: ignore[attr-defined]
    assert isinstance(error, InactiveRecipientError)
    assert error.error_code == 406 and "inactive" in error.message
    assert refused.postmark_result.error_code == 406  # type: ignore[attr-defined]


def test_refused_messages_raise_after_the_others_went(
    mock_api: requests_mock_module.Mocker,
) -> None:
    mock_api.post(API + "/email/batch", json=refuse_second)
    messages = three()
    with pytest.raises(RefusedMessagesError) as info:
        mail.get_connection().send_messages(messages)
    assert info.value.sent == 2
    assert info.value.messages == [messages[1]]
    assert isinstance(info.value.__cause__, InactiveRecipientError)
    assert messages[2].postmark_message_id == "id-2"  # type: ignore[attr-defined]
    assert mock_api.call_count == 1


def test_a_failed_call(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.post(API + "/email/batch", status_code=401, json={"ErrorCode": 10, "Message": "Bad"})
    messages = three()
    assert mail.get_connection(fail_silently=True).send_messages(messages) == 0
    assert all(isinstance(m.postmark_error, InvalidTokenError) for m in messages)  # type: ignore[attr-defined]
    with pytest.raises(InvalidTokenError):
        mail.send_mail("s", "b", None, ["a@example.com"])
    assert mail.send_mail("s", "b", None, ["a@example.com"], fail_silently=True) == 0


def test_a_call_failing_after_earlier_chunks(mock_api: requests_mock_module.Mocker) -> None:
    def flaky(request: Any, context: Any) -> Any:
        # Chunks may be in flight at once: fail the second chunk by content, not arrival order.
        if request.json()[0]["To"] == "u500@example.com":
            context.status_code = 500
            return {"ErrorCode": 0, "Message": "boom"}
        return [accepted(m, i) for i, m in enumerate(request.json())]

    mock_api.post(API + "/email/batch", json=flaky)
    messages = [EmailMessage("s", "b", to=[f"u{i}@example.com"]) for i in range(600)]
    with pytest.raises(BatchSendError) as info:
        mail.get_connection().send_messages(messages)
    assert len(info.value.results) == 500
    assert messages[499].postmark_message_id == "id-499"  # type: ignore[attr-defined]
    assert messages[500].postmark_message_id is None  # type: ignore[attr-defined]
    assert messages[500].postmark_error is not None  # type: ignore[attr-defined]


def test_what_postmark_cannot_carry_is_refused_before_sending(
    api: requests_mock_module.Mocker,
) -> None:
    calendar = EmailMultiAlternatives("s", "b", to=["a@example.com"])
    calendar.attach_alternative("BEGIN:VCALENDAR", "text/calendar")
    with pytest.raises(ClientValidationError, match="text/calendar"):
        calendar.send()
    spoofed = EmailMessage("s", "b", to=["a@example.com"], headers={"To": "list@example.com"})
    too_many = EmailMessage("s", "b", to=[f"u{i}@example.com" for i in range(51)])
    good = EmailMessage("s", "b", to=["fine@example.com"])
    assert not api.called
    backend = mail.get_connection(fail_silently=True)
    assert backend.send_messages([calendar, spoofed, too_many, good]) == 1
    assert [m["To"] for m in sent_messages(api)] == ["fine@example.com"]
    for message in (calendar, spoofed, too_many):
        assert isinstance(message.postmark_error, ClientValidationError)  # type: ignore[attr-defined]
    same_to = EmailMessage("s", "b", to=["a@example.com"], headers={"To": "A@example.com"})
    assert same_to.send() == 1


def test_messages_without_recipients_are_skipped(api: requests_mock_module.Mocker) -> None:
    assert mail.get_connection().send_messages([EmailMessage("s", "b")]) == 0
    assert mail.get_connection().send_messages([]) == 0
    assert not api.called


def test_settings(api: requests_mock_module.Mocker) -> None:
    with override_settings(POSTMARK=None, POSTMARK_SERVER_TOKEN="top-level", POSTMARK_BASE_URL=API):
        mail.send_mail("s", "b", None, ["a@example.com"])
    assert api.last_request.headers["X-Postmark-Server-Token"] == "top-level"
    with (
        override_settings(POSTMARK={"SERVER_TOKEN": "a"}, POSTMARK_SERVER_TOKEN="b"),
        pytest.raises(ImproperlyConfigured, match="disagree"),
    ):
        mail.get_connection()
    with (
        override_settings(POSTMARK={"SERVER_TOKN": "a"}),
        pytest.raises(ImproperlyConfigured, match="SERVER_TOKN"),
    ):
        mail.get_connection()
    with (
        override_settings(POSTMARK={"TRACK_LINKS": "sometimes"}),
        pytest.raises(ImproperlyConfigured, match="TRACK_LINKS"),
    ):
        mail.get_connection()
    with override_settings(POSTMARK={}):
        with pytest.raises(ImproperlyConfigured, match="SERVER_TOKEN"):
            mail.send_mail("s", "b", None, ["a@example.com"])
        connection = mail.get_connection(server_token="from-kwargs", base_url=API)
        mail.send_mail("s", "b", None, ["a@example.com"], connection=connection)
    assert api.last_request.headers["X-Postmark-Server-Token"] == "from-kwargs"


def test_timeout_and_retries_settings_reach_the_client(api: requests_mock_module.Mocker) -> None:
    conf = {"SERVER_TOKEN": SERVER_TOKEN, "BASE_URL": API, "TIMEOUT": [2, 7], "RETRIES": 0}
    with override_settings(POSTMARK=conf):
        backend = mail.get_connection()
        assert isinstance(backend, EmailBackend)
        with backend:
            backend.send_messages([EmailMessage("s", "b", to=["a@example.com"])])
    assert backend.timeout == (2, 7)
    assert backend.retries == 0
    assert api.last_request.timeout == (2, 7)


def test_one_client_per_open_connection(api: requests_mock_module.Mocker) -> None:
    backend = mail.get_connection()
    assert isinstance(backend, EmailBackend)
    with backend:
        client = backend.client
        assert client is not None
        backend.send_messages([EmailMessage("s", "b", to=["a@example.com"])])
        backend.send_messages([EmailMessage("s", "b", to=["b@example.com"])])
        assert backend.client is client
    assert backend.client is None
    assert SERVER_TOKEN not in repr(backend)


def test_against_the_simulator(postmark_fake: FakePostmark) -> None:
    settings = {
        "SERVER_TOKEN": postmark_fake.server_token,
        "BASE_URL": postmark_fake.base_url,
        "TRACK_OPENS": True,
    }
    with override_settings(POSTMARK=settings, DEFAULT_FROM_EMAIL=postmark_fake.sender_email):
        good = EmailMultiAlternatives("Real HTTP", "text", to=["ada@example.com"])
        good.attach_alternative("<p>html</p>", "text/html")
        good.attach("a.txt", b"attached", "text/plain")
        good.tag = "sim"  # type: ignore[attr-defined]
        bad = EmailMessage("Bad", "text", to=["not an address"])
        assert mail.get_connection(fail_silently=True).send_messages([good, bad]) == 1
        with pytest.raises(RefusedMessagesError):
            mail.get_connection().send_messages([bad])
    (stored,) = postmark_fake.state.outbound
    assert stored["MessageID"] == good.postmark_message_id  # type: ignore[attr-defined]
    assert stored["Subject"] == "Real HTTP"
    assert stored["Tag"] == "sim"
    assert stored["TrackOpens"] is True
    assert stored["Attachments"] == ["a.txt"]
    assert bad.postmark_error.error_code == 300  # type: ignore[attr-defined]


def test_newlines_in_headers_are_refused_as_django_does(api: requests_mock_module.Mocker) -> None:
    from django.core.mail import BadHeaderError

    injected = EmailMessage("Hi\nBcc: victim@example.com", "b", to=["a@example.com"])
    with pytest.raises(BadHeaderError, match="newlines"):
        injected.send()
    with pytest.raises(ClientValidationError):
        EmailMessage("s", "b", to=["a@example.com"], headers={"X-A": "1\r\nX-B: 2"}).send()
    with pytest.raises(HeaderInjectionError):
        EmailMessage("s", "b", to=["a@example.com\nb@example.com"]).send()
    assert not api.called


def test_typed_message_classes(api: requests_mock_module.Mocker) -> None:
    message = PostmarkEmailMultiAlternatives(
        "Welcome",
        "text",
        to=["a@example.com"],
        tag="welcome",
        metadata={"user": 7},
        track_links=TrackLinks.HTML_ONLY,
        message_stream="outbound",
    )
    message.attach_alternative("<p>html</p>", "text/html")
    templated = PostmarkEmailMessage(
        to=["b@example.com"], template_id=12, template_model={"x": 1}, inline_css=False
    )
    assert mail.get_connection().send_messages([message, templated]) == 2
    plain, with_template = sent_messages(api)
    assert plain["Tag"] == "welcome" and plain["Metadata"] == {"user": "7"}
    assert plain["TrackLinks"] == "HtmlOnly" and plain["HtmlBody"] == "<p>html</p>"
    assert with_template["TemplateId"] == 12 and with_template["InlineCss"] is False
    assert message.postmark_message_id == "id-0"
    assert templated.postmark_result is not None and templated.postmark_result.ok
