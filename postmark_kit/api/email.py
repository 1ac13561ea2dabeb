"""Sending: single, batch, templated, batch-with-templates and bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..convert import structure, structure_list, unstructure
from ..errors import BatchSendError, ClientValidationError, InvalidResponseError, PostmarkError
from ..models.email import BulkEmail, BulkSendResult, BulkStatus, Email, SendResult, TemplatedEmail
from ._base import Resource, seg

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_MESSAGES", "MAX_RECIPIENTS", "EmailApi"]

MAX_RECIPIENTS = 50
MAX_BATCH_MESSAGES = 500
#: Postmark's batch limit is 50 MB; stay a little under it for the framing.
MAX_BATCH_BYTES = 50 * 1024 * 1024 - 64 * 1024


#: One encoder for every send: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _encode(message: Email | TemplatedEmail) -> bytes:
    if (
        isinstance(message, TemplatedEmail)
        and message.template_id is None
        and message.template_alias is None
    ):
        raise ClientValidationError("template_id or template_alias is required")
    if message.recipient_count() > MAX_RECIPIENTS:
        raise ClientValidationError(
            f"a message can have at most {MAX_RECIPIENTS} recipients across To, Cc and Bcc "
            f"(got {message.recipient_count()})"
        )
    return _ENCODER.encode(unstructure(message)).encode()


def _encode_for_batch(message: Email | TemplatedEmail) -> bytes:
    item = _encode(message)
    if len(item) > MAX_BATCH_BYTES:
        raise ClientValidationError(f"one message is {len(item)} bytes, over the batch limit")
    return item


def _chunks(encoded: Iterable[bytes], max_messages: int, max_bytes: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for item in encoded:
        if chunk and (len(chunk) >= max_messages or size + len(item) + 1 > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk


class EmailApi(Resource):
    """``client.email``: every way of sending."""

    def send(self, email: Email) -> SendResult:
        """Send one email.  Raises :class:`~postmark_kit.ApiError` when Postmark refuses it."""
        data = self._transport.request("POST", "/email", body=_encode(email))
        return structure(data, SendResult)

    def send_with_template(self, email: TemplatedEmail) -> SendResult:
        """Send one email rendered from a stored template."""
        data = self._transport.request("POST", "/email/withTemplate", body=_encode(email))
        return structure(data, SendResult)

    def send_batch(
        self, emails: Iterable[Email], *, chunk_size: int = MAX_BATCH_MESSAGES
    ) -> list[SendResult]:
        """Send any number of emails, in as few compliant batch calls as possible.

        The input is split into chunks of at most 500 messages and 50 MB.
        Results come back one per email, in input order; a message Postmark
        refused is reported in its result (``result.ok`` is False), not raised.
        A list (any sequence) is validated in full before the first call; a lazy
        iterable chunk by chunk.  If a call fails, or a later message is invalid,
        after earlier chunks went out, a
        :class:`~postmark_kit.errors.BatchSendError` carries the results so far.
        """
        return self._batched("/email/batch", emails, chunk_size, None)

    def send_batch_with_templates(
        self, emails: Iterable[TemplatedEmail], *, chunk_size: int = MAX_BATCH_MESSAGES
    ) -> list[SendResult]:
        """Like :meth:`send_batch`, for templated emails."""
        return self._batched("/email/batchWithTemplates", emails, chunk_size, b"Messages")

    def _batched(
        self,
        path: str,
        emails: Iterable[Email | TemplatedEmail],
        chunk_size: int,
        wrap: bytes | None,
    ) -> list[SendResult]:
        if not 1 <= chunk_size <= MAX_BATCH_MESSAGES:
            raise ClientValidationError(f"chunk_size must be 1..{MAX_BATCH_MESSAGES}")
        encoded: Iterable[bytes]
        if isinstance(emails, Sequence):
            # Every message is checked before the first call: one bad message
            # must not leave the batch half sent.
            encoded = [_encode_for_batch(e) for e in emails]
        else:
            # A lazy iterable stays lazy; a bad message found after earlier
            # chunks went out surfaces as BatchSendError with their results.
            encoded = (_encode_for_batch(e) for e in emails)
        chunks = _chunks(encoded, chunk_size, MAX_BATCH_BYTES)
        results: list[SendResult] = []
        while True:
            try:
                chunk = next(chunks, None)
                if chunk is None:
                    return results
                body = b"[" + b",".join(chunk) + b"]"
                if wrap is not None:
                    body = b'{"' + wrap + b'":' + body + b"}"
                data: Any = self._transport.request("POST", path, body=body)
                if not isinstance(data, list) or len(data) != len(chunk):
                    got = f"{len(data)} results" if isinstance(data, list) else type(data).__name__
                    raise InvalidResponseError(
                        f"expected {len(chunk)} results, got {got}", method="POST", path=path
                    )
                chunk_results = structure_list(data, SendResult)
            except PostmarkError as exc:
                if not results:
                    raise
                raise BatchSendError(results, exc) from exc
            results.extend(chunk_results)

    def send_bulk(self, bulk: BulkEmail) -> BulkSendResult:
        """Queue a bulk send (one content, many recipients) on a broadcast stream."""
        if not bulk.messages:
            raise ClientValidationError("a bulk request needs at least one recipient message")
        data = self._transport.request("POST", "/email/bulk", json_body=unstructure(bulk))
        return structure(data, BulkSendResult)

    def get_bulk_status(self, bulk_request_id: str) -> BulkStatus:
        """Progress of a bulk request."""
        return self._call("GET", f"/email/bulk/{seg(bulk_request_id)}", BulkStatus)
