"""Sending from Django: ``EMAIL_BACKEND = "postmark_kit.django.EmailBackend"``.

Settings, in one dict (or the same names at top level with a ``POSTMARK_``
prefix, e.g. ``POSTMARK_SERVER_TOKEN``; giving one both ways with different
values is an error)::

    POSTMARK = {
        "SERVER_TOKEN": "...",          # required
        "MESSAGE_STREAM": "outbound",   # default stream of messages that name none
        "TRACK_OPENS": True,            # default TrackOpens (unset: the server's setting)
        "TRACK_LINKS": "HtmlAndText",   # default TrackLinks
        "BASE_URL": "...",              # API address (the simulator's in tests)
        "TIMEOUT": 30,                  # seconds, or (connect, read)
        "RETRIES": 3,                   # retries of what is safe to retry
    }

Keyword arguments of ``get_connection(...)`` (``server_token=``,
``message_stream=``...) override the settings.

Postmark extras are attributes of the message, read when it is sent:
``tag``, ``metadata`` (dict), ``track_opens``, ``track_links``,
``message_stream``, ``template_id`` / ``template_alias`` with
``template_model`` (the template renders subject and bodies) and
``inline_css``.  Postmark's SMTP headers (``X-PM-Tag``, ``X-PM-Metadata-*``...)
in ``headers=`` mean the same.

After :meth:`EmailBackend.send_messages`, each message carries its outcome:
``postmark_result`` (the :class:`~postmark_kit.SendResult`, ``None`` if no
answer came), ``postmark_message_id`` and ``postmark_error`` (a
:class:`~postmark_kit.PostmarkError`, e.g. an ``InactiveRecipientError``
with the ErrorCode and message of a refused message).
"""

from __future__ import annotations

import email.message
import email.utils
import mimetypes
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import BadHeaderError, EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from .api.email import MAX_RECIPIENTS
from .client import ServerClient
from .errors import (
    ApiError,
    BatchSendError,
    ClientValidationError,
    PostmarkError,
    error_class_for,
)
from .mime import attachment_from_part
from .models.common import Attachment, Header
from .models.email import Email, SendResult, TemplatedEmail, TrackLinks
from .settings import defaults
from .transport import DEFAULT_BASE_URL, DEFAULT_TIMEOUT

__all__ = [
    "EXTRAS",
    "SETTINGS",
    "EmailBackend",
    "HeaderInjectionError",
    "PostmarkEmailMessage",
    "PostmarkEmailMultiAlternatives",
    "PostmarkMessageMixin",
    "RefusedMessagesError",
    "postmark_settings",
]

#: Every key of ``settings.POSTMARK`` (top level: ``POSTMARK_<KEY>``), with its default
#: (declared in :mod:`postmark_kit.settings`).
SETTINGS: dict[str, Any] = {
    name.removeprefix("POSTMARK_"): default for name, default in defaults("django").items()
}

#: Message attributes read as Postmark extras.
EXTRAS = (
    "tag",
    "metadata",
    "track_opens",
    "track_links",
    "message_stream",
    "template_id",
    "template_alias",
    "template_model",
    "inline_css",
)

_UNSET = object()


class HeaderInjectionError(ClientValidationError, BadHeaderError):
    """A newline in a header (subject, address, custom header): refused, as Django does.

    Both a :class:`~postmark_kit.ClientValidationError` and Django's ``BadHeaderError``.
    """


class RefusedMessagesError(PostmarkError):
    """Postmark refused some messages of a ``send_messages`` call (others may have gone).

    ``messages`` are the refused Django messages (each with ``postmark_error``),
    ``sent`` how many went.  ``__cause__`` is the first refusal.
    """

    def __init__(self, messages: list[EmailMessage], sent: int) -> None:
        self.messages = messages
        self.sent = sent
        first = getattr(messages[0], "postmark_error", None) if messages else None
        super().__init__(f"{len(messages)} message(s) refused, {sent} sent; first: {first}")


