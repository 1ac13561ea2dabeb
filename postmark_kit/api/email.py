"""Sending: single, batch, templated, batch-with-templates and bulk."""

from __future__ import annotations

import itertools
import json
import operator
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ..concurrency import DEFAULT_CONCURRENCY, Limit
from ..convert import converter, unstructure
from ..errors import BatchChunk, BatchSendError, ClientValidationError, PostmarkError
from ..models.email import BulkEmail, BulkSendResult, BulkStatus, Email, SendResult, TemplatedEmail
from ._base import Resource, read_items, seg

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_MESSAGES", "MAX_RECIPIENTS", "EmailApi"]

MAX_RECIPIENTS = 50
MAX_BATCH_MESSAGES = 500
#: Postmark's batch limit is 50 MB; stay a little under it for the framing.
MAX_BATCH_BYTES = 50 * 1024 * 1024 - 64 * 1024


#: Batch bodies encoded ahead of the calls in flight are kept up to this size (or one chunk).
_LOOKAHEAD_BYTES = 8 * 1024 * 1024

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


_STR_ONLY = frozenset({str})


def _check_metadata(metadata: Mapping[str, Any] | None) -> None:
    """Postmark refuses (422) metadata values that are not strings: refuse them before sending."""
    # The usual case (every value exactly a str) is one C-level pass over the values.
    if metadata and not _STR_ONLY.issuperset(map(type, metadata.values())):
        bad = sorted(k for k, v in metadata.items() if not isinstance(v, str))
        if bad:
            raise ClientValidationError(
                f"metadata values must be strings; not for {', '.join(map(repr, bad))}"
            )


def _encode(message: Email | TemplatedEmail) -> bytes:
    _check(message)
    return _ENCODER.encode(unstructure(message)).encode()


def _size_hint(message: Email | TemplatedEmail) -> int:
    """A lower bound of a message's JSON size, from its big fields (nothing encoded)."""
    size = 0
    if isinstance(message, Email):
        size = len(message.html_body or "") + len(message.text_body or "")
    if message.attachments:
        size += sum(len(a.content or "") for a in message.attachments)
    return size


_EMAIL_ONLY = frozenset({Email})
_TEMPLATED_ONLY = frozenset({TemplatedEmail})
_HTML_BODY = operator.attrgetter("html_body")
_TEXT_BODY = operator.attrgetter("text_body")
_ATTACHMENTS = operator.attrgetter("attachments")
_METADATA = operator.attrgetter("metadata")
_ADDRESSES = (operator.attrgetter("to"), operator.attrgetter("cc"), operator.attrgetter("bcc"))
_TEMPLATE_REF = operator.attrgetter("template_id", "template_alias")


def _size_hints(messages: list[Email | TemplatedEmail]) -> int:
    """The sum of the messages' :func:`_size_hint`: C-level passes over a list of plain emails."""
    if not messages or not _EMAIL_ONLY.issuperset(map(type, messages)):
        return sum(map(_size_hint, messages))
    size: int = sum(map(len, filter(None, map(_HTML_BODY, messages))))
    size += sum(map(len, filter(None, map(_TEXT_BODY, messages))))
    if any(map(_ATTACHMENTS, messages)):
        size += sum(len(a.content or "") for m in messages for a in m.attachments or ())
    return size


def _plainly_valid(messages: Sequence[Email | TemplatedEmail]) -> bool:
    """True when :func:`_check` certainly passes every message (checked in C-level passes).

    The usual batch: plain emails (or templated ones naming their template),
    string metadata values, no comma in any address field (so at most three
    recipients).  False means "look at each message", never "invalid".
    """
    types = set(map(type, messages))
    if types == _TEMPLATED_ONLY:
        if not all(map(any, map(_TEMPLATE_REF, messages))):
            return False  # a template_id of 0 is checked one by one, like a missing one
    elif not _EMAIL_ONLY.issuperset(types):
        return False
    metadata = list(filter(None, map(_METADATA, messages)))
    if metadata:
        values = itertools.chain.from_iterable(map(operator.methodcaller("values"), metadata))
        if not _STR_ONLY.issuperset(map(type, values)):
            return False
    for field in _ADDRESSES:
        if any(map(operator.contains, filter(None, map(field, messages)), itertools.repeat(","))):
            return False
    return True


