"""client.email: send, batch, templates, batch with templates, bulk, bulk status."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from postmark_kit import (
    TEST_SERVER_TOKEN,
    Attachment,
    BatchSendError,
    BulkEmail,
    BulkRecipient,
    ClientValidationError,
    Email,
    Header,
    InvalidResponseError,
    SendResult,
    ServerClient,
    ServerError,
    TemplatedEmail,
    TrackLinks,
    UnprocessableEntityError,
)
from postmark_kit.models.email import BulkSendResult, BulkStatus
from tests.api._wire import NO_BODY, assert_request, only_request, sent_json
from tests.conftest import API, load_response

EST = timezone(timedelta(hours=-5))


def _minimal(to: Any = "receiver@example.com", **kw: Any) -> Email:
    return Email(from_email="sender@example.com", to=to, subject="Hi", text_body="Hello", **kw)


# --- send_email -------------------------------------------------------------------------------


def test_send_puts_every_field_on_the_wire_and_types_the_answer(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))
    email = Email(
        from_email="Sender <sender@example.com>",
        to="receiver@example.com",
        cc=["cc1@example.com", "cc2@example.com"],
        bcc="bcc@example.com",
        subject="Test",
        tag="Invitation",
        html_body="<b>Hello</b>",
        text_body="Hello",
        reply_to="reply@example.com",
        metadata={"color": "blue", "client-id": "12345"},
        headers={"CUSTOM-HEADER": "value"},
        track_opens=True,
        track_links=TrackLinks.HTML_ONLY,
        attachments=[Attachment.from_bytes("readme.txt", b"test content", "text/plain")],
        message_stream="outbound",
    )

    result = server_client.email.send(email)

    assert_request(
        only_request(mock_api),
        "POST",
        "/email",
        body={
            "From": "Sender <sender@example.com>",
            "To": "receiver@example.com",
            "Cc": "cc1@example.com, cc2@example.com",
            "Bcc": "bcc@example.com",
            "Subject": "Test",
            "Tag": "Invitation",
            "HtmlBody": "<b>Hello</b>",
            "TextBody": "Hello",
            "ReplyTo": "reply@example.com",
            "Metadata": {"color": "blue", "client-id": "12345"},
            "Headers": [{"Name": "CUSTOM-HEADER", "Value": "value"}],
            "TrackOpens": True,
            "TrackLinks": "HtmlOnly",
            "Attachments": [
                {
                    "Name": "readme.txt",
                    "Content": base64.b64encode(b"test content").decode(),
                    "ContentType": "text/plain",
                }
            ],
            "MessageStream": "outbound",
        },
    )
    assert isinstance(result, SendResult)
    assert result.to == "receiver@example.com"
    assert result.message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert result.error_code == 0
    assert result.message == "OK"
    assert result.ok is True
    assert result.submitted_at == datetime(2014, 2, 17, 7, 25, 1, 417864, tzinfo=EST)
    assert result.submitted_at is not None and result.submitted_at.utcoffset() is not None
    assert result.extra == {}


def test_send_leaves_unset_fields_out_no_nulls(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))

    server_client.email.send(_minimal())

    request = only_request(mock_api)
    assert_request(
        request,
        "POST",
        "/email",
        body={
            "From": "sender@example.com",
            "To": "receiver@example.com",
            "Subject": "Hi",
            "TextBody": "Hello",
        },
    )
    assert b"null" not in request.body


def test_send_joins_a_list_of_recipients(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))

    server_client.email.send(
        _minimal(
            to=["a@example.com", "B <b@example.com>"],
            cc=("c@example.com",),
            bcc=["d@example.com", "e@example.com"],
            reply_to=["r1@example.com", "r2@example.com"],
        )
    )

    body = sent_json(only_request(mock_api))
    assert body["To"] == "a@example.com, B <b@example.com>"
    assert body["Cc"] == "c@example.com"
    assert body["Bcc"] == "d@example.com, e@example.com"
    assert body["ReplyTo"] == "r1@example.com, r2@example.com"


def test_attachments_from_bytes_and_path_are_base64(mock_api, server_client, tmp_path) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))
    pdf = bytes(range(256)) * 3  # binary, not valid UTF-8
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    png = b"\x89PNG\r\n\x1a\n\x00\x00"

    server_client.email.send(
        _minimal(
            attachments=[
                Attachment.from_path(path),
                Attachment.from_bytes("logo.png", png, content_id="cid:logo.png"),
                Attachment.from_bytes("blob", b"\x00\x01"),
                Attachment.from_path(Path(path), "application/x-custom", name="renamed.bin"),
            ]
        )
    )

    attachments = sent_json(only_request(mock_api))["Attachments"]
    assert attachments == [
        {
            "Name": "report.pdf",
            "Content": base64.b64encode(pdf).decode("ascii"),
            "ContentType": "application/pdf",
        },
        {
            "Name": "logo.png",
            "Content": base64.b64encode(png).decode("ascii"),
            "ContentType": "image/png",
            "ContentID": "cid:logo.png",
        },
        {"Name": "blob", "Content": "AAE=", "ContentType": "application/octet-stream"},
        {
            "Name": "renamed.bin",
            "Content": base64.b64encode(pdf).decode("ascii"),
            "ContentType": "application/x-custom",
        },
    ]
    assert base64.b64decode(attachments[0]["Content"]) == pdf
    assert Attachment.from_path(path).decode() == pdf


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Custom": "1", "List-Unsubscribe": "<mailto:u@example.com>"},
        [
            Header(name="X-Custom", value="1"),
            Header(name="List-Unsubscribe", value="<mailto:u@example.com>"),
        ],
        [("X-Custom", "1"), ("List-Unsubscribe", "<mailto:u@example.com>")],
    ],
    ids=["mapping", "Header-list", "tuple-list"],
)
def test_headers_become_name_value_pairs(mock_api, server_client, headers) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))

    server_client.email.send(_minimal(headers=headers))

    assert sent_json(only_request(mock_api))["Headers"] == [
        {"Name": "X-Custom", "Value": "1"},
        {"Name": "List-Unsubscribe", "Value": "<mailto:u@example.com>"},
    ]


def test_more_than_50_recipients_is_refused_before_sending(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))
    to = [f"to{i}@example.com" for i in range(30)]
    cc = [f"cc{i}@example.com" for i in range(15)]
    bcc = [f"bcc{i}@example.com" for i in range(6)]

    with pytest.raises(ClientValidationError, match="50 recipients"):
        server_client.email.send(_minimal(to=to, cc=cc, bcc=bcc))
    with pytest.raises(ClientValidationError):
        server_client.email.send(_minimal(to=",".join(to + cc + bcc)))
    assert mock_api.call_count == 0

    server_client.email.send(_minimal(to=to, cc=cc, bcc=bcc[:5]))  # exactly 50 is fine
    assert mock_api.call_count == 1


def test_postmark_api_test_token_is_sent_as_is(mock_api) -> None:
    mock_api.post(f"{API}/email", json=load_response("send_email"))

    with ServerClient(TEST_SERVER_TOKEN, base_url=API) as client:
        client.email.send(_minimal())

    request = only_request(mock_api)
    assert request.headers["X-Postmark-Server-Token"] == "POSTMARK_API_TEST"
    assert_request(request, "POST", "/email", body=sent_json(request), token="POSTMARK_API_TEST")


# --- send_email_with_template ----------------------------------------------------------------


def test_send_with_template_by_alias(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/withTemplate", json=load_response("send_email_with_template"))

    result = server_client.email.send_with_template(
        TemplatedEmail(
            template_alias="welcome",
            template_model={"user": {"name": "Ann"}, "items": [1, 2], "vip": False},
            inline_css=True,
            from_email="sender@example.com",
            to=["a@example.com", "b@example.com"],
            tag="onboarding",
            headers={"X-A": "b"},
            metadata={"k": "v"},
            track_opens=False,
            track_links="None",
            message_stream="outbound",
        )
    )

    assert_request(
        only_request(mock_api),
        "POST",
        "/email/withTemplate",
        body={
            "TemplateAlias": "welcome",
            "TemplateModel": {"user": {"name": "Ann"}, "items": [1, 2], "vip": False},
            "InlineCss": True,
            "From": "sender@example.com",
            "To": "a@example.com, b@example.com",
            "Tag": "onboarding",
            "Headers": [{"Name": "X-A", "Value": "b"}],
            "Metadata": {"k": "v"},
            "TrackOpens": False,
            "TrackLinks": "None",
            "MessageStream": "outbound",
        },
    )
    assert result.ok
    assert result.message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert result.submitted_at == datetime(2014, 2, 17, 12, 25, 1, 417864, tzinfo=UTC)
    assert result.extra == {}


def test_send_with_template_by_id_sends_template_id_spelled_as_postmark_does(
    mock_api, server_client
) -> None:
    mock_api.post(f"{API}/email/withTemplate", json=load_response("send_email_with_template"))

    server_client.email.send_with_template(
        TemplatedEmail(
            template_id=1234, template_model={}, from_email="s@example.com", to="r@example.com"
        )
    )

    assert sent_json(only_request(mock_api)) == {
        "TemplateId": 1234,
        "TemplateModel": {},
        "From": "s@example.com",
        "To": "r@example.com",
    }


def test_send_with_template_needs_an_id_or_alias(mock_api, server_client) -> None:
    with pytest.raises(ClientValidationError, match="template_id or template_alias"):
        server_client.email.send_with_template(
            TemplatedEmail(template_model={}, from_email="s@example.com", to="r@example.com")
        )
    assert mock_api.call_count == 0


# --- send_email_batch ------------------------------------------------------------------------


def test_batch_sends_an_array_and_reports_per_message_failures(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=load_response("send_email_batch"))
    emails = [_minimal("receiver1@example.com"), _minimal("example@example.com", tag="t")]

    results = server_client.email.send_batch(emails)

    assert_request(
        only_request(mock_api),
        "POST",
        "/email/batch",
        body=[
            {
                "From": "sender@example.com",
                "To": "receiver1@example.com",
                "Subject": "Hi",
                "TextBody": "Hello",
            },
            {
                "From": "sender@example.com",
                "To": "example@example.com",
                "Subject": "Hi",
                "TextBody": "Hello",
                "Tag": "t",
            },
        ],
    )
    assert [type(r) for r in results] == [SendResult, SendResult]
    ok, failed = results
    assert ok.ok and ok.error_code == 0
    assert ok.message_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert ok.to == "receiver1@example.com"
    assert ok.submitted_at == datetime(2010, 11, 26, 12, 1, 5, 179474, tzinfo=EST)
    assert not failed.ok
    assert failed.error_code == 406
    assert failed.message is not None and failed.message.startswith(
        "You tried to send to a recipient"
    )
    assert failed.message_id is None and failed.submitted_at is None
    assert ok.extra == {} and failed.extra == {}


def _echo_batch(request: Any, context: Any) -> list[dict[str, Any]]:
    """Postmark's batch answer: one result per message, in order; 'bad' addresses refused."""
    out = []
    for message in json.loads(request.body):
        if message["To"].startswith("bad"):
            out.append({"ErrorCode": 406, "Message": f"inactive: {message['To']}"})
        else:
            out.append(
                {
                    "ErrorCode": 0,
                    "Message": "OK",
                    "MessageID": f"id-{message['To']}",
                    "SubmittedAt": "2024-01-02T03:04:05.1234567-05:00",
                    "To": message["To"],
                }
            )
    return out


