"""``FakePostmark``: the simulator served on loopback in a background thread."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from flask import Flask

from .hooks import DEFAULT_TIME_SCALE, Delivery, WebhookDispatcher
from .simulator import SimulatorState, create_app, create_wsgi_app
from .wsgi_server import KeepAliveWSGIServer


class FakePostmark:
    """A local Postmark to point a ``ServerClient`` at (``fake.base_url``, ``fake.server_token``).

    Binds 127.0.0.1 on a free port unless told otherwise; tokens are random per
    instance so a test cannot pass by accident with a hard-coded token.  Served
    by :class:`~postmark_kit.testing.wsgi_server.KeepAliveWSGIServer`: HTTP/1.1
    keep-alive, as Postmark, so a client's connection pool is really used.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        server_token: str | None = None,
        account_token: str | None = None,
        sender_email: str = "sender@example.com",
        retry_schedule: Sequence[float] | None = None,
        log_requests: bool = False,
        time_scale: float = DEFAULT_TIME_SCALE,
        inbound_retry_schedule: Sequence[float] | None = None,
        auto_deliver: bool = True,
        control_port: int | None = None,
    ) -> None:
        """``time_scale`` scales Postmark's webhook retry schedule (``1e-5``: hours become
        tenths of a second); ``retry_schedule``/``inbound_retry_schedule`` set the delays
        outright.  ``auto_deliver=False`` leaves sent messages undelivered until
        ``deliver``/``bounce`` is called.  ``control_port`` (0: any free port) also
        serves the control API (:mod:`postmark_kit.testing.control`) on 127.0.0.1."""
        self.host = host
        self.port = port
        self.server_token = server_token or f"fake-server-{secrets.token_hex(8)}"
        self.account_token = account_token or f"fake-account-{secrets.token_hex(8)}"
        self.sender_email = sender_email
        self.dispatcher = WebhookDispatcher(
            retry_schedule, time_scale=time_scale, inbound_retry_schedule=inbound_retry_schedule
        )
        self.state = SimulatorState(
            server_token=self.server_token,
            account_token=self.account_token,
            sender_email=sender_email,
            dispatcher=self.dispatcher,
        )
        self.state.auto_deliver = auto_deliver
        #: What the API port serves: routes shared by every simulator of the process.
        self.wsgi_app = create_wsgi_app(self.state)
        self._app: Flask | None = None
        self.log_requests = log_requests
        self._server: KeepAliveWSGIServer | None = None
        self.control_port = control_port
        self._control: KeepAliveWSGIServer | None = None

    def __repr__(self) -> str:  # never the tokens
        return f"FakePostmark(base_url={self.base_url if self._server else None!r})"

    @property
    def app(self) -> Flask:
        """A Flask app of its own serving this simulator's state (built on first use).

        For ``app.test_client()`` or mounting in your WSGI stack; the port
        serves the same state through :attr:`wsgi_app`.
        """
        if self._app is None:
            self._app = create_app(self.state)
        return self._app

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "FakePostmark is not running; use it as a context manager or call start()."
            )
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> Self:
        access_log = sys.stderr if self.log_requests else None
        if self._server is None:
            self._server = KeepAliveWSGIServer(
                self.wsgi_app, self.host, self.port, access_log=access_log, name="fake-postmark"
            ).start()
        if self.control_port is not None and self._control is None:
            from .control import create_control_app

            # loopback only, whatever ``host`` is: the control API takes no token
            self._control = KeepAliveWSGIServer(
                create_control_app(self),
                "127.0.0.1",
                self.control_port,
                access_log=access_log,
                name="fake-postmark-control",
            ).start()
        return self

    @property
    def connections_accepted(self) -> int:
        """TCP connections the API port has accepted so far.

        The simulator keeps connections alive as Postmark does, so a client
        that pools its connections reuses one: this counts how many it opened.
        """
        if self._server is None:
            raise RuntimeError("FakePostmark is not running.")
        return self._server.connections_accepted

    @property
    def control_url(self) -> str:
        """Where the control API listens (``control_port`` must have been given)."""
        if self._control is None:
            raise RuntimeError("No control API: pass control_port= (0 for any free port).")
        return f"http://127.0.0.1:{self._control.server_port}"

    def stop(self) -> None:
        """Close both ports and every open (keep-alive) connection; stop webhook delivery."""
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.dispatcher.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test helpers: things a recipient or Postmark does ----------------

    def reset(self) -> None:
        """Forget every message, template, webhook... (tokens and URL stay)."""
        self.wait_for_webhooks(timeout=5)
        auto_deliver = self.state.auto_deliver
        self.state.reset()
        self.state.auto_deliver = auto_deliver
        with self.dispatcher._lock:
            self.dispatcher.deliveries.clear()

    def open(
        self,
        message_id: str,
        recipient: str | None = None,
        *,
        platform: str = "Desktop",
        client: str | None = None,
        read_seconds: int = 5,
    ) -> dict[str, Any]:
        """Simulate the recipient opening the message (fires Open webhooks).

        ``platform``, ``client`` and ``read_seconds`` feed the open breakdown stats.
        """
        with self.state.lock:
            return self.state.open(
                message_id, recipient, platform=platform, client=client, read_seconds=read_seconds
            )

    def click(
        self,
        message_id: str,
        link: str,
        recipient: str | None = None,
        *,
        platform: str = "Desktop",
        browser: str | None = None,
        location: str = "HTML",
    ) -> dict[str, Any]:
        """Simulate a tracked link click (fires Click webhooks).

        ``platform``, ``browser`` and ``location`` feed the click breakdown stats.
        """
        with self.state.lock:
            return self.state.click(
                message_id, link, recipient, platform=platform, browser=browser, location=location
            )

    def spam_complaint(self, message_id: str, recipient: str | None = None) -> dict[str, Any]:
        """Simulate a spam complaint: records it, suppresses the recipient, fires webhooks."""
        with self.state.lock:
            return self.state.spam_complaint(message_id, recipient)

    def deliver(self, message_id: str, recipient: str | None = None) -> dict[str, Any]:
        """Deliver a message to a recipient (fires Delivery webhooks).

        Sent messages are delivered at once unless the simulator was made with
        ``auto_deliver=False``; delivering twice raises ``SimulationError``.
        """
        with self.state.lock:
            msg = self.state.message(message_id)
            return self.state.deliver(msg, self.state.recipient_of(msg, recipient))

    def bounce(
        self, message_id: str, recipient: str | None = None, *, type: str = "HardBounce"
    ) -> dict[str, Any]:
        """Bounce a message (``type``: any Postmark bounce type; fires Bounce webhooks).

        A type that deactivates the address (HardBounce, BadEmailAddress,
        ManuallyDeactivated) suppresses it and fires SubscriptionChange webhooks too.
        """
        with self.state.lock:
            msg = self.state.message(message_id)
            return self.state.bounce(msg, self.state.recipient_of(msg, recipient), type)

    def subscription_change(
        self,
        message_id: str,
        recipient: str | None = None,
        *,
        suppress: bool = True,
        origin: str = "Recipient",
    ) -> dict[str, Any]:
        """The recipient unsubscribes (``suppress=False``: is reactivated); fires webhooks."""
        with self.state.lock:
            msg = self.state.message(message_id)
            who = self.state.recipient_of(msg, recipient)
            return self.state.subscription_change(msg, who, suppress=suppress, origin=origin)

    def inject_inbound(self, **fields: Any) -> dict[str, Any]:
        """Receive an inbound email (Postmark field names: From, To, Subject, TextBody...).

        ``MailboxHash`` comes from a ``+hash`` in ``To`` unless given; ``Metadata``
        and ``Attachments`` (``Name``, ``Content`` as base64 or bytes, ``ContentType``,
        ``ContentID``, ``Disposition``) are posted as Postmark posts them.
        """
        with self.state.lock:
            return self.state.inject_inbound(**fields)

    inbound = inject_inbound

    def add_sender(self, email: str, *, confirmed: bool = True, name: str = "Sender") -> None:
        """Add a sender signature (``confirmed=False`` to test error 401)."""
        with self.state.lock:
            sid = self.state.next_id() + 1000
            self.state.senders[sid] = {
                "ID": sid,
                "Domain": email.split("@", 1)[1],
                "EmailAddress": email,
                "ReplyToEmailAddress": "",
                "Name": name,
                "Confirmed": confirmed,
            }

    def add_domain(self, name: str, *, verified: bool = True) -> dict[str, Any]:
        """Add a sender domain; a verified one lets you send from any address at it."""
        with self.state.lock:
            return self.state.add_domain(name, verified=verified)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook POST queued so far, with attempts and final status."""
        with self.dispatcher._lock:
            return list(self.dispatcher.deliveries)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until queued webhook deliveries are done; False on timeout."""
        return self.dispatcher.join(timeout)
