"""Batch bodies: chunk-at-once encoding cuts exactly where the per-message greedy split does.

``_bodies`` (the one chunking path of every batch send) encodes a whole chunk
in one call while it fits and finds a size cut message by message; whatever
the sizes, the bodies must be byte-for-byte those of the plain greedy split
(checked on examples here, fuzzed with Hypothesis in test_email_batch_bodies_fuzz.py).
"""

from __future__ import annotations

import pytest

from postmark_kit import Attachment, ClientValidationError, Email, TemplatedEmail
from postmark_kit.api.email import _bodies, _encode, _size_hint
from postmark_kit.models.email import _count_addresses


def _email(i: int, size: int) -> Email:
    return Email(from_email="a@example.com", to=f"u{i}@example.com", text_body="é" * size)


def _greedy(emails: list[Email], chunk_size: int, max_bytes: int) -> list[tuple[bytes, int]]:
    """The reference: every message encoded on its own, then split greedily."""
    chunks: list[list[bytes]] = []
    chunk: list[bytes] = []
    size = 0
    for item in (_encode(e) for e in emails):
        if chunk and (len(chunk) >= chunk_size or size + len(item) + 1 > max_bytes):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        chunks.append(chunk)
    return [(b"[" + b",".join(c) + b"]", len(c)) for c in chunks]


def test_size_hint_is_a_lower_bound_of_the_encoded_size() -> None:
    email = Email(
        from_email="a@example.com",
        to="b@example.com",
        html_body="<p>é</p>" * 10,
        text_body='"q"\n' * 10,
        attachments=[Attachment.from_bytes("a.bin", b"x" * 300, "application/octet-stream")],
    )
    assert 0 < _size_hint(email) <= len(_encode(email))
    templated = TemplatedEmail(from_email="a@example.com", to="b@example.com", template_id=1)
    assert _size_hint(templated) == 0


def test_a_message_over_the_limit_is_refused() -> None:
    emails = [_email(0, 10), _email(1, 5000), _email(2, 10)]
    with pytest.raises(ClientValidationError, match="over the batch limit"):
        list(_bodies(emails, 500, 2000))
    with pytest.raises(ClientValidationError, match="over the batch limit"):
        list(_bodies(emails, 2, 2000))


@pytest.mark.parametrize(
    ("value", "count"),
    [(None, 0), ("", 0), ("   ", 0), ("a@x", 1), (" a@x ", 1), ("a@x, b@x", 2), ("a@x,, ,b@x", 2)],
)
def test_count_addresses(value: str | None, count: int) -> None:
    assert _count_addresses(value) == count