def _check_all(messages: Sequence[Email | TemplatedEmail]) -> None:
    """:func:`_check` on every message, raising the first one's error (in input order)."""
    try:
        if messages and _plainly_valid(messages):
            return
    except (AttributeError, TypeError):  # not emails at all: _check says what is wrong
        pass
    for message in messages:
        _check(message)


class _Hooks(dict[type[Any], Any]):
    """Unstructure function per model class, looked up once per batch."""

    def __missing__(self, cls: type[Any]) -> Any:
        hook = self[cls] = converter.get_unstructure_hook(cls)
        return hook


def _bodies(
    messages: Iterable[Email | TemplatedEmail],
    chunk_size: int,
    max_bytes: int,
    *,
    check: bool = True,
) -> Iterator[tuple[bytes, int]]:
    """JSON array bodies of at most ``chunk_size`` messages and ``max_bytes``, with their counts.

    The one chunking path of every batch send.  The chunks are those of the
    greedy split (a chunk takes messages while it has fewer than
    ``chunk_size`` and the next one still fits).  Messages are taken a chunk's
    worth at a time (checked and converted then: a lazy iterable is read a
    chunk at a time); while a whole chunk fits (the usual case) it is
    encoded in one call, so 10,000 messages cost 20 encoder calls.  Messages
    are encoded one by one only where a size cut must be found.
    """
    hooks = _Hooks()
    source = iter(messages)
    # Messages not sent yet, and their size hints and JSON once encoded alone.
    pending: list[Email | TemplatedEmail] = []
    dicts: list[dict[str, Any]] = []
    encoded: list[bytes | None] = []  # filled only once a size cut was needed

    def take(n: int) -> None:
        del pending[:n], dicts[:n], encoded[:n]

    def whole() -> tuple[bytes, int] | None:
        """The whole buffer as one body, if it fits."""
        n = len(dicts)
        if _size_hints(pending) + n > max_bytes:
            return None  # certainly over: do not build a huge string to find out
        if not any(encoded):
            body = _ENCODER.encode(dicts).encode()
        else:
            done = encoded + [None] * (n - len(encoded))
            parts = [
                _ENCODER.encode(d).encode() if e is None else e
                for d, e in zip(dicts, done, strict=True)
            ]
            body = b"[" + b",".join(parts) + b"]"
        # The greedy split counts each message plus one separator: len(body) - 1.
        if len(body) - 1 > max_bytes:
            return None
        take(n)
        return body, n

    def cut() -> tuple[bytes, int]:
        """The greedy chunk at the front of the buffer, its messages encoded one by one."""
        encoded.extend([None] * (len(dicts) - len(encoded)))
        parts: list[bytes] = []
        size = 0
        for i, d in enumerate(dicts):
            e = encoded[i]
            if e is None:
                e = encoded[i] = _ENCODER.encode(d).encode()
                if len(e) > max_bytes:
                    raise ClientValidationError(
                        f"one message is {len(e)} bytes, over the batch limit"
                    )
            if len(parts) == chunk_size or (parts and size + len(e) + 1 > max_bytes):
                break
            parts.append(e)
            size += len(e) + 1
        take(len(parts))
        return b"[" + b",".join(parts) + b"]", len(parts)

    while True:
        more = list(itertools.islice(source, chunk_size - len(pending)))
        if check:
            _check_all(more)
        pending += more
        dicts += [hooks[m.__class__](m) for m in more]
        if len(pending) < chunk_size:  # the source is exhausted
            while pending:
                yield whole() or cut()
            return
        yield whole() or cut()