def test_batch_of_1203_makes_three_calls_and_keeps_input_order(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=_echo_batch)
    addresses = [f"{'bad' if i % 100 == 7 else 'user'}{i}@example.com" for i in range(1203)]

    results = server_client.email.send_batch((_minimal(a) for a in addresses), concurrency=1)

    sizes = [len(sent_json(r)) for r in mock_api.request_history]
    assert sizes == [500, 500, 203]
    for request in mock_api.request_history:
        assert_request(request, "POST", "/email/batch", body=sent_json(request))
    sent_to = [m["To"] for r in mock_api.request_history for m in sent_json(r)]
    assert sent_to == addresses
    assert len(results) == 1203
    for address, result in zip(addresses, results, strict=True):
        if address.startswith("bad"):
            assert not result.ok
            assert result.error_code == 406
            assert result.message == f"inactive: {address}"
        else:
            assert result.ok
            assert result.to == address
            assert result.message_id == f"id-{address}"
    assert sum(not r.ok for r in results) == 12


def test_batch_chunk_size_is_honoured_and_checked(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=_echo_batch)

    results = server_client.email.send_batch(
        [_minimal(f"u{i}@example.com") for i in range(5)], chunk_size=2
    )

    # Chunks go out concurrently: in any order, results in input order.
    assert sorted(len(sent_json(r)) for r in mock_api.request_history) == [1, 2, 2]
    assert [r.to for r in results] == [f"u{i}@example.com" for i in range(5)]
    for bad in (0, 501):
        with pytest.raises(ClientValidationError, match="chunk_size"):
            server_client.email.send_batch([_minimal()], chunk_size=bad)
    assert mock_api.call_count == 3


