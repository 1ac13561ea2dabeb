"""``PostmarkHandler``: a ``logging.Handler`` that emails records through Postmark.

Like :class:`logging.handlers.SMTPHandler`, with what an error storm needs: a
token bucket (``max_emails`` per ``period`` seconds, bursts up to
``max_emails``) so ten thousand errors are not ten thousand emails.  What the
limit holds back is counted and summarised in a digest (a few sample lines and
counts per level) appended to the next email that goes out; whatever is still
pending when logging shuts down (``close``) goes out as one last email.

Emitting never raises into the application: a failure goes to
``Handler.handleError`` (which prints it to stderr when ``logging.raiseExceptions``
is set, and never shows the token).  Records logged while the handler is
itself sending (by ``urllib3``, or by a plugin of yours) are counted in the
digest, not sent: no recursion.  Sending blocks the logging thread for one API
call at most (a short timeout, no retries); put the handler behind a
``logging.handlers.QueueHandler`` to take even that off the request path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from .client import ServerClient
from .errors import ClientValidationError
from .models.email import Email
from .transport import DEFAULT_BASE_URL

__all__ = ["PostmarkHandler"]

#: Short: a log call waits for this at most (connect, read), and nothing is retried.
HANDLER_TIMEOUT: tuple[float, float] = (3.05, 10.0)


class PostmarkHandler(logging.Handler):
    """Email log records (``ERROR`` and above by default) through Postmark.

    ``server_token`` or ``client`` (a client of your own, never closed here);
    ``subject`` is a %-style format of the record's attributes (first line,
    at most 200 characters).
    """

    def __init__(
        self,
        server_token: str | None = None,
        *,
        from_email: str,
        to: str | Sequence[str],
        subject: str = "%(levelname)s in %(name)s: %(message)s",
        level: int | str = logging.ERROR,
        client: ServerClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = HANDLER_TIMEOUT,
        message_stream: str | None = None,
        tag: str | None = None,
        max_emails: int = 10,
        period: float = 600.0,
        digest_samples: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        if max_emails < 1 or period <= 0:
            raise ClientValidationError("max_emails must be >= 1 and period > 0")
        if client is None:
            if not server_token:
                raise ClientValidationError("PostmarkHandler needs server_token or client")
            client = ServerClient(server_token, base_url=base_url, timeout=timeout, retries=0)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.from_email = from_email
        self.to = to if isinstance(to, str) else ", ".join(to)
        self.subject = subject
        self.message_stream = message_stream
        self.tag = tag
        self.max_emails = max_emails
        self.period = period
        self.digest_samples = digest_samples
        self._clock = clock
        self._tokens = float(max_emails)
        self._stamp = clock()
        self._suppressed: Counter[str] = Counter()
        self._samples: list[str] = []
        self._since: datetime | None = None
        self._sending = threading.local()
        self._closed = False

    # -- the rate limit ----------------------------------------------------

    def _take(self) -> bool:
        """One email's worth of the bucket, if there is one."""
        now = self._clock()
        rate = self.max_emails / self.period
        self._tokens = min(float(self.max_emails), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _suppress(self, record: logging.LogRecord) -> None:
        if self._since is None:
            self._since = datetime.fromtimestamp(record.created)
        self._suppressed[record.levelname] += 1
        if len(self._samples) < self.digest_samples:
            when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
            first = _first_line(_message(record), 200)
            self._samples.append(f"{when} {record.levelname} {record.name}: {first}")

    def _digest(self) -> str | None:
        """The summary of what was held back (and forget it); None if nothing was."""
        total = sum(self._suppressed.values())
        if not total:
            return None
        since = self._since.strftime("%Y-%m-%d %H:%M:%S") if self._since else "?"
        levels = ", ".join(f"{n} {level}" for level, n in sorted(self._suppressed.items()))
        lines = [
            f"{total} more log record(s) were held back by the rate limit "
            f"({self.max_emails} emails per {self.period:g} s) since {since}: {levels}.",
        ]
        if self._samples:
            shown = len(self._samples)
            lines.append(f"The first {shown}:" if shown < total else "They were:")
            lines.extend(f"  {s}" for s in self._samples)
        self._suppressed.clear()
        self._samples = []
        self._since = None
        return "\n".join(lines)

    # -- logging.Handler ---------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:
            return
        if getattr(self._sending, "active", False):
            self._suppress(record)  # logged by our own send: no recursion
            return
        try:
            if not self._take():
                self._suppress(record)
                return
            body = self.format(record)
            held = (self._suppressed.copy(), list(self._samples), self._since)
            digest = self._digest()
            if digest:
                body = f"{body}\n\n-- \n{digest}"
            try:
                self._send(self.get_subject(record), body)
            except Exception:
                # Not lost: the digest waits for the next email, with this record in it.
                self._suppressed, self._samples, self._since = held
                self._suppress(record)
                raise
        except Exception:
            self.handleError(record)

    def get_subject(self, record: logging.LogRecord) -> str:
        """The email's subject for ``record`` (override for your own)."""
        values = {**record.__dict__, "message": _message(record)}
        try:
            subject = self.subject % values
        except (KeyError, TypeError, ValueError):
            subject = f"{record.levelname} in {record.name}: {values['message']}"
        return _first_line(subject, 200)

    def flush(self) -> None:
        """Send the digest of held-back records now, if the rate limit allows an email."""
        with self.lock if self.lock is not None else _NoLock():
            if self._closed or not self._suppressed or not self._take():
                return
            self._send_digest()

    def close(self) -> None:
        """Send what is still held back (one email, whatever the limit), close the client."""
        with self.lock if self.lock is not None else _NoLock():
            if not self._closed:
                self._closed = True
                if self._suppressed:
                    self._send_digest()
                if self._owns_client:
                    self.client.close()
        super().close()

    def _send_digest(self) -> None:
        total = sum(self._suppressed.values())
        digest = self._digest()
        if digest is None:
            return
        try:
            self._send(f"{total} log record(s) held back by the rate limit", digest)
        except Exception:
            self.handleError(_digest_record(self.name))

    def _send(self, subject: str, body: str) -> None:
        email = Email(
            from_email=self.from_email,
            to=self.to,
            subject=subject,
            text_body=body,
            message_stream=self.message_stream,
            tag=self.tag,
        )
        self._sending.active = True
        try:
            self.client.email.send(email)
        finally:
            self._sending.active = False


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not stop the email
        return str(record.msg)


def _first_line(text: str, limit: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def _digest_record(name: str | None) -> logging.LogRecord:
    return logging.LogRecord(
        name or "postmark_kit.logging",
        logging.ERROR,
        __file__,
        0,
        "sending the digest of held-back log records failed",
        None,
        None,
    )
