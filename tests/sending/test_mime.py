"""Email <-> email.message.EmailMessage, both ways, and the CLI's .eml sending on top."""

from __future__ import annotations

import email
from email import policy
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser

from postmark_kit import Attachment, Email, Header

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def reparse(msg: email.message.EmailMessage) -> email.message.EmailMessage:
    """What a mail server would get: the bytes, parsed again."""
    return BytesParser(policy=policy.default).parsebytes(msg.as_bytes())


def full_email() -> Email:
    return Email(
        from_email="Zoë Ñúñez <zoe@example.com>",
        to=["Ada <ada@example.com>", '"Doe, John" <john@example.com>'],
        cc="Ćirić <cc@example.com>",
        bcc="hidden@example.com",
        reply_to="replies@example.com",
        subject="Grüße aus Köln: 日本語 subject",
        text_body="Hello ünïcode\n\nSecond paragraph\n",
        html_body='<p>Hello</p><img src="cid:logo.png">\n',
        tag="welcome",
        metadata={"user-id": "42", "plan": "pro"},
        message_stream="outbound",
        track_opens=True,
        track_links="HtmlOnly",
        headers={
            "X-Campaign": "spring \u2013 sale \u2713",
            "List-Unsubscribe": "<mailto:u@example.com>",
        },
        attachments=[
            Attachment.from_bytes("logo.png", PNG, content_id="cid:logo.png"),
            Attachment.from_bytes("report.pdf", b"%PDF-1.4 binary \x00\xff", "application/pdf"),
            Attachment.from_bytes("notes.txt", "naïve café\n".encode(), "text/plain"),
            Attachment.from_bytes("résumé.csv", b"a,b\n1,2\n", "text/csv"),
        ],
    )


def test_round_trip_email_to_message_and_back() -> None:
    original = full_email()
    back = Email.from_message(reparse(original.to_message()))
    assert back == original


def test_to_message_structure_inline_image_is_related_to_the_html() -> None:
    msg = reparse(full_email().to_message())
    assert msg.get_content_type() == "multipart/mixed"
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo.png>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == PNG
    assert [a.get_filename() for a in msg.iter_attachments()] == [
        "report.pdf",
        "notes.txt",
        "résumé.csv",
    ]
    # Non-ASCII headers are RFC 2047-encoded on the wire, decoded when read back.
    raw = full_email().to_message().as_bytes()
    assert "Grüße".encode() not in raw.split(b"\n\n", 1)[0]
    assert str(msg["Subject"]) == "Grüße aus Köln: 日本語 subject"
    assert msg["X-PM-Tag"] == "welcome"
    assert msg["X-PM-Metadata-user-id"] == "42"
    assert msg["X-PM-TrackOpens"] == "true"


def test_from_a_message_built_with_the_legacy_mime_classes() -> None:
    root = MIMEMultipart("mixed")
    root["From"] = "=?utf-8?q?Zo=C3=AB?= <zoe@example.com>"
    root["To"] = "ada@example.com"
    root["Subject"] = "=?utf-8?b?R3LDvMOfZQ==?="
    root["X-PM-Tag"] = "legacy"
    related = MIMEMultipart("related")
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText("plain body", "plain", "utf-8"))
    alternative.attach(MIMEText('<img src="cid:chart">', "html", "utf-8"))
    related.attach(alternative)
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<chart>")
    image.add_header("Content-Disposition", "inline", filename="chart.png")
    related.attach(image)
    root.attach(related)
    attached = MIMEText("attached message body")
    attached["Subject"] = "inner"
    wrapper = email.message.Message()
    wrapper.set_type("message/rfc822")
    wrapper.attach(attached)
    root.attach(wrapper)

    result = Email.from_message(root)
    assert result.from_email == "Zoë <zoe@example.com>"
    assert result.subject == "Grüße"
    assert result.text_body == "plain body"
    assert result.html_body == '<img src="cid:chart">'
    assert result.tag == "legacy"
    assert result.headers is None
    assert result.attachments is not None
    chart, inner = result.attachments
    assert (chart.name, chart.content_type, chart.content_id) == (
        "chart.png",
        "image/png",
        "cid:chart",
    )
    assert chart.decode() == PNG
    assert inner.content_type == "message/rfc822"
    assert b"attached message body" in inner.decode()


def test_message_to_email_to_message_keeps_what_postmark_can_carry() -> None:
    msg = email.message.EmailMessage()
    msg["From"] = "Søren <s@example.com>"
    msg["To"] = "a@example.com, b@example.com"
    msg["Subject"] = "Ωmega"
    msg["X-Custom"] = "✓ yes"
    msg.set_content("text\n")
    msg.add_alternative("<b>html</b>\n", subtype="html")
    msg.add_attachment(
        b"\x00\x01", maintype="application", subtype="octet-stream", filename="a.bin"
    )
    again = reparse(Email.from_message(reparse(msg)).to_message())
    for name in ("From", "To", "Subject", "X-Custom"):
        assert str(again[name]) == str(msg[name])
    assert again.get_body(("plain",)).get_content() == "text\n"  # type: ignore[union-attr]
    assert again.get_body(("html",)).get_content() == "<b>html</b>\n"  # type: ignore[union-attr]
    (att,) = again.iter_attachments()
    assert att.get_content() == b"\x00\x01"
    assert att.get_filename() == "a.bin"


def test_email_without_body_or_text_only() -> None:
    only_html = Email(from_email="a@example.com", to="b@example.com", html_body="<p>x</p>\n")
    assert Email.from_message(reparse(only_html.to_message())) == only_html
    bare = Email(from_email="a@example.com", to="b@example.com", text_body="x\n")
    msg = bare.to_message()
    assert msg.get_content_type() == "text/plain"
    assert Email.from_message(reparse(msg)) == bare
    inline_without_html = Email(
        text_body="t\n",
        attachments=[Attachment.from_bytes("i.png", PNG, content_id="cid:i.png")],
    )
    assert Email.from_message(reparse(inline_without_html.to_message())) == inline_without_html


def test_header_objects_keep_order_and_duplicates() -> None:
    e = Email(
        text_body="x\n", headers=[Header(name="X-A", value="1"), Header(name="X-A", value="2")]
    )
    assert Email.from_message(reparse(e.to_message())).headers == e.headers


def test_legacy_message_with_raw_non_ascii_headers() -> None:
    # compat32 writes "Zoë <z@x>" as one encoded word: still read as a name and an address.
    legacy = MIMEText("hé", "plain", "utf-8")
    legacy["From"] = "Zoë <zoe@example.com>"
    legacy["To"] = 'ada@example.com, "Doe, John" <john@example.com>'
    legacy["Subject"] = "Grüße"
    legacy["X-Note"] = "ünïcode"
    result = Email.from_message(legacy)
    assert result.from_email == "Zoë <zoe@example.com>"
    assert result.to == 'ada@example.com, "Doe, John" <john@example.com>'
    assert result.subject == "Grüße"
    assert result.text_body == "hé"
    assert result.headers == [Header(name="X-Note", value="ünïcode")]