def postmark_settings() -> dict[str, Any]:
    """The effective settings: ``POSTMARK`` merged with the top-level ``POSTMARK_*`` names."""
    conf = getattr(settings, "POSTMARK", None) or {}
    if not isinstance(conf, Mapping):
        raise ImproperlyConfigured("settings.POSTMARK must be a dict")
    unknown = sorted(set(conf) - set(SETTINGS))
    if unknown:
        raise ImproperlyConfigured(
            f"settings.POSTMARK: unknown key(s) {', '.join(unknown)} (known: {', '.join(SETTINGS)})"
        )
    out: dict[str, Any] = {}
    for key, default in SETTINGS.items():
        in_dict = conf.get(key, _UNSET)
        top = getattr(settings, f"POSTMARK_{key}", _UNSET)
        if in_dict is not _UNSET and top is not _UNSET and in_dict != top:
            raise ImproperlyConfigured(
                f"settings.POSTMARK['{key}'] and settings.POSTMARK_{key} disagree: set one"
            )
        value = in_dict if in_dict is not _UNSET else top
        out[key] = default if value is _UNSET else value
    return out


def _track_links(value: Any, where: str) -> str | None:
    if value is None:
        return None
    try:
        return str(TrackLinks(str(value)))
    except ValueError:
        known = ", ".join(t.value for t in TrackLinks)
        raise ImproperlyConfigured(f"{where} must be one of {known}, got {value!r}") from None


