"""``postmark-kit demo``: the whole loop on this machine, told as it runs.

The local Postmark (the simulator) sends mail and posts webhooks to the real
receiver (journal mode, SQLite event store, a plugin that calls the client back),
all on 127.0.0.1, with no token and no network.  It lives on the CLI side: the
simulator package never imports the receiver.
"""

from __future__ import annotations

import secrets
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .client import ServerClient
    from .events import BounceEvent
    from .plugins.store import StoredEvent

__all__ = ["BounceAlert", "demo"]

SUPPORT = "support@example.org"
WELCOMED = ("alice@example.org", "bob@example.org")
LINK = "https://example.org/start"


class BounceAlert:
    """The demo's own plugin: a hard bounce makes it email support, through the callback client."""

    plugin_name = "bounce-alert"

    def __init__(self, sender: str) -> None:
        self.sender = sender
        #: (bounced address, MessageID of the alert sent about it)
        self.alerts: list[tuple[str, str | None]] = []

    @hookimpl
    def postmark_bounce(self, event: BounceEvent, client: ServerClient | None) -> None:
        from .models.email import Email

        if event.type != "HardBounce" or client is None or event.email is None:
            return
        result = client.email.send(
            Email(
                from_email=self.sender,
                to=SUPPORT,
                subject=f"Address bounced: {event.email}",
                text_body=f"{event.email} hard-bounced: {event.description}",
                tag="bounce-alert",
            )
        )
        self.alerts.append((event.email, result.message_id))


def _say(text: str = "") -> None:
    click.echo(text)


def _wait_until_idle(fake: Any, journal_path: Path, timeout: float) -> bool:
    """Until the simulator has posted everything and the receiver's worker ran every plugin.

    Quiet once is enough, in this order: the simulator has nothing queued (each
    webhook it posted is journaled: the receiver answers after the commit), the
    journal has nothing pending (every plugin returned), and the simulator still
    has nothing queued (a plugin's callback mail queues its webhook before the
    send returns, so before its event is done).
    """
    from .receiver.journal import WebhookJournal

    deadline = time.monotonic() + timeout
    pause = 0.002
    journal = WebhookJournal(journal_path, create=False)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not fake.wait_for_webhooks(timeout=left):
                return False
            if journal.counts()["pending"]:  # the worker is on it: look again soon
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            if fake.wait_for_webhooks(timeout=0):
                return True
    finally:
        journal.close()


def _quiet_handler() -> type[Any]:
    """A request handler that does not log each request (the story is the output)."""
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    return Quiet


def _describe(row: StoredEvent, alert_ids: set[str]) -> str:
    """One line a newcomer can read: what happened, to whom (and why, for a bounce)."""
    p = row.payload
    who = row.recipient or ""
    label = f"{row.record_type or row.kind:<19}"
    if row.kind == "delivery":
        mine = (
            f" (the mail {BounceAlert.plugin_name!r} sent)" if row.message_id in alert_ids else ""
        )
        return f"{label} {who}: accepted by the recipient's mail server{mine}"
    if row.kind == "bounce":
        return f"{label} {who}: {p.get('Type')}, {p.get('Description')} ({p.get('Details')})"
    if row.kind == "subscription_change":
        state = "suppressed" if p.get("SuppressSending") else "reactivated"
        return (
            f"{label} {who}: {state} (reason: {p.get('SuppressionReason')}); "
            "Postmark now refuses to send to it"
        )
    if row.kind == "open":
        return f"{label} {who} opened the message"
    if row.kind == "click":
        return f"{label} {who} clicked {p.get('OriginalLink')}"
    if row.kind == "spam_complaint":
        return f"{label} {who} marked the message as spam"
    if row.kind == "inbound":
        subject = p.get("Subject")
        return f"{label} from {p.get('From')} to {p.get('OriginalRecipient')}: {subject!r}"
    return f"{label} {who}"


def _plugins_for(pm: Any) -> Callable[[str], list[str]]:
    """kind -> the names of the plugins that implement a hook for it."""

    def names(kind: str) -> list[str]:
        found: list[str] = []
        for hook in ("postmark_event", f"postmark_{kind}"):
            caller = getattr(pm.hook, hook, None)
            for impl in caller.get_hookimpls() if caller is not None else ():
                if impl.plugin_name not in found:
                    found.append(impl.plugin_name)
        return found

    return names


