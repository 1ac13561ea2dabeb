"""Sending from Flask: ``Postmark(app)`` or ``Postmark().init_app(app)``.

One :class:`~postmark_kit.ServerClient` per app, built from ``app.config`` and
kept in ``app.extensions["postmark"]`` (``.client``): the webhook receiver of
the same app hands that very client to its plugins, so the app has one
connection pool, not two.

A Flask app has no "closed" hook (``teardown_appcontext`` runs after every
request), so the client is closed by :meth:`Postmark.close`, or else when the
app is garbage-collected or the interpreter exits (a ``weakref.finalize``).

Settings (declared once, in :mod:`postmark_kit.settings`; :data:`SETTINGS` lists them)::

    POSTMARK_SERVER_TOKEN     the server API token (required to send for real)
    POSTMARK_DEFAULT_SENDER   From for messages that give none
    POSTMARK_MESSAGE_STREAM   stream for messages that give none ("outbound" if unset)
    POSTMARK_TRACK_OPENS      default TrackOpens (True/False; unset: the server's setting)
    POSTMARK_TRACK_LINKS      default TrackLinks ("None", "HtmlAndText", "HtmlOnly", "TextOnly")
    POSTMARK_BASE_URL         API address (the simulator's in tests)
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs
from flask import Flask, current_app, has_app_context

from .api.email import MAX_RECIPIENTS
from .client import ServerClient
from .errors import ClientValidationError
from .models.email import Email, SendResult, TemplatedEmail
from .settings import ConfigError, SettingFields, defaults, setting
from .transport import DEFAULT_BASE_URL

__all__ = ["EXTENSION_KEY", "SETTINGS", "ConfigError", "Postmark", "PostmarkState"]

#: Where the per-app state lives: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "postmark"

#: Every setting this extension reads, with its default (declared in :mod:`postmark_kit.settings`).
SETTINGS: dict[str, Any] = defaults("flask")

Sendable = Email | TemplatedEmail


class PostmarkState:
    """What one app holds in ``app.extensions["postmark"]``.

    ``client`` is the app's :class:`~postmark_kit.ServerClient` (``None`` when
    ``POSTMARK_SERVER_TOKEN`` is unset: messages can still be recorded).
    """

    #: Which settings feed which arguments (each its :attr:`~postmark_kit.settings.Setting.field`).
    setting_fields: ClassVar[SettingFields] = SettingFields(
        ("flask",),
        computed=("client", "owns_client"),
        elsewhere=("POSTMARK_SERVER_TOKEN", "POSTMARK_BASE_URL"),  # they build the client
    )

    def __init__(
        self,
        client: ServerClient | None,
        owns_client: bool,
        *,
        default_sender: str | None,
        message_stream: str | None,
        track_opens: bool | None,
        track_links: str | None,
    ) -> None:
        self.client = client
        self.owns_client = owns_client
        self.default_sender = default_sender
        self.message_stream = message_stream
        self.track_opens = track_opens
        self.track_links = track_links
        self.closed = False
        self._outboxes: list[list[Sendable]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # no token: the client's repr has none either
        return f"<PostmarkState client={self.client!r} closed={self.closed}>"

    def close(self) -> None:
        """Close the client if this extension built it (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self.owns_client and self.client is not None:
            self.client.close()

    def fill(self, message: Sendable) -> Sendable:
        """The message with the app's defaults where it gives nothing."""
        changes: dict[str, Any] = {}
        if message.from_email is None and self.default_sender is not None:
            changes["from_email"] = self.default_sender
        if message.message_stream is None and self.message_stream is not None:
            changes["message_stream"] = self.message_stream
        if message.track_opens is None and self.track_opens is not None:
            changes["track_opens"] = self.track_opens
        if message.track_links is None and self.track_links is not None:
            changes["track_links"] = self.track_links
        return attrs.evolve(message, **changes) if changes else message


class Postmark:
    """The Flask extension.  ``Postmark(app)``, or ``postmark = Postmark()`` then
    ``postmark.init_app(app)`` in an app factory (one extension, many apps).

    ``client`` passes a client of your own (it is then never closed here).
    """

    def __init__(self, app: Flask | None = None, *, client: ServerClient | None = None) -> None:
        self._client = client
        #: The app given to the constructor: used outside an app context.
        self.app = app
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the ``POSTMARK_*`` settings and build the app's client.

        When the webhook receiver (:class:`~postmark_kit.receiver.PostmarkReceiver`)
        was set up on the app first, its client is reused rather than a second one built.
        """
        for key, default in SETTINGS.items():
            app.config.setdefault(key, default)
        try:
            setting("POSTMARK_SERVER_TOKEN").read(app.config)
        except ConfigError as exc:  # a bad token is the client's error, as ServerClient's own
            raise ClientValidationError(str(exc)) from None
        config = PostmarkState.setting_fields.read(app.config)
        old = app.extensions.get(EXTENSION_KEY)
        if isinstance(old, PostmarkState):
            old.close()
        client, owns = self._client, False
        if client is None:
            client = _receiver_client(app)
        if client is None and config["POSTMARK_SERVER_TOKEN"]:
            try:
                client = ServerClient(
                    config["POSTMARK_SERVER_TOKEN"],
                    base_url=config["POSTMARK_BASE_URL"] or DEFAULT_BASE_URL,
                )
            except ClientValidationError as exc:  # names the argument: name the setting
                raise ClientValidationError(f"POSTMARK_SERVER_TOKEN: {exc}") from None
            owns = True
        state = PostmarkState(client, owns, **PostmarkState.setting_fields.kwargs(config))
        app.extensions[EXTENSION_KEY] = state
        # No reference to the app in the callback: the finalizer must not keep it alive.
        weakref.finalize(app, state.close)

    # -- the app of the moment ---------------------------------------------

    def state(self, app: Flask | None = None) -> PostmarkState:
        """The state of ``app``, else of ``current_app``, else of the app given to the
        constructor.  Raises ``RuntimeError`` if ``init_app`` was not called on it."""
        if app is None:
            app = current_app._get_current_object() if has_app_context() else self.app  # type: ignore[attr-defined]
        if app is None:
            raise RuntimeError(
                "no Flask app: call this inside an app context (with app.app_context():) "
                "or create the extension with Postmark(app)"
            )
        state = app.extensions.get(EXTENSION_KEY)
        if not isinstance(state, PostmarkState):
            raise RuntimeError(f"Postmark.init_app was not called on the app {app.name!r}")
        return state

    @property
    def client(self) -> ServerClient:
        """The app's :class:`~postmark_kit.ServerClient`, for everything beyond sending."""
        state = self.state()
        if state.client is None:
            raise RuntimeError("POSTMARK_SERVER_TOKEN is not set: this app has no Postmark client")
        if state.closed:
            raise RuntimeError("the Postmark extension of this app was closed")
        return state.client

    def close(self, app: Flask | None = None) -> None:
        """Close the app's client (if built here).  Idempotent; also done at exit."""
        self.state(app).close()

    # -- sending ------------------------------------------------------------

    def send(self, message: Sendable | None = None, /, **fields: Any) -> SendResult:
        """Send one email: an :class:`~postmark_kit.Email` /
        :class:`~postmark_kit.TemplatedEmail`, or its fields as keyword arguments
        (``template_id``/``template_alias`` make it templated).  Keywords given with
        a model override its fields.  The app's default sender, stream and tracking
        fill what the message leaves unset.
        """
        state = self.state()
        email = state.fill(_build(message, fields))
        _validate(email)
        if state._outboxes:
            return _record(state, [email])[0]
        client = self._sending_client(state)
        if isinstance(email, TemplatedEmail):
            return client.email.send_with_template(email)
        return client.email.send(email)

    def send_batch(self, messages: Iterable[Sendable | Mapping[str, Any]]) -> list[SendResult]:
        """Send many emails through the batch API (500 a call), one result each, in order.

        Items are models or mappings of keyword arguments; all plain or all templated
        (the two are separate Postmark endpoints).  A refused message is reported in
        its result (``result.ok`` is False), not raised: see
        :meth:`EmailApi.send_batch <postmark_kit.api.email.EmailApi.send_batch>`.
        """
        state = self.state()
        emails = [
            state.fill(_build(m, {}) if not isinstance(m, Mapping) else _build(None, dict(m)))
            for m in messages
        ]
        for email in emails:
            _validate(email)
        templated = [e for e in emails if isinstance(e, TemplatedEmail)]
        if templated and len(templated) != len(emails):
            raise ClientValidationError(
                "a batch is all plain or all templated emails (two Postmark endpoints): "
                "send them in two calls"
            )
        if state._outboxes:
            return _record(state, emails)
        if not emails:
            return []
        client = self._sending_client(state)
        if templated:
            return client.email.send_batch_with_templates(templated)
        return client.email.send_batch([e for e in emails if isinstance(e, Email)])

    def _sending_client(self, state: PostmarkState) -> ServerClient:
        if state.closed:
            raise RuntimeError("the Postmark extension of this app was closed")
        if state.client is None:
            raise RuntimeError(
                "POSTMARK_SERVER_TOKEN is not set: nothing can be sent "
                "(in tests, use postmark.record_messages() or the postmark_fake fixture)"
            )
        return state.client

    # -- testing ------------------------------------------------------------

    @contextlib.contextmanager
    def record_messages(self) -> Iterator[list[Sendable]]:
        """Capture what would be sent, without any HTTP (as Flask-Mail's ``record_messages``).

        ``with postmark.record_messages() as outbox:`` -- inside the block, every
        send of this app appends the email it would send (defaults filled in) to
        ``outbox`` and returns a successful result with a made-up message id.
        Applies to the whole app (every thread) while the block runs.
        """
        state = self.state()
        outbox: list[Sendable] = []
        with state._lock:
            state._outboxes.append(outbox)
        try:
            yield outbox
        finally:
            with state._lock:
                state._outboxes.remove(outbox)


def _build(message: Sendable | None, fields: dict[str, Any]) -> Sendable:
    if message is not None:
        if not isinstance(message, Email | TemplatedEmail):
            raise ClientValidationError(
                f"expected an Email or TemplatedEmail, got {type(message).__name__}"
            )
        return attrs.evolve(message, **fields) if fields else message
    templated = "template_id" in fields or "template_alias" in fields
    cls: type[Sendable] = TemplatedEmail if templated else Email
    try:
        return cls(**fields)
    except TypeError as exc:
        names = ", ".join(a.name for a in attrs.fields(cls))
        raise ClientValidationError(f"{exc} (the fields of {cls.__name__}: {names})") from None


def _validate(email: Sendable) -> None:
    """What Postmark would refuse for certain, told before anything is sent or recorded."""
    if not email.from_email:
        raise ClientValidationError("no sender: give from_email or set POSTMARK_DEFAULT_SENDER")
    if not email.to:
        raise ClientValidationError("no recipient: give to")
    if email.recipient_count() > MAX_RECIPIENTS:
        raise ClientValidationError(
            f"a message can have at most {MAX_RECIPIENTS} recipients across To, Cc and Bcc"
        )
    if isinstance(email, Email) and email.text_body is None and email.html_body is None:
        raise ClientValidationError("no body: give text_body and/or html_body")
    if (
        isinstance(email, TemplatedEmail)
        and email.template_id is None
        and email.template_alias is None
    ):
        raise ClientValidationError("template_id or template_alias is required")


def _record(state: PostmarkState, emails: list[Sendable]) -> list[SendResult]:
    now = datetime.now(UTC)
    with state._lock:
        for outbox in state._outboxes:
            outbox.extend(emails)
    return [
        SendResult(
            to=e.to,
            submitted_at=now,
            message_id=str(uuid.uuid4()),
            error_code=0,
            message="OK (recorded, not sent)",
        )
        for e in emails
    ]


def _receiver_client(app: Flask) -> ServerClient | None:
    """The client of the webhook receiver already set up on ``app`` for the same server."""
    from .receiver.app import PostmarkReceiver

    try:
        state = PostmarkReceiver.state_for(app)
    except RuntimeError:
        return None  # no receiver, or several (each with its own settings)
    if state.closed or state.client is None:
        return None
    if state.config.server_token != app.config["POSTMARK_SERVER_TOKEN"]:
        return None  # a receiver for another Postmark server
    return state.client