def test_empty_batch_sends_nothing(mock_api, server_client) -> None:
    assert server_client.email.send_batch([]) == []
    assert server_client.email.send_batch(iter(())) == []
    assert mock_api.call_count == 0


def test_batch_failing_on_second_chunk_carries_first_chunk_results(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/email/batch",
        [
            {"json": _echo_batch},
            {"status_code": 500, "json": {"ErrorCode": 0, "Message": "Internal Server Error"}},
        ],
    )
    addresses = [f"user{i}@example.com" for i in range(700)]

    with pytest.raises(BatchSendError) as caught:
        server_client.email.send_batch([_minimal(a) for a in addresses], concurrency=1)

    # A POST that got a 500 may have been acted on: it is never repeated.
    assert mock_api.call_count == 2
    error = caught.value
    assert len(error.results) == 500
    assert [r.to for r in error.results] == addresses[:500]
    assert all(r.ok for r in error.results)
    assert isinstance(error.error, ServerError)
    assert error.__cause__ is error.error
    assert error.error.status_code == 500


def test_batch_failing_on_first_chunk_raises_the_api_error_itself(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/email/batch",
        status_code=422,
        json={"ErrorCode": 410, "Message": "Too many batch messages"},
    )

    with pytest.raises(UnprocessableEntityError) as caught:
        server_client.email.send_batch([_minimal()])

    assert caught.value.status_code == 422
    assert caught.value.error_code == 410
    assert caught.value.message == "Too many batch messages"