class EmailApi(Resource):
    """``client.email``: every way of sending."""

    def send(self, email: Email) -> SendResult:
        """Send one email.  Raises :class:`~postmark_kit.ApiError` when Postmark refuses it."""
        return self._call("POST", "/email", SendResult, body=_encode(email))

    def send_with_template(self, email: TemplatedEmail) -> SendResult:
        """Send one email rendered from a stored template."""
        return self._call("POST", "/email/withTemplate", SendResult, body=_encode(email))

    def send_batch(
        self,
        emails: Iterable[Email],
        *,
        chunk_size: int = MAX_BATCH_MESSAGES,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> list[SendResult]:
        """Send any number of emails, in as few compliant batch calls as possible.

        The input is split into chunks of at most 500 messages and 50 MB, and
        up to ``concurrency`` chunks are in flight at once on the client's
        pooled connections (1: one after another).  Results come back one per
        email, in input order; a message Postmark refused is reported in its
        result (``result.ok`` is False), not raised.  A list (any sequence) is
        validated in full before the first call; a lazy iterable chunk by chunk
        (read ahead of the calls in flight by up to 8 MB of encoded chunks).
        A chunk is never sent twice.  When a call fails (or a later message is
        invalid) no further chunk is submitted, the calls in flight finish, and
        a :class:`~postmark_kit.errors.BatchSendError` says which chunks were
        sent (with their results), which failed, and which were not sent.  A
        429 slows every thread of the client and halves the concurrency.
        """
        return self._batched("/email/batch", emails, chunk_size, None, concurrency)

    def send_batch_with_templates(
        self,
        emails: Iterable[TemplatedEmail],
        *,
        chunk_size: int = MAX_BATCH_MESSAGES,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> list[SendResult]:
        """Like :meth:`send_batch`, for templated emails."""
        return self._batched(
            "/email/batchWithTemplates", emails, chunk_size, b"Messages", concurrency
        )

    def _batched(
        self,
        path: str,
        emails: Iterable[Email | TemplatedEmail],
        chunk_size: int,
        wrap: bytes | None,
        concurrency: int = 1,
    ) -> list[SendResult]:
        if not 1 <= chunk_size <= MAX_BATCH_MESSAGES:
            raise ClientValidationError(f"chunk_size must be 1..{MAX_BATCH_MESSAGES}")
        limit = Limit(concurrency, self._transport.throttle)
        if isinstance(emails, Sequence):
            # Every message is checked before the first call: one bad message
            # must not leave the batch half sent.
            _check_all(emails)
        # A lazy iterable stays lazy; a bad message found after earlier chunks
        # went out surfaces as BatchSendError with their results.
        chunks = _bodies(
            emails, chunk_size, MAX_BATCH_BYTES, check=not isinstance(emails, Sequence)
        )
        if concurrency == 1:
            return self._sequential(path, chunks, wrap)
        return self._concurrent(path, chunks, wrap, limit)

    def _post_chunk(
        self, path: str, body: bytes, count: int, wrap: bytes | None
    ) -> list[SendResult]:
        if wrap is not None:
            body = b'{"' + wrap + b'":' + body + b"}"
        data = self._transport.request("POST", path, body=body)
        return read_items(data, SendResult, "POST", path, count=count)

    def _sequential(
        self, path: str, chunks: Iterator[tuple[bytes, int]], wrap: bytes | None
    ) -> list[SendResult]:
        results: list[SendResult] = []
        sent: list[BatchChunk] = []
        while True:
            start = len(results)
            chunk: tuple[bytes, int] | None = None
            try:
                chunk = next(chunks, None)
                if chunk is None:
                    return results
                body, count = chunk
                chunk_results = self._post_chunk(path, body, count, wrap)
            except PostmarkError as exc:
                if not results:
                    raise
                failed = [] if chunk is None else [BatchChunk(start, start + count, error=exc)]
                rest = start if chunk is None else start + count
                raise BatchSendError(
                    results, exc, sent=sent, failed=failed, not_sent=[BatchChunk(rest, None)]
                ) from exc
            sent.append(BatchChunk(start, start + count, results=chunk_results))
            results.extend(chunk_results)

    def _concurrent(
        self, path: str, chunks: Iterator[tuple[bytes, int]], wrap: bytes | None, limit: Limit
    ) -> list[SendResult]:
        """Up to ``limit`` chunks in flight; on the first failure, stop submitting and report."""
        sent: list[BatchChunk] = []
        failed: list[BatchChunk] = []
        inflight: dict[Future[list[SendResult]], tuple[int, int]] = {}
        read_error: PostmarkError | None = None
        exhausted = False
        position = 0  # input index of the next chunk to submit
        # Chunks encoded while the calls are in flight (the first round trip
        # leaves the CPU idle): a slot that frees up is refilled at once, and
        # the encoding is done.  Bounded by _LOOKAHEAD_BYTES (at least one).
        ahead: deque[tuple[bytes, int]] = deque()
        ahead_bytes = 0
        with ThreadPoolExecutor(limit.value, thread_name_prefix="postmark-kit-batch") as pool:
            while True:
                for future in [f for f in inflight if f.done()]:
                    start, count = inflight.pop(future)
                    try:
                        sent.append(BatchChunk(start, start + count, results=future.result()))
                    except PostmarkError as exc:
                        failed.append(BatchChunk(start, start + count, error=exc))
                # Chunks before a bad message of a lazy iterable still go out.
                while ahead and not failed and len(inflight) < limit.current():
                    body, count = ahead.popleft()
                    ahead_bytes -= len(body)
                    future = pool.submit(self._post_chunk, path, body, count, wrap)
                    inflight[future] = (position, count)
                    position += count
                if (
                    not failed
                    and read_error is None
                    and not exhausted
                    and (not ahead or ahead_bytes < _LOOKAHEAD_BYTES)
                ):
                    try:
                        chunk = next(chunks, None)
                    except PostmarkError as exc:  # a bad message in a lazy iterable
                        read_error = exc
                        continue
                    if chunk is None:
                        exhausted = True
                    else:
                        ahead.append(chunk)
                        ahead_bytes += len(chunk[0])
                    continue
                if not inflight:
                    break
                wait(list(inflight), return_when=FIRST_COMPLETED)
        sent.sort(key=lambda c: c.start)
        if not failed and read_error is None:
            return [r for c in sent for r in c.results or ()]
        failed.sort(key=lambda c: c.start)
        not_sent = [] if exhausted and not ahead else [BatchChunk(position, None)]
        error = failed[0].error if failed else read_error
        assert error is not None
        if not sent and (len(failed) == 1 or (read_error is not None and not failed)):
            raise error  # nothing went out: the call failed as a whole, as a single call would
        prefix: list[SendResult] = []
        for c in sent:
            if c.start != len(prefix):
                break
            prefix.extend(c.results or ())
        raise BatchSendError(prefix, error, sent=sent, failed=failed, not_sent=not_sent) from error

    def send_bulk(self, bulk: BulkEmail) -> BulkSendResult:
        """Queue a bulk send (one content, many recipients) on a broadcast stream."""
        if not bulk.messages:
            raise ClientValidationError("a bulk request needs at least one recipient message")
        for metadata in (bulk.metadata, *(m.metadata for m in bulk.messages)):
            _check_metadata(metadata)
        return self._call("POST", "/email/bulk", BulkSendResult, json_body=unstructure(bulk))

    def get_bulk_status(self, bulk_request_id: str) -> BulkStatus:
        """Progress of a bulk request."""
        return self._call("GET", f"/email/bulk/{seg(bulk_request_id)}", BulkStatus)
