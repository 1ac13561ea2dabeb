"""``postmark-kit``: the command line.

Tokens come from ``--server-token`` or ``POSTMARK_SERVER_TOKEN`` (and
``POSTMARK_ACCOUNT_TOKEN``) and are never echoed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._version import __version__
from .client import ServerClient
from .convert import unstructure
from .errors import PostmarkError
from .models.common import Attachment
from .models.email import Email
from .transport import DEFAULT_BASE_URL


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="postmark-kit")
def main() -> None:
    """postmark-kit: send and query email through Postmark, receive its webhooks."""


@main.command()
@click.option("--from", "from_email", required=True, help="Sender address (a confirmed signature).")
@click.option("--to", "to", required=True, multiple=True, help="Recipient; repeat for several.")
@click.option("--cc", multiple=True, help="Cc recipient; repeat for several.")
@click.option("--bcc", multiple=True, help="Bcc recipient; repeat for several.")
@click.option("--subject", default=None)
@click.option("--text", "text_body", default=None, help="Plain-text body.")
@click.option("--html", "html_body", default=None, help="HTML body.")
@click.option("--tag", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID.")
@click.option(
    "--metadata", multiple=True, metavar="KEY=VALUE", help="Metadata pair; repeat for several."
)
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the JSON that would be sent; send nothing.")
@click.option("--server-token", envvar="POSTMARK_SERVER_TOKEN", default=None, show_envvar=True)
@click.option("--base-url", envvar="POSTMARK_BASE_URL", default=DEFAULT_BASE_URL, show_default=True)
def send(
    from_email: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    subject: str | None,
    text_body: str | None,
    html_body: str | None,
    tag: str | None,
    message_stream: str | None,
    metadata: tuple[str, ...],
    attach: tuple[str, ...],
    dry_run: bool,
    server_token: str | None,
    base_url: str,
) -> None:
    """Send one email (or, with --dry-run, show the request without sending)."""
    meta: dict[str, str] = {}
    for pair in metadata:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--metadata expects KEY=VALUE, got {pair!r}", 2)
        meta[key] = value
    if text_body is None and html_body is None:
        _fail("give --text or --html (Postmark needs a body)", 2)
    email = Email(
        from_email=from_email,
        to=list(to),
        cc=list(cc) or None,
        bcc=list(bcc) or None,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        tag=tag,
        message_stream=message_stream,
        metadata=meta or None,
        attachments=[Attachment.from_path(p) for p in attach] or None,
    )
    if dry_run:
        click.echo(json.dumps(unstructure(email), indent=2, ensure_ascii=False))
        return
    if not server_token:
        _fail("no server token: pass --server-token or set POSTMARK_SERVER_TOKEN", 2)
    assert server_token is not None
    try:
        with ServerClient(server_token, base_url=base_url) as client:
            result = client.email.send(email)
    except PostmarkError as exc:
        _fail(str(exc))
    out: dict[str, Any] = {
        "MessageID": result.message_id,
        "To": result.to,
        "SubmittedAt": result.submitted_at.isoformat() if result.submitted_at else None,
    }
    click.echo(json.dumps(out))


if __name__ == "__main__":  # pragma: no cover
    main()
