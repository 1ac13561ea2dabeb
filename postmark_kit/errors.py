"""Every exception postmark-kit raises, in one place.

Catch :class:`PostmarkError` for "anything went wrong", :class:`ApiError` for
"Postmark answered with an error", or one of the narrow subclasses for the
cases an application usually handles differently (an inactive recipient is not
a bug; an invalid token is).  No message built here ever contains a token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BatchChunk",
    "BatchSendError",
    "ClientValidationError",
    "InactiveRecipientError",
    "InvalidEmailError",
    "InvalidResponseError",
    "InvalidTokenError",
    "NetworkError",
    "NotFoundError",
    "PostmarkError",
    "RateLimitError",
    "RequestTimeoutError",
    "SenderSignatureError",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
]


class PostmarkError(Exception):
    """Base class of every error raised by postmark-kit."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword-only arguments, which the default
        # Exception pickling (``cls(*args)``) cannot pass: without this an
        # error raised in a worker process or task queue fails to unpickle.
        return (_restore, (type(self), self.args, self.__dict__.copy()))


def _restore(cls: type[PostmarkError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ClientValidationError(PostmarkError, ValueError):
    """Raised before any request is sent: the call itself breaks a Postmark limit."""


class ApiError(PostmarkError):
    """Postmark answered with a non-2xx status (or a non-zero ``ErrorCode``).

    ``status_code`` is the HTTP status, ``error_code`` Postmark's ``ErrorCode``
    (``None`` when the body carried none) and ``message`` Postmark's ``Message``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.method = method
        self.path = path
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        code = f", ErrorCode {self.error_code}" if self.error_code is not None else ""
        return f"HTTP {self.status_code}{code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"error_code={self.error_code!r}, message={self.message!r})"
        )


class InvalidTokenError(ApiError):
    """HTTP 401 or ErrorCode 10: the API token is missing, wrong or of the wrong kind."""


class NotFoundError(ApiError):
    """HTTP 404, or an ErrorCode that says the entity does not exist."""


class UnprocessableEntityError(ApiError):
    """HTTP 422 not covered by a narrower class: Postmark rejected the request's content."""


class InvalidEmailError(UnprocessableEntityError):
    """ErrorCode 300: malformed address, no body, too many recipients, ..."""


class InactiveRecipientError(UnprocessableEntityError):
    """ErrorCode 406: every recipient is deactivated (bounce, complaint, suppression)."""


class SenderSignatureError(UnprocessableEntityError):
    """ErrorCode 400/401: the From address has no (confirmed) sender signature."""


class RateLimitError(ApiError):
    """HTTP 429.  ``retry_after`` is Postmark's ``Retry-After`` in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ApiError):
    """HTTP 5xx: Postmark failed (500) or is in maintenance (503)."""


class TransportError(PostmarkError):
    """No usable HTTP answer arrived."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None):
        self.method = method
        self.path = path
        super().__init__(message)


class RequestTimeoutError(TransportError):
    """Connecting or reading took longer than the configured timeout.

    ``may_have_been_sent`` is True for a read timeout: Postmark may have acted.
    """

    def __init__(self, message: str, *, may_have_been_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.may_have_been_sent = may_have_been_sent


class NetworkError(TransportError):
    """The connection could not be made or broke before an answer came back."""

    def __init__(self, message: str, *, may_have_been_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.may_have_been_sent = may_have_been_sent


class InvalidResponseError(TransportError):
    """Postmark answered 2xx but the body is not the JSON we expected (truncated, HTML...)."""


#: ErrorCode -> exception class, checked before the HTTP status.
ERROR_CODE_CLASSES: dict[int, type[ApiError]] = {
    10: InvalidTokenError,
    300: InvalidEmailError,
    400: SenderSignatureError,
    401: SenderSignatureError,
    406: InactiveRecipientError,
    501: NotFoundError,
    510: NotFoundError,
    601: NotFoundError,
    701: NotFoundError,
    812: NotFoundError,
    1001: NotFoundError,
    1101: NotFoundError,
}


def error_class_for(status_code: int, error_code: int | None) -> type[ApiError]:
    """Pick the narrowest exception class for a Postmark error answer."""
    if error_code is not None and error_code in ERROR_CODE_CLASSES:
        return ERROR_CODE_CLASSES[error_code]
    if status_code == 401:
        return InvalidTokenError
    if status_code == 404:
        return NotFoundError
    if status_code == 422:
        return UnprocessableEntityError
    if status_code == 429:
        return RateLimitError
    if status_code >= 500:
        return ServerError
    return ApiError


class BatchChunk:
    """One chunk of a batch send: the inputs ``start`` to ``stop - 1``.

    ``stop`` is ``None`` for "from ``start`` to the end of the input" (what
    was never read of a lazy iterable).  A sent chunk has its ``results``; a
    failed one its ``error`` (a 4xx was refused; after a 5xx or a timeout
    Postmark may have sent it: see the error's ``may_have_been_sent``).
    """

    def __init__(
        self,
        start: int,
        stop: int | None,
        *,
        results: list[Any] | None = None,
        error: PostmarkError | None = None,
    ) -> None:
        self.start = start
        self.stop = stop
        self.results = results
        self.error = error

    def __repr__(self) -> str:
        end = "end" if self.stop is None else self.stop
        return f"<BatchChunk {self.start}:{end}>"


class BatchSendError(PostmarkError):
    """A batch send failed after some of its chunks were sent (or may have been).

    ``sent`` lists the chunks Postmark accepted, with their results; ``failed``
    the chunks whose call failed, with the error; ``not_sent`` the inputs never
    submitted.  Resend ``not_sent`` (and the failed chunks whose error says
    they were not sent) and nothing goes out twice.  ``results`` holds the
    results of the first ``len(results)`` inputs (every chunk up to the first
    one not sent); ``outcomes`` one entry per input read, ``None`` where not
    sent.  ``error`` (also ``__cause__``) is the first failure in input order.
    """

    def __init__(
        self,
        results: list[Any],
        error: PostmarkError,
        *,
        sent: list[BatchChunk] | None = None,
        failed: list[BatchChunk] | None = None,
        not_sent: list[BatchChunk] | None = None,
    ) -> None:
        self.results = results
        self.error = error
        self.sent = sent if sent is not None else [BatchChunk(0, len(results), results=results)]
        self.failed = failed or []
        self.not_sent = not_sent or []
        n_sent = sum(len(c.results or ()) for c in self.sent)
        if sent is None and failed is None:
            text = f"failed after {len(results)} items were already sent: {error}"
        else:
            text = (
                f"{len(self.sent)} chunk(s) sent ({n_sent} items), {len(self.failed)} failed, "
                f"{len(self.not_sent)} range(s) not sent: {error}"
            )
        super().__init__(text)

    @property
    def outcomes(self) -> list[Any]:
        """One entry per input read, in input order: its result, or ``None`` if not sent."""
        ends = [c.stop or c.start for c in (*self.sent, *self.failed, *self.not_sent)]
        out: list[Any] = [None] * max(ends, default=0)
        for chunk in self.sent:
            out[chunk.start : chunk.start + len(chunk.results or ())] = chunk.results or []
        return out