def test_invalid_message_in_a_list_is_refused_before_any_call(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=_echo_batch)
    emails = [_minimal(f"u{i}@example.com") for i in range(600)]
    emails[550] = _minimal([f"r{i}@example.com" for i in range(51)])

    with pytest.raises(ClientValidationError, match="50 recipients"):
        server_client.email.send_batch(emails)
    assert mock_api.call_count == 0


def test_invalid_message_in_a_lazy_iterable_after_a_sent_chunk_keeps_results(
    mock_api, server_client
) -> None:
    mock_api.post(f"{API}/email/batch", json=_echo_batch)

    def emails():
        for i in range(600):
            yield _minimal(
                [f"r{j}@example.com" for j in range(51)] if i == 550 else f"u{i}@example.com"
            )

    with pytest.raises(BatchSendError) as caught:
        server_client.email.send_batch(emails())

    assert mock_api.call_count == 1
    assert len(caught.value.results) == 500
    assert isinstance(caught.value.error, ClientValidationError)


def test_batch_answer_that_does_not_match_the_chunk_is_an_error(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=load_response("send_email_batch"))  # 2 results

    with pytest.raises(InvalidResponseError, match="expected 3 results, got 2"):
        server_client.email.send_batch([_minimal(), _minimal(), _minimal()])


@pytest.mark.slow  # big payloads: seven 9 MB messages
def test_batch_is_split_under_the_50_mb_limit(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=_echo_batch)
    big = "x" * (9 * 1024 * 1024)  # a large but allowed (< 10 MB) message
    emails = [_minimal(f"u{i}@example.com", html_body=big) for i in range(7)]

    results = server_client.email.send_batch(emails)

    bodies = [r.body for r in mock_api.request_history]
    assert sorted(len(json.loads(b)) for b in bodies) == [2, 5]
    assert all(len(b) <= 50 * 1024 * 1024 for b in bodies)
    assert [r.to for r in results] == [f"u{i}@example.com" for i in range(7)]