class EmailBackend(BaseEmailBackend):
    """A Django email backend sending through Postmark's batch API (500 messages a call).

    One :class:`~postmark_kit.ServerClient` (one connection pool) per open
    connection: ``with get_connection() as connection:`` reuses it for every
    send in the block.  ``client=`` passes a client of your own (never closed here).
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        server_token: str | None = None,
        base_url: str | None = None,
        message_stream: str | None = None,
        track_opens: bool | None = None,
        track_links: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        retries: int | None = None,
        client: ServerClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        conf = postmark_settings()

        def pick(given: Any, key: str) -> Any:
            return given if given is not None else conf[key]

        self.server_token: str | None = pick(server_token, "SERVER_TOKEN")
        self.base_url: str = pick(base_url, "BASE_URL") or DEFAULT_BASE_URL
        self.message_stream: str | None = pick(message_stream, "MESSAGE_STREAM")
        self.track_opens: bool | None = pick(track_opens, "TRACK_OPENS")
        self.track_links = _track_links(pick(track_links, "TRACK_LINKS"), "POSTMARK TRACK_LINKS")
        given_timeout = pick(timeout, "TIMEOUT") or DEFAULT_TIMEOUT
        # A list (settings read from JSON or YAML) means (connect, read), as a tuple does.
        self.timeout: float | tuple[float, float] = (
            tuple(given_timeout) if isinstance(given_timeout, list) else given_timeout
        )
        self.retries: int | None = pick(retries, "RETRIES")
        self.client = client
        self._owns_client = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:  # never the token
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    def open(self) -> bool:
        """Build the client; True if this call did (Django's contract)."""
        with self._lock:
            if self.client is not None:
                return False
            if not self.server_token:
                raise ImproperlyConfigured(
                    "Postmark: set settings.POSTMARK = {'SERVER_TOKEN': ...} "
                    "(or POSTMARK_SERVER_TOKEN)"
                )
            self.client = ServerClient(
                self.server_token,
                base_url=self.base_url,
                timeout=self.timeout,
                retries=self.retries,
            )
            self._owns_client = True
            return True

    def close(self) -> None:
        with self._lock:
            if self._owns_client and self.client is not None:
                self.client.close()
                self.client = None
            self._owns_client = False

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send through the batch API; return how many Postmark accepted.

        Every message gets ``postmark_result``/``postmark_message_id``/``postmark_error``.
        Without ``fail_silently``, a failed call is raised (after the results of
        what did go were recorded), and refused messages as :class:`RefusedMessagesError`.
        """
        messages = list(email_messages)
        if not messages:
            return 0
        with self._lock:
            opened = self.open()
            try:
                return self._send(messages)
            finally:
                if opened:
                    self.close()

    def _send(self, messages: list[EmailMessage]) -> int:
        client = self.client
        assert client is not None  # open() was called
        prepared: list[tuple[EmailMessage, Email | TemplatedEmail]] = []
        for message in messages:
            _record(message, None, None)
            if not message.recipients():
                continue  # as Django's SMTP backend: nothing to send
            try:
                prepared.append((message, self.build_email(message)))
            except ClientValidationError as exc:
                _record(message, None, exc)
                if not self.fail_silently:
                    raise
        plain = [(m, e) for m, e in prepared if isinstance(e, Email)]
        templated = [(m, e) for m, e in prepared if isinstance(e, TemplatedEmail)]
        failure: PostmarkError | None = None
        for group, path in ((plain, "/email/batch"), (templated, "/email/batchWithTemplates")):
            if not group:
                continue
            results: Sequence[SendResult | None] = []
            error: PostmarkError | None = None
            try:
                if group is plain:
                    results = client.email.send_batch([e for _, e in group if isinstance(e, Email)])
                else:
                    results = client.email.send_batch_with_templates(
                        [e for _, e in group if isinstance(e, TemplatedEmail)]
                    )
            except BatchSendError as exc:
                # Chunks sent after the one that failed have results too.
                results, error = exc.outcomes, exc
            except PostmarkError as exc:
                error = exc
            for (message, _), result in zip(group, results, strict=False):
                if result is None:
                    _record(message, None, error)
                else:
                    _record(message, result, None if result.ok else _refusal(result, path))
            for message, _ in group[len(results) :]:
                _record(message, None, error)
            failure = failure or error
        sent = sum(1 for m in messages if getattr(m, "postmark_message_id", None))
        if not self.fail_silently:
            if failure is not None:
                raise failure
            refused = [m for m in messages if getattr(m, "postmark_error", None) is not None]
            if refused:
                raise RefusedMessagesError(refused, sent) from refused[0].postmark_error  # type: ignore[attr-defined]
        return sent

    # -- EmailMessage -> Email --------------------------------------------------

    def build_email(self, message: EmailMessage) -> Email | TemplatedEmail:
        """The Postmark email for a Django message (override to customise).

        Raises :class:`~postmark_kit.ClientValidationError` for what Postmark
        cannot carry (an alternative other than HTML, a ``To`` header that is
        not the recipients, more than 50 recipients).
        """
        extras = {name: getattr(message, name, None) for name in EXTRAS}
        from_email: str | None = message.from_email
        reply_to: list[str] = list(message.reply_to)
        metadata: dict[str, str] = {}
        headers: list[Header] = []
        for name, value in message.extra_headers.items():
            lower, text = name.lower(), str(value)
            if lower == "from":
                from_email = text
            elif lower == "reply-to":
                reply_to = [text]
            elif lower in ("to", "cc"):
                listed = message.to if lower == "to" else message.cc
                if _addrs([text]) != _addrs(listed):
                    raise ClientValidationError(
                        f"a {name} header other than the recipients cannot be sent through "
                        f"Postmark's API (set message.{lower} instead)"
                    )
            elif lower == "x-pm-tag":
                extras["tag"] = extras["tag"] or text
            elif lower == "x-pm-message-stream":
                extras["message_stream"] = extras["message_stream"] or text
            elif lower == "x-pm-trackopens" and extras["track_opens"] is None:
                extras["track_opens"] = text.strip().lower() == "true"
            elif lower == "x-pm-tracklinks":
                extras["track_links"] = extras["track_links"] or text.strip()
            elif lower.startswith("x-pm-metadata-"):
                metadata[name[len("x-pm-metadata-") :]] = text
            else:
                headers.append(Header(name=name, value=text))
        metadata.update(extras["metadata"] or {})
        common: dict[str, Any] = {
            "from_email": from_email,
            "to": list(message.to) or None,
            "cc": list(message.cc) or None,
            "bcc": list(message.bcc) or None,
            "reply_to": reply_to or None,
            "tag": extras["tag"],
            "metadata": {str(k): str(v) for k, v in metadata.items()} or None,
            "headers": headers or None,
            "attachments": [_attachment(a) for a in message.attachments] or None,
            "track_opens": _first(extras["track_opens"], self.track_opens),
            "track_links": _first(extras["track_links"], self.track_links),
            "message_stream": _first(extras["message_stream"], self.message_stream),
        }
        _check_headers(message, from_email, reply_to, headers)
        built: Email | TemplatedEmail
        if extras["template_id"] is not None or extras["template_alias"] is not None:
            built = TemplatedEmail(
                **common,
                template_id=extras["template_id"],
                template_alias=extras["template_alias"],
                template_model=dict(extras["template_model"] or {}),
                inline_css=extras["inline_css"],
            )
        else:
            text_body, html_body = _bodies(message)
            built = Email(
                **common, subject=str(message.subject), text_body=text_body, html_body=html_body
            )
        if built.recipient_count() > MAX_RECIPIENTS:
            raise ClientValidationError(
                f"a message can have at most {MAX_RECIPIENTS} recipients across To, Cc and Bcc "
                f"(got {built.recipient_count()})"
            )
        return built


def _check_headers(
    message: EmailMessage, from_email: str | None, reply_to: list[str], headers: list[Header]
) -> None:
    fields: list[tuple[str, Any]] = [("Subject", message.subject), ("From", from_email)]
    fields += [("To", a) for a in message.to] + [("Cc", a) for a in message.cc]
    fields += [("Bcc", a) for a in message.bcc] + [("Reply-To", a) for a in reply_to]
    fields += [(h.name or "", h.value) for h in headers] + [(h.name or "", h.name) for h in headers]
    for name, value in fields:
        text = "" if value is None else str(value)
        if "\n" in text or "\r" in text:
            raise HeaderInjectionError(
                f"Header values can't contain newlines (got {text!r} for header {name!r})"
            )


def _first(value: Any, default: Any) -> Any:
    return value if value is not None else default


def _addrs(values: Sequence[str]) -> list[str]:
    return sorted(a.lower() for _, a in email.utils.getaddresses(list(values)))


def _text(content: Any) -> str:
    return content.decode() if isinstance(content, bytes) else str(content)


def _bodies(message: EmailMessage) -> tuple[str | None, str | None]:
    text: str | None = None
    html: str | None = None
    if message.content_subtype == "html":
        html = _text(message.body)
    else:
        text = _text(message.body)
    for content, mimetype in getattr(message, "alternatives", None) or ():
        if mimetype == "text/html" and html is None:
            html = _text(content)
        elif mimetype == "text/plain" and not text:
            text = _text(content)
        else:
            raise ClientValidationError(
                f"Postmark sends one text and one HTML body: the {mimetype} alternative "
                "cannot be sent (attach it instead)"
            )
    if html is not None and text == "":
        text = None  # EmailMultiAlternatives with only an HTML alternative
    return text, html


def _attachment(item: Any) -> Attachment:
    if isinstance(item, email.message.Message):  # MIMEBase, MIMEImage, MIMEPart...
        return attachment_from_part(item)
    filename, content, mimetype = item
    data = content.encode() if isinstance(content, str) else bytes(content)
    name = filename or "attachment"
    if not mimetype:
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Attachment.from_bytes(name, data, mimetype)


def _refusal(result: SendResult, path: str) -> ApiError:
    """The typed error of one message Postmark refused inside a batch."""
    cls = error_class_for(422, result.error_code)
    return cls(
        result.message or "refused",
        status_code=422,
        error_code=result.error_code,
        method="POST",
        path=path,
    )


def _record(message: EmailMessage, result: SendResult | None, error: Exception | None) -> None:
    message.postmark_result = result  # type: ignore[attr-defined]
    message.postmark_message_id = result.message_id if result and result.ok else None  # type: ignore[attr-defined]
    message.postmark_error = error  # type: ignore[attr-defined]


class PostmarkMessageMixin:
    """The Postmark extras as typed keyword arguments and attributes (see :data:`EXTRAS`).

    Plain ``EmailMessage`` objects work too (set the attributes); these add
    the types, for your editor and mypy, and the typed outcome attributes.
    """

    tag: str | None
    metadata: dict[str, Any] | None
    track_opens: bool | None
    track_links: str | None
    message_stream: str | None
    template_id: int | None
    template_alias: str | None
    template_model: dict[str, Any] | None
    inline_css: bool | None
    #: Set by :meth:`EmailBackend.send_messages`.
    postmark_result: SendResult | None = None
    postmark_message_id: str | None = None
    postmark_error: Exception | None = None

    def __init__(
        self,
        *args: Any,
        tag: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        track_opens: bool | None = None,
        track_links: str | TrackLinks | None = None,
        message_stream: str | None = None,
        template_id: int | None = None,
        template_alias: str | None = None,
        template_model: Mapping[str, Any] | None = None,
        inline_css: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag
        self.metadata = dict(metadata) if metadata is not None else None
        self.track_opens = track_opens
        self.track_links = str(track_links) if track_links is not None else None
        self.message_stream = message_stream
        self.template_id = template_id
        self.template_alias = template_alias
        self.template_model = dict(template_model) if template_model is not None else None
        self.inline_css = inline_css


class PostmarkEmailMessage(PostmarkMessageMixin, EmailMessage):
    """``EmailMessage`` with the Postmark extras as keyword arguments."""


class PostmarkEmailMultiAlternatives(PostmarkMessageMixin, EmailMultiAlternatives):
    """``EmailMultiAlternatives`` with the Postmark extras as keyword arguments."""