@click.command()
@click.option(
    "--store",
    "store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite event store to keep the events in (default: a new temporary folder).",
)
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for webhooks.")
def demo(store: Path | None, timeout: float) -> None:
    """See Postmark's whole loop offline: send mail, bounce, open, click, complain, reply.

    A local Postmark (the simulator) posts its webhooks to the receiver, which
    runs plugins and keeps every event in an SQLite store you can query
    afterwards with ``postmark-kit events``.  Nothing leaves 127.0.0.1.

    \b
    Example:
      postmark-kit demo --store demo-events.sqlite3
    """
    from werkzeug.serving import make_server

    from .client import ServerClient
    from .errors import PostmarkError
    from .models.email import Email
    from .models.webhooks import (
        BounceTrigger,
        HttpAuth,
        OpenTrigger,
        SpamComplaintTrigger,
        Trigger,
        WebhookTriggers,
    )
    from .plugins.store import EventStore, StoreError
    from .receiver import ConfigError, PostmarkReceiver, create_app
    from .receiver.journal import JournalError
    from .testing import HARD_BOUNCE_ADDRESS, FakePostmark

    if store is None:
        store = Path(tempfile.mkdtemp(prefix="postmark-kit-demo-")) / "events.sqlite3"
    store = store.resolve()
    journal_path = store.with_name(store.stem + "-journal.sqlite3")
    started = datetime.now(UTC) - timedelta(seconds=1)
    password = secrets.token_urlsafe(12)

    _say("postmark-kit demo: Postmark's whole loop on this machine (no token, no network).\n")
    fake = FakePostmark().start()
    alert = BounceAlert(fake.sender_email)
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        receiver_app = create_app(
            {
                "POSTMARK_SERVER_TOKEN": fake.server_token,
                "POSTMARK_BASE_URL": fake.base_url,
                "POSTMARK_EVENT_STORE": str(store),
                "POSTMARK_JOURNAL": str(journal_path),
                "POSTMARK_JOURNAL_POLL": 0.05,
                "POSTMARK_URL_PREFIX": "/postmark",
                "POSTMARK_LOG_EVENTS": False,
                "POSTMARK_LOAD_ENTRYPOINTS": False,
                "POSTMARK_WEBHOOK_USERNAME": "demo",
                "POSTMARK_WEBHOOK_PASSWORD": password,
            },
            plugins=[alert],
        )
    except (OSError, sqlite3.Error, StoreError, ConfigError, JournalError) as exc:
        fake.stop()
        click.echo(f"Error: cannot keep the demo's events in {store}: {exc}", err=True)
        sys.exit(1)
    plugins_for = _plugins_for(PostmarkReceiver.plugin_manager(receiver_app))
    receiver = make_server(
        "127.0.0.1", 0, receiver_app, threaded=True, request_handler=_quiet_handler()
    )
    # A short poll: shutting down waits for the serve loop to look (0.5 s by default).
    thread = threading.Thread(
        target=receiver.serve_forever,
        kwargs={"poll_interval": 0.02},
        name="demo-receiver",
        daemon=True,
    )
    thread.start()
    hook_url = f"http://127.0.0.1:{receiver.server_port}/postmark/webhook"
    settled = False
    try:
        with ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as client:
            _say("1. Setting up")
            _say(f"   A local Postmark (the simulator) runs at {fake.base_url}.")
            _say(f"   The webhook receiver runs at {hook_url} (journal mode),")
            _say("   with two plugins: the event store, which keeps every event in")
            _say(f"   {store},")
            _say(f"   and {alert.plugin_name!r}, a demo plugin that emails {SUPPORT} when an")
            _say("   address hard-bounces, through the client the receiver hands to plugins.")
            on = Trigger(enabled=True)
            client.webhooks.create(
                url=hook_url,
                http_auth=HttpAuth(username="demo", password=password),
                triggers=WebhookTriggers(
                    open=OpenTrigger(enabled=True),
                    click=on,
                    delivery=on,
                    bounce=BounceTrigger(enabled=True),
                    spam_complaint=SpamComplaintTrigger(enabled=True),
                    subscription_change=on,
                ),
            )
            client.server.update(
                inbound_hook_url=f"http://demo:{password}@127.0.0.1:{receiver.server_port}"
                "/postmark/webhook"
            )
            _say("   The simulator's webhooks (every trigger) and its inbound hook point at it.\n")

            _say(f"2. Sending a welcome mail from {fake.sender_email} (opens and links tracked)")
            sent: dict[str, str] = {}
            for to in (*WELCOMED, HARD_BOUNCE_ADDRESS):
                result = client.email.send(
                    Email(
                        from_email=fake.sender_email,
                        to=to,
                        subject="Welcome to the demo",
                        html_body=f'<p>Hi! <a href="{LINK}">Start here</a></p>',
                        tag="welcome",
                        track_opens=True,
                        track_links="HtmlAndText",
                    )
                )
                sent[to] = result.message_id or ""
                _say(f"   to {to}: accepted, MessageID {result.message_id}")
            _say(
                f"   {HARD_BOUNCE_ADDRESS} is Postmark's hard-bounce test address:"
                " that mail will bounce.\n"
            )

            alice, bob = WELCOMED
            _say("3. Simulating what the recipients do")
            fake.open(sent[alice])
            _say(f"   {alice} opens the mail")
            fake.click(sent[alice], LINK)
            _say(f"   {alice} clicks {LINK}")
            fake.spam_complaint(sent[bob])
            _say(f"   {bob} marks it as spam (a spam complaint)")
            fake.inject_inbound(
                From="customer@example.net",
                To="support+ticket-1@inbound.example.com",
                Subject="How do I start?",
                TextBody="Hello, where do I begin?",
            )
            _say(
                "   customer@example.net writes to support+ticket-1@inbound.example.com"
                " (an inbound message)\n"
            )
            settled = _wait_until_idle(fake, journal_path, timeout)
            deliveries = fake.deliveries
    except PostmarkError as exc:
        click.echo(f"Error: the simulator refused a call: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo(f"Interrupted; the events stored so far are in {store}.", err=True)
        sys.exit(130)
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=5)
        PostmarkReceiver.shutdown(receiver_app)
        fake.stop()

    try:
        reader = EventStore(store, create=False)
    except StoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    try:
        rows = reader.query(since=started, limit=None, newest_first=False)
    finally:
        reader.close()

    alert_ids = {m for _, m in alert.alerts if m}
    _say("4. The webhooks, in the order the receiver got them, and the plugins each reached")
    for row in rows:
        _say(f"   {_describe(row, alert_ids)}")
        _say(f"      -> {', '.join(plugins_for(row.kind))}")
    _say("")
    _say("5. A plugin calling the client back")
    if alert.alerts:
        for address, message_id in alert.alerts:
            _say(f"   {alert.plugin_name!r} got the hard bounce of {address} and emailed")
            _say(f"   {SUPPORT} about it through the callback client (MessageID {message_id});")
            _say(f"   the Delivery webhook of that mail to {SUPPORT} is listed above.")
    else:
        _say(f"   {alert.plugin_name!r} did not get the hard bounce.")
    _say("")

    failed = [d for d in deliveries if not d.delivered]
    if not settled or failed or len(rows) != len(deliveries):
        click.echo(
            f"Error: {len(deliveries)} webhook(s) posted, {len(failed)} not accepted, "
            f"{len(rows)} stored: something did not arrive (store: {store}).",
            err=True,
        )
        sys.exit(1)

    events = f"postmark-kit events --store {shlex.quote(str(store))}"
    _say(f"All {len(rows)} webhooks arrived and are kept in {store}. Read them with:")
    _say(f"   {events} list")
    _say(f"   {events} list --kind bounce")
    bounce = next((r for r in rows if r.kind == "bounce"), rows[0])
    _say(f"   {events} show {bounce.id}")
    _say("")
    _say("Next steps:")
    _say("   1. Write a plugin reacting to events (a bounce, an inbound message): docs/plugins.md")
    _say("   2. Receive Postmark's real webhooks: postmark-kit serve (docs/receiving.md,")
    _say("      docs/deploying.md)")
    _say("   3. Test your own app against the simulator with the pytest fixtures postmark_fake,")
    _say("      postmark_client and postmark_webhooks_into: docs/testing.md")
