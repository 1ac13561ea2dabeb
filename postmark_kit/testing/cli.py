"""``postmark-kit fake-server`` and ``postmark-kit demo``: the simulator from the command line."""

from __future__ import annotations

import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import click

from .server import FakePostmark


@click.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=0, type=int, help="Port (default: any free port).")
@click.option("--server-token", default=None, help="Server token to accept (default: random).")
@click.option("--account-token", default=None, help="Account token to accept (default: random).")
@click.option("--quiet", is_flag=True, help="Do not log requests.")
def fake_server(
    host: str, port: int, server_token: str | None, account_token: str | None, quiet: bool
) -> None:
    """Run the local Postmark simulator until Ctrl-C.

    Its tokens are printed on purpose: they are local test credentials, not secrets.
    """
    fake = FakePostmark(
        host=host,
        port=port,
        server_token=server_token,
        account_token=account_token,
        log_requests=not quiet,
    )
    with fake:
        click.echo(f"Fake Postmark listening on {fake.base_url}")
        click.echo(f"  server token:  {fake.server_token}")
        click.echo(f"  account token: {fake.account_token}")
        click.echo(f"  sender:        {fake.sender_email}")
        click.echo(
            f"  export POSTMARK_BASE_URL={fake.base_url} POSTMARK_SERVER_TOKEN={fake.server_token}"
        )
        click.echo("Press Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("Stopping.")


@click.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for webhooks.")
def demo(timeout: float) -> None:
    """Run the whole loop offline: simulator -> webhooks -> receiver -> SQLite store."""
    from werkzeug.serving import make_server

    from ..client import ServerClient
    from ..models.email import Email
    from ..models.webhooks import (
        BounceTrigger,
        HttpAuth,
        OpenTrigger,
        SpamComplaintTrigger,
        Trigger,
        WebhookTriggers,
    )
    from ..plugins.store import EventStore
    from ..receiver import PostmarkReceiver, create_app
    from .app import HARD_BOUNCE_ADDRESS
    from .server import _QuietHandler

    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="postmark-kit-demo-") as tmp:
        store_path = Path(tmp) / "events.sqlite3"
        journal_path = Path(tmp) / "journal.sqlite3"
        receiver_app = create_app(
            {
                "POSTMARK_EVENT_STORE": str(store_path),
                "POSTMARK_JOURNAL": str(journal_path),
                "POSTMARK_JOURNAL_POLL": 0.05,
                "POSTMARK_URL_PREFIX": "/postmark",
                "POSTMARK_LOG_EVENTS": False,
                "POSTMARK_LOAD_ENTRYPOINTS": False,
                "POSTMARK_WEBHOOK_USERNAME": "demo",
                "POSTMARK_WEBHOOK_PASSWORD": password,
            }
        )
        receiver = make_server(
            "127.0.0.1", 0, receiver_app, threaded=True, request_handler=_QuietHandler
        )
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        hook_url = f"http://127.0.0.1:{receiver.server_port}/postmark/webhook"
        try:
            with (
                FakePostmark() as fake,
                ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as client,
            ):
                click.echo(f"Simulator: {fake.base_url}   Receiver: {hook_url}")
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
                inbound_url = (
                    f"http://demo:{password}@127.0.0.1:{receiver.server_port}/postmark/webhook"
                )
                client.server.update(inbound_hook_url=inbound_url)

                sent = []
                for to in ("alice@example.org", "bob@example.org", HARD_BOUNCE_ADDRESS):
                    result = client.email.send(
                        Email(
                            from_email=fake.sender_email,
                            to=to,
                            subject="Welcome to the demo",
                            html_body='<p>Hi! <a href="https://example.org/start">Start</a></p>',
                            tag="demo",
                            track_opens=True,
                            track_links="HtmlAndText",
                        )
                    )
                    click.echo(f"  sent to {to}: {result.message_id}")
                    sent.append(result.message_id or "")
                fake.open(sent[0])
                fake.click(sent[0], "https://example.org/start")
                fake.spam_complaint(sent[1])
                fake.inject_inbound(
                    From="customer@example.net",
                    To="support+ticket-1@inbound.example.com",
                    Subject="Question",
                    TextBody="How do I start?",
                )
                drained = fake.wait_for_webhooks(timeout=timeout)
                deliveries = fake.deliveries
                # The receiver answered once each event was journaled; its worker
                # stores them just after.
                drained = drained and _journal_settles(journal_path, timeout)
        finally:
            receiver.shutdown()
            receiver.server_close()
            thread.join(timeout=5)
            PostmarkReceiver.shutdown(receiver_app)

        posted = Counter(d.record_type for d in deliveries if d.delivered)
        failed = [d for d in deliveries if not d.delivered]
        store = EventStore(store_path, create=False)
        try:
            rows = store.query(limit=None)
        finally:
            store.close()
        stored = Counter(r.record_type or r.kind for r in rows)

        click.echo("\nWebhooks delivered by the simulator:")
        for kind, n in sorted(posted.items()):
            click.echo(f"  {kind:<20} {n}")
        click.echo(f"Rows in the receiver's event store ({len(rows)} total):")
        for kind, n in sorted(stored.items()):
            click.echo(f"  {kind:<20} {n}")
        if not drained or failed or posted != stored:
            click.echo(
                f"Error: {len(failed)} webhook(s) not delivered; stored rows do not match.",
                err=True,
            )
            sys.exit(1)
        click.echo("All webhooks arrived and were stored.")


def _journal_settles(path: Path, timeout: float) -> bool:
    """Wait until the receiver's worker has dispatched every journaled event."""
    from ..receiver.journal import WebhookJournal

    journal = WebhookJournal(path, create=False)
    try:
        deadline = time.monotonic() + timeout
        while journal.counts()["pending"]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
    finally:
        journal.close()
