"""Sending: single, batch, templated, batch-with-templates and bulk."""

from __future__ import annotations

import gc
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..convert import converter, structure, structure_list, unstructure
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


def _check(message: Email | TemplatedEmail) -> None:
    if (
        isinstance(message, TemplatedEmail)
        and message.template_id is None
        and message.template_alias is None
    ):
        raise ClientValidationError("template_id or template_alias is required")
    _check_metadata(message.metadata)
    # Commas bound the count from above: most messages need no exact count.
    to, cc, bcc = message.to, message.cc, message.bcc
    bound = (
        (to.count(",") + 1 if to else 0)
        + (cc.count(",") + 1 if cc else 0)
        + (bcc.count(",") + 1 if bcc else 0)
    )
    if bound > MAX_RECIPIENTS and message.recipient_count() > MAX_RECIPIENTS:
        raise ClientValidationError(
            f"a message can have at most {MAX_RECIPIENTS} recipients across To, Cc and Bcc "
            f"(got {message.recipient_count()})"
        )


def _check_metadata(metadata: Mapping[str, Any] | None) -> None:
    """Postmark refuses (422) metadata values that are not strings: refuse them before sending."""
    if metadata:
        bad = sorted(k for k, v in metadata.items() if not isinstance(v, str))
        if bad:
            raise ClientValidationError(
                f"metadata values must be strings; not for {', '.join(map(repr, bad))}"
            )


def _encode(message: Email | TemplatedEmail) -> bytes:
    _check(message)
    return _ENCODER.encode(unstructure(message)).encode()


def _encode_item(item: dict[str, Any], max_bytes: int) -> bytes:
    data = _ENCODER.encode(item).encode()
    if len(data) > max_bytes:
        raise ClientValidationError(f"one message is {len(data)} bytes, over the batch limit")
    return data


def _size_hint(message: Email | TemplatedEmail) -> int:
    """A lower bound of a message's JSON size, from its big fields (nothing encoded)."""
    size = 0
    if isinstance(message, Email):
        size = len(message.html_body or "") + len(message.text_body or "")
    if message.attachments:
        size += sum(len(a.content or "") for a in message.attachments)
    return size


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


def _bodies(
    messages: Iterable[Email | TemplatedEmail], chunk_size: int, max_bytes: int
) -> Iterator[tuple[bytes, int]]:
    """JSON array bodies of at most ``chunk_size`` messages and ``max_bytes``, and their counts.

    The chunks are those of a greedy split by count and size, message by
    message.  While a whole chunk fits (the usual case), it is encoded in one
    call: 10,000 messages cost 20 encoder calls, not 10,000.  Once one does not,
    every further message is encoded on its own and the chunks cut by size.
    A message is checked when it is reached, so a lazy iterable stays lazy.
    """
    hooks = _Hooks()

    def items() -> Iterator[tuple[dict[str, Any], int]]:
        for message in messages:
            _check(message)
            yield hooks[message.__class__](message), _size_hint(message)

    stream = items()
    pending: list[dict[str, Any]] = []
    hint = 0
    overflow: list[dict[str, Any]] = []  # from the first chunk over the size limit on
    for item, size in stream:
        if len(pending) >= chunk_size:
            body = _whole(pending, hint, max_bytes)
            if body is None:
                overflow = [*pending, item]
                break
            yield body, len(pending)
            pending, hint = [], 0
        pending.append(item)
        hint += size + 1
    else:
        if not pending:
            return
        body = _whole(pending, hint, max_bytes)
        if body is not None:
            yield body, len(pending)
            return
        overflow = pending
    rest = itertools.chain(overflow, (i for i, _ in stream))
    encoded = (_encode_item(i, max_bytes) for i in rest)
    for chunk in _chunks(encoded, chunk_size, max_bytes):
        yield b"[" + b",".join(chunk) + b"]", len(chunk)


class _Hooks(dict[type[Any], Any]):
    """Unstructure function per model class, looked up once per batch."""

    def __missing__(self, cls: type[Any]) -> Any:
        hook = self[cls] = converter.get_unstructure_hook(cls)
        return hook


def _all_bodies(
    emails: Sequence[Email | TemplatedEmail], chunk_size: int
) -> list[tuple[bytes, int]]:
    """Every body of a sequence (the bodies of :func:`_bodies`), built before the first call.

    Every message is checked first; then chunk by chunk, without a generator
    step per message.  The cyclic GC is paused meanwhile (as for a page of
    models): thousands of acyclic, short-lived dicts would otherwise set off
    collections that rescan the whole heap, about 7% of a 10,000-message batch.
    """
    if not gc.isenabled():
        return _sequence_bodies(emails, chunk_size, MAX_BATCH_BYTES)
    gc.disable()
    try:
        return _sequence_bodies(emails, chunk_size, MAX_BATCH_BYTES)
    finally:
        gc.enable()


def _sequence_bodies(
    emails: Sequence[Email | TemplatedEmail], chunk_size: int, max_bytes: int
) -> list[tuple[bytes, int]]:
    messages = emails if isinstance(emails, list | tuple) else list(emails)
    for message in messages:
        _check(message)
    hooks = _Hooks()
    out: list[tuple[bytes, int]] = []
    for start in range(0, len(messages), chunk_size):
        part = messages[start : start + chunk_size]
        hint = sum(map(_size_hint, part)) + len(part)
        body = _whole([hooks[m.__class__](m) for m in part], hint, max_bytes)
        if body is None:
            # From here on the greedy split by size decides (earlier chunks
            # were full and fitted, so it starts at this chunk either way).
            out.extend(_bodies(messages[start:], chunk_size, max_bytes))
            break
        out.append((body, len(part)))
    return out


def _whole(items: list[dict[str, Any]], hint: int, max_bytes: int) -> bytes | None:
    """One chunk encoded in one call; ``None`` when it is over the size limit."""
    if hint > max_bytes:  # certainly over: do not build a huge string to find out
        return None
    body = _ENCODER.encode(items).encode()
    # The greedy split counts each item plus one separator: len(body) - 1.
    return body if len(body) - 1 <= max_bytes else None


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
        chunks: Iterator[tuple[bytes, int]]
        if isinstance(emails, Sequence):
            # Every message is checked before the first call: one bad message
            # must not leave the batch half sent.
            chunks = iter(_all_bodies(emails, chunk_size))
        else:
            # A lazy iterable stays lazy; a bad message found after earlier
            # chunks went out surfaces as BatchSendError with their results.
            chunks = _bodies(emails, chunk_size, MAX_BATCH_BYTES)
        results: list[SendResult] = []
        while True:
            try:
                chunk = next(chunks, None)
                if chunk is None:
                    return results
                body, count = chunk
                if wrap is not None:
                    body = b'{"' + wrap + b'":' + body + b"}"
                data: Any = self._transport.request("POST", path, body=body)
                if not isinstance(data, list) or len(data) != count:
                    got = f"{len(data)} results" if isinstance(data, list) else type(data).__name__
                    raise InvalidResponseError(
                        f"expected {count} results, got {got}", method="POST", path=path
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
        for metadata in (bulk.metadata, *(m.metadata for m in bulk.messages)):
            _check_metadata(metadata)
        data = self._transport.request("POST", "/email/bulk", json_body=unstructure(bulk))
        return structure(data, BulkSendResult)

    def get_bulk_status(self, bulk_request_id: str) -> BulkStatus:
        """Progress of a bulk request."""
        return self._call("GET", f"/email/bulk/{seg(bulk_request_id)}", BulkStatus)