# --- send_email_batch_with_templates ---------------------------------------------------------


def test_batch_with_templates_wraps_messages(mock_api, server_client) -> None:
    mock_api.post(
        f"{API}/email/batchWithTemplates", json=load_response("send_email_batch_with_templates")
    )
    emails = [
        TemplatedEmail(
            template_id=1,
            template_model={"n": 1},
            from_email="s@example.com",
            to="receiver1@example.com",
        ),
        TemplatedEmail(
            template_alias="welcome",
            template_model={"n": 2},
            from_email="s@example.com",
            to="receiver2@example.com",
            inline_css=False,
        ),
    ]

    results = server_client.email.send_batch_with_templates(emails)

    assert_request(
        only_request(mock_api),
        "POST",
        "/email/batchWithTemplates",
        body={
            "Messages": [
                {
                    "TemplateId": 1,
                    "TemplateModel": {"n": 1},
                    "From": "s@example.com",
                    "To": "receiver1@example.com",
                },
                {
                    "TemplateAlias": "welcome",
                    "TemplateModel": {"n": 2},
                    "From": "s@example.com",
                    "To": "receiver2@example.com",
                    "InlineCss": False,
                },
            ]
        },
    )
    assert [r.to for r in results] == ["receiver1@example.com", "receiver2@example.com"]
    assert [r.message_id for r in results] == [
        "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        "e2ecbbfc-fe12-463d-b933-9fe22915106d",
    ]
    assert all(r.ok and r.extra == {} for r in results)
    assert results[1].submitted_at == datetime(2010, 11, 26, 12, 1, 5, 179474, tzinfo=EST)


def test_batch_with_templates_is_chunked_too(mock_api, server_client) -> None:
    def echo(request: Any, context: Any) -> list[dict[str, Any]]:
        return [
            {"ErrorCode": 0, "Message": "OK", "To": m["To"]} for m in sent_json(request)["Messages"]
        ]

    mock_api.post(f"{API}/email/batchWithTemplates", json=echo)
    emails = [
        TemplatedEmail(
            template_alias="a",
            template_model={},
            from_email="s@example.com",
            to=f"u{i}@example.com",
        )
        for i in range(501)
    ]

    results = server_client.email.send_batch_with_templates(emails)

    assert sorted(len(sent_json(r)["Messages"]) for r in mock_api.request_history) == [1, 500]
    assert [r.to for r in results] == [f"u{i}@example.com" for i in range(501)]


def test_batch_with_templates_needs_an_id_or_alias_on_every_message(
    mock_api, server_client
) -> None:
    emails = [
        TemplatedEmail(
            template_alias="a", template_model={}, from_email="s@example.com", to="a@example.com"
        ),
        TemplatedEmail(template_model={}, from_email="s@example.com", to="b@example.com"),
    ]
    with pytest.raises(ClientValidationError, match="template_id or template_alias"):
        server_client.email.send_batch_with_templates(emails)
    assert mock_api.call_count == 0


# --- bulk ------------------------------------------------------------------------------------


