"""Batch checks in C-level passes decide exactly what the per-message check decides.

``_check_all`` first asks ``_plainly_valid`` whether a whole list certainly
passes (plain emails, string metadata, no comma in an address field); when it
cannot say, every message goes through ``_check`` in input order.  So a batch
must refuse exactly the messages ``send`` refuses, with the first bad
message's error, and ``_size_hints`` must add up what ``_size_hint`` gives.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from postmark_kit import (
    Attachment,
    BatchSendError,
    ClientValidationError,
    Email,
    PostmarkError,
    ServerError,
    TemplatedEmail,
)
from postmark_kit.api.email import _check, _check_all, _plainly_valid, _size_hint, _size_hints
from tests.conftest import API


class _Label(str):
    pass


class _MyEmail(Email):
    pass


def _email(to: Any = "u@example.com", **kw: Any) -> Email:
    return Email(from_email="s@example.com", to=to, subject="Hi", text_body="Hello", **kw)


def _templated(**kw: Any) -> TemplatedEmail:
    return TemplatedEmail(from_email="s@example.com", to="u@example.com", **kw)


_51 = [f"r{i}@example.com" for i in range(51)]

#: Messages ``send`` refuses.
BAD: list[Email | TemplatedEmail] = [
    _email(_51),
    _email("a@example.com", cc=_51[:30], bcc=_51[:21]),
    _email(metadata={"n": 1}),  # type: ignore[dict-item]
    _email(metadata={"a": "x", "m": None}),  # type: ignore[dict-item]
    _templated(template_model={}),
    _templated(template_id=None, template_alias=None),
]

#: Messages ``send`` accepts though the C-level passes cannot tell.
UNUSUAL: list[Email | TemplatedEmail] = [
    _email('"Doe, Jane" <j@example.com>'),
    _email(", ".join(_51[:50])),
    _email(metadata={"a": _Label("x")}),
    _email(metadata={}),
    _templated(template_id=0),
    _templated(template_alias=""),
    _MyEmail(from_email="s@example.com", to="a@example.com, b@example.com"),
    _email(attachments=[Attachment.from_bytes("a.txt", b"x" * 10, "text/plain")]),
]


def _error(message: Email | TemplatedEmail) -> str | None:
    try:
        _check(message)
    except ClientValidationError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("bad", BAD, ids=range(len(BAD)))
@pytest.mark.parametrize("where", [0, 7, 499])
def test_a_bad_message_anywhere_is_refused_with_its_own_error(bad, where) -> None:
    batch: list[Email | TemplatedEmail] = (
        [_templated(template_alias="t") for _ in range(500)]
        if isinstance(bad, TemplatedEmail)
        else [_email(f"u{i}@example.com", metadata={"k": "v"}) for i in range(500)]
    )
    batch[where] = bad
    expected = _error(bad)
    assert expected is not None
    assert not _plainly_valid(batch)
    with pytest.raises(ClientValidationError) as caught:
        _check_all(batch)
    assert str(caught.value) == expected


def test_the_first_bad_message_in_input_order_is_reported() -> None:
    batch = [_email() for _ in range(10)]
    batch[3], batch[6] = BAD[2], BAD[0]
    with pytest.raises(ClientValidationError, match="metadata"):
        _check_all(batch)


@pytest.mark.parametrize("unusual", UNUSUAL, ids=range(len(UNUSUAL)))
def test_unusual_but_valid_messages_pass(unusual) -> None:
    assert _error(unusual) is None
    _check_all([_email(), unusual, _email()])


def test_a_plain_batch_is_known_valid_without_looking_at_each_message() -> None:
    assert _plainly_valid([_email(f"u{i}@example.com", metadata={"a": "b"}) for i in range(3)])
    assert _plainly_valid([_templated(template_id=5), _templated(template_alias="a")])
    # Mixed kinds, subclasses, commas: each message is looked at (not refused).
    assert not _plainly_valid([_email(), _templated(template_id=5)])
    assert not _plainly_valid([_MyEmail(from_email="s@example.com")])
    assert not _plainly_valid([_email("a@example.com, b@example.com")])


def test_not_an_email_fails_as_the_per_message_check_does() -> None:
    with pytest.raises(AttributeError):
        _check({"To": "a@example.com"})  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        _check_all([_email(), {"To": "a@example.com"}])  # type: ignore[list-item]


def test_send_batch_refuses_what_send_refuses_before_any_call(mock_api, server_client) -> None:
    mock_api.post(f"{API}/email/batch", json=[])
    for bad in BAD:
        if isinstance(bad, TemplatedEmail):
            batch_t = [_templated(template_alias="t"), bad]
            with pytest.raises(ClientValidationError, match=_error(bad) or "?"):
                server_client.email.send_batch_with_templates(batch_t)
        else:
            with pytest.raises(ClientValidationError) as caught:
                server_client.email.send_batch([_email(), bad])
            assert str(caught.value) == _error(bad)
    assert mock_api.call_count == 0


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_lazy_iterable_sends_every_chunk_before_its_first_bad_message(
    mock_api, server_client, concurrency
) -> None:
    """Chunks encoded ahead of the calls in flight still go out when a later one is bad."""
    from tests.api.test_email import _echo_batch

    mock_api.post(f"{API}/email/batch", json=_echo_batch)
    read: list[int] = []

    def emails():
        for i in range(100):
            read.append(i)
            yield _email(_51) if i == 75 else _email(f"u{i}@example.com")

    with pytest.raises(BatchSendError) as caught:
        server_client.email.send_batch(emails(), chunk_size=10, concurrency=concurrency)
    err = caught.value
    assert isinstance(err.error, ClientValidationError)
    assert mock_api.call_count == 7
    assert [r.to for r in err.results] == [f"u{i}@example.com" for i in range(70)]
    assert [(c.start, c.stop) for c in err.sent] == [(i, i + 10) for i in range(0, 70, 10)]
    assert [(c.start, c.stop) for c in err.not_sent] == [(70, None)]
    assert max(read) == 79  # nothing read past the bad message's chunk


def test_a_failed_call_leaves_the_chunks_encoded_ahead_unsent(mock_api, server_client) -> None:
    from tests.api.test_email import _echo_batch

    calls = 0

    def answer(request: Any, context: Any) -> Any:
        nonlocal calls
        calls += 1
        if json.loads(request.body)[0]["To"] == "u0@example.com":  # the first chunk fails
            context.status_code = 500
            return {"ErrorCode": 0, "Message": "boom"}
        return _echo_batch(request, context)

    mock_api.post(f"{API}/email/batch", json=answer)
    batch = [_email(f"u{i}@example.com") for i in range(100)]
    with pytest.raises(PostmarkError) as caught:
        server_client.email.send_batch(batch, chunk_size=10, concurrency=2)
    if not isinstance(caught.value, BatchSendError):  # it failed before the second call
        assert isinstance(caught.value, ServerError) and mock_api.call_count == 1
        return
    err = caught.value
    covered = sorted(
        [(c.start, c.stop) for c in err.sent + err.failed]
        + [(c.start, c.stop or 100) for c in err.not_sent]
    )
    assert covered[0][0] == 0 and covered[-1][1] == 100
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert [(c.start, c.stop) for c in err.failed] == [(0, 10)]
    assert mock_api.call_count == calls == len(err.sent) + 1  # nothing posted twice or lost


def test_size_hints_add_up_the_per_message_hints_examples() -> None:
    att = [Attachment(name="a", content="xyz"), Attachment(name="b", content=None)]
    cases: list[list[Email | TemplatedEmail]] = [
        [],
        [Email(html_body="<p>hi</p>", text_body="hi"), Email(), Email(attachments=att)],
        [Email(text_body="x"), _templated(template_alias="t", attachments=att)],
        [_MyEmail(html_body="abc")],
    ]
    for messages in cases:
        assert _size_hints(messages) == sum(map(_size_hint, messages))
