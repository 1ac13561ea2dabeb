"""``postmark-kit fake-server``: the simulator from the command line.

(``postmark-kit demo`` lives in :mod:`postmark_kit.demo`: it needs the receiver,
which the simulator package never imports.)
"""

from __future__ import annotations

import threading

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