def test_send_bulk(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/bulk", json=load_response("send_bulk_email"))
    bulk = BulkEmail(
        from_email="sender@example.com",
        subject="Hello {{FirstName}}",
        html_body="<p>Hi {{FirstName}}</p>",
        text_body="Hi {{FirstName}}",
        message_stream="broadcast",
        tag="newsletter",
        track_opens=True,
        track_links=TrackLinks.HTML_AND_TEXT,
        metadata={"campaign": "march"},
        headers={"X-Campaign": "march"},
        messages=[
            BulkRecipient("a@example.com", template_model={"FirstName": "Ann"}),
            BulkRecipient(
                ["b@example.com", "c@example.com"],
                cc="d@example.com",
                template_model={"FirstName": "Bob"},
                metadata={"id": "2"},
                headers={"X-Id": "2"},
            ),
        ],
    )

    result = server_client.email.send_bulk(bulk)

    assert_request(
        only_request(mock_api),
        "POST",
        "/email/bulk",
        body={
            "From": "sender@example.com",
            "Subject": "Hello {{FirstName}}",
            "HtmlBody": "<p>Hi {{FirstName}}</p>",
            "TextBody": "Hi {{FirstName}}",
            "MessageStream": "broadcast",
            "Tag": "newsletter",
            "TrackOpens": True,
            "TrackLinks": "HtmlAndText",
            "Metadata": {"campaign": "march"},
            "Headers": [{"Name": "X-Campaign", "Value": "march"}],
            "Messages": [
                {"To": "a@example.com", "TemplateModel": {"FirstName": "Ann"}},
                {
                    "To": "b@example.com, c@example.com",
                    "Cc": "d@example.com",
                    "TemplateModel": {"FirstName": "Bob"},
                    "Metadata": {"id": "2"},
                    "Headers": [{"Name": "X-Id", "Value": "2"}],
                },
            ],
        },
    )
    assert isinstance(result, BulkSendResult)
    assert result.id == "f24af63c-533d-4b7a-ad65-4a7b3202d3a7"
    assert result.status == "Accepted"
    assert result.submitted_at == datetime(2024, 3, 17, 7, 25, 1, 417864, tzinfo=EST)
    assert result.extra == {}


def test_send_bulk_with_template_id(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/bulk", json=load_response("send_bulk_email"))

    server_client.email.send_bulk(
        BulkEmail(
            from_email="s@example.com",
            template_id=77,
            inline_css=True,
            messages=[BulkRecipient("a@example.com", template_model={"x": 1})],
        )
    )

    assert sent_json(only_request(mock_api)) == {
        "From": "s@example.com",
        "TemplateId": 77,
        "InlineCss": True,
        "Messages": [{"To": "a@example.com", "TemplateModel": {"x": 1}}],
    }


def test_send_bulk_without_recipients_is_refused(mock_api, server_client) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        server_client.email.send_bulk(BulkEmail(from_email="s@example.com", subject="x"))
    assert mock_api.call_count == 0


def test_get_bulk_status(mock_api, server_client) -> None:
    bulk_id = "f24af63c-533d-4b7a-ad65-4a7b3202d3a7"
    mock_api.get(f"{API}/email/bulk/{bulk_id}", json=load_response("get_bulk_email_status"))

    status = server_client.email.get_bulk_status(bulk_id)

    assert_request(only_request(mock_api), "GET", f"/email/bulk/{bulk_id}", body=NO_BODY)
    assert isinstance(status, BulkStatus)
    assert status.id == bulk_id
    assert status.total_messages == 2
    assert status.percentage_completed == 1.0
    assert isinstance(status.percentage_completed, float)
    assert status.status == "Completed"
    assert status.subject == "This is a bulk email for {{FirstName}}"
    assert status.submitted_at == datetime(2024, 3, 17, 12, 25, 1, 417864, tzinfo=UTC)
    assert status.extra == {}


def test_get_bulk_status_escapes_the_id(mock_api, server_client) -> None:
    mock_api.get(f"{API}/email/bulk/a%2Fb%3Fc", json=load_response("get_bulk_email_status"))

    server_client.email.get_bulk_status("a/b?c")

    assert_request(only_request(mock_api), "GET", "/email/bulk/a%2Fb%3Fc")


def test_metadata_values_are_checked_in_batches_and_str_subclasses_pass(
    mock_api, server_client
) -> None:
    class Label(str):
        pass

    good = [_minimal(metadata={"a": "1", "b": Label("2")}), _minimal(metadata={})]
    bad = [*good, _minimal(metadata={"z": "ok", "n": 1, "m": None})]  # type: ignore[dict-item]
    with pytest.raises(ClientValidationError, match=r"not for 'm', 'n'"):
        server_client.email.send_batch(bad)
    assert mock_api.call_count == 0
    mock_api.post(f"{API}/email/batch", json=[load_response("send_email")] * 2)
    assert len(server_client.email.send_batch(good)) == 2
