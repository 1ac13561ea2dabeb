"""``postmark-kit fake-server`` and ``postmark-kit fake ...``: the simulator from the command line.

``fake-server`` serves the simulator and its control API (loopback only);
``fake open|click|bounce|deliver|complain|subscription|inbound|messages|webhooks|reset``
call that control API, found with ``--control`` or ``POSTMARK_FAKE_CONTROL``.

(``postmark-kit demo`` lives in :mod:`postmark_kit.demo`: it needs the receiver,
which the simulator package never imports.)
"""

from __future__ import annotations

import base64
import json
import mimetypes
import threading
from pathlib import Path
from typing import Any

import click
import requests

from ..settings import env
from .server import FakePostmark


@click.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=0, type=int, help="Port (default: any free port).")
@click.option("--server-token", default=None, help="Server token to accept (default: random).")
@click.option("--account-token", default=None, help="Account token to accept (default: random).")
@click.option("--quiet", is_flag=True, help="Do not log requests.")
@click.option(
    "--control-port",
    default=0,
    type=int,
    show_default=True,
    help="Port of the control API on 127.0.0.1 (0: any free port; -1: none).",
)
@click.option(
    "--no-auto-deliver",
    is_flag=True,
    help="Leave sent mail undelivered until 'postmark-kit fake deliver/bounce'.",
)
def fake_server(
    host: str,
    port: int,
    server_token: str | None,
    account_token: str | None,
    quiet: bool,
    control_port: int,
    no_auto_deliver: bool,
) -> None:
    """Run the local Postmark simulator until Ctrl-C.

    Its tokens are printed on purpose: they are local test credentials, not secrets.

    \b
    Example:
      postmark-kit fake-server --port 8025
    """
    fake = FakePostmark(
        host=host,
        port=port,
        server_token=server_token,
        account_token=account_token,
        log_requests=not quiet,
        control_port=None if control_port < 0 else control_port,
        auto_deliver=not no_auto_deliver,
    )
    with fake:
        click.echo(f"Fake Postmark listening on {fake.base_url}")
        click.echo(f"  server token:  {fake.server_token}")
        click.echo(f"  account token: {fake.account_token}")
        click.echo(f"  sender:        {fake.sender_email}")
        click.echo(
            f"  export POSTMARK_BASE_URL={fake.base_url} POSTMARK_SERVER_TOKEN={fake.server_token}"
        )
        if fake.control_port is not None:
            click.echo(f"  control API:   {fake.control_url}  (loopback only)")
            click.echo(f"  export POSTMARK_FAKE_CONTROL={fake.control_url}")
        click.echo("Press Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("Stopping.")


# -- postmark-kit fake ... : the control API's client --------------------------------


class _Control:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = requests.request(
                method,
                self.url + path,
                json=body if method != "GET" else None,
                timeout=(5, 130),
            )
        except requests.RequestException as exc:
            raise click.ClickException(
                f"cannot reach the simulator's control API at {self.url} "
                f"({type(exc).__name__}); is 'postmark-kit fake-server' running?"
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = {"Message": resp.text[:200]}
        if resp.status_code >= 400:
            message = data.get("Message") if isinstance(data, dict) else None
            raise click.ClickException(f"{resp.status_code}: {message or resp.reason}")
        return data


def _show(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@click.group()
@click.option(
    "--control",
    envvar=env("POSTMARK_FAKE_CONTROL"),
    required=True,
    metavar="URL",
    help="The control API URL 'fake-server' printed (or set POSTMARK_FAKE_CONTROL).",
)
@click.pass_context
def fake(ctx: click.Context, control: str) -> None:
    """Make a running 'postmark-kit fake-server' report events (opens, bounces, inbound...).

    Each command prints the webhook payload the simulator posted, as JSON.

    \b
    Example:
      postmark-kit fake --control http://127.0.0.1:8026 bounce MESSAGE_ID
    """
    ctx.obj = _Control(control)


_recipient = click.option(
    "--recipient", default=None, help="Which recipient (default: the message's first)."
)


@fake.command("messages")
@click.pass_obj
def fake_messages(control: _Control) -> None:
    """List sent messages (newest first) with their IDs and tracking settings.

    \b
    Example:
      postmark-kit fake messages
    """
    _show(control.call("GET", "/messages"))


@fake.command("deliver")
@click.argument("message_id")
@_recipient
@click.pass_obj
def fake_deliver(control: _Control, message_id: str, recipient: str | None) -> None:
    """Deliver a message (with fake-server --no-auto-deliver).

    \b
    Example:
      postmark-kit fake deliver MESSAGE_ID
    """
    _show(control.call("POST", f"/messages/{message_id}/deliver", _drop_none(Recipient=recipient)))


@fake.command("bounce")
@click.argument("message_id")
@_recipient
@click.option("--type", "bounce_type", default="HardBounce", show_default=True)
@click.pass_obj
def fake_bounce(
    control: _Control, message_id: str, recipient: str | None, bounce_type: str
) -> None:
    """Bounce a message (any Postmark bounce type: HardBounce, SoftBounce, Transient...).

    \b
    Example:
      postmark-kit fake bounce MESSAGE_ID --type SoftBounce
    """
    body = _drop_none(Recipient=recipient, Type=bounce_type)
    _show(control.call("POST", f"/messages/{message_id}/bounce", body))


@fake.command("open")
@click.argument("message_id")
@_recipient
@click.option("--platform", default=None, help="Desktop, Mobile, WebMail...")
@click.option("--client", "mail_client", default=None, help="Email client family.")
@click.option("--read-seconds", type=int, default=None)
@click.pass_obj
def fake_open(
    control: _Control,
    message_id: str,
    recipient: str | None,
    platform: str | None,
    mail_client: str | None,
    read_seconds: int | None,
) -> None:
    """Open a message (it must have been sent with open tracking).

    \b
    Example:
      postmark-kit fake open MESSAGE_ID --platform Mobile
    """
    body = _drop_none(
        Recipient=recipient, Platform=platform, Client=mail_client, ReadSeconds=read_seconds
    )
    _show(control.call("POST", f"/messages/{message_id}/open", body))


@fake.command("click")
@click.argument("message_id")
@click.argument("link")
@_recipient
@click.option("--location", type=click.Choice(["HTML", "Text"]), default=None)
@click.option("--platform", default=None)
@click.option("--browser", default=None)
@click.pass_obj
def fake_click(
    control: _Control,
    message_id: str,
    link: str,
    recipient: str | None,
    location: str | None,
    platform: str | None,
    browser: str | None,
) -> None:
    """Click a tracked link of a message (sent with link tracking, LINK in its body).

    \b
    Example:
      postmark-kit fake click MESSAGE_ID https://example.com/start
    """
    body = _drop_none(
        Link=link, Recipient=recipient, Location=location, Platform=platform, Browser=browser
    )
    _show(control.call("POST", f"/messages/{message_id}/click", body))


@fake.command("complain")
@click.argument("message_id")
@_recipient
@click.pass_obj
def fake_complain(control: _Control, message_id: str, recipient: str | None) -> None:
    """Mark a message as spam (a spam complaint; the recipient is suppressed).

    \b
    Example:
      postmark-kit fake complain MESSAGE_ID
    """
    body = _drop_none(Recipient=recipient)
    _show(control.call("POST", f"/messages/{message_id}/complain", body))


@fake.command("subscription")
@click.argument("message_id")
@_recipient
@click.option("--resubscribe", is_flag=True, help="Reactivate instead of unsubscribing.")
@click.pass_obj
def fake_subscription(
    control: _Control, message_id: str, recipient: str | None, resubscribe: bool
) -> None:
    """Unsubscribe the recipient (a subscription change), or --resubscribe.

    \b
    Example:
      postmark-kit fake subscription MESSAGE_ID --resubscribe
    """
    body = _drop_none(Recipient=recipient, SuppressSending=not resubscribe)
    _show(control.call("POST", f"/messages/{message_id}/subscription", body))


@fake.command("inbound")
@click.option("--from", "from_", default="sender@example.com", show_default=True)
@click.option("--to", default=None, help="Default: the server's inbound address.")
@click.option("--subject", default="")
@click.option("--text", default="", help="Text body.")
@click.option("--html", default="", help="HTML body.")
@click.option("--mailbox-hash", default=None, help="Default: the +hash of --to.")
@click.option("--tag", default=None)
@click.option("--metadata", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to attach (repeatable).",
)
@click.pass_obj
def fake_inbound(
    control: _Control,
    from_: str,
    to: str | None,
    subject: str,
    text: str,
    html: str,
    mailbox_hash: str | None,
    tag: str | None,
    metadata: tuple[str, ...],
    attach: tuple[Path, ...],
) -> None:
    """Receive an inbound email (posted to the server's inbound hook URL).

    \b
    Example:
      postmark-kit fake inbound --from ada@example.com --subject Hi --text Hello
    """
    pairs = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--metadata")
        pairs[key] = value
    attachments = [
        {
            "Name": path.name,
            "Content": base64.b64encode(path.read_bytes()).decode(),
            "ContentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        }
        for path in attach
    ]
    body = _drop_none(
        From=from_,
        To=to,
        Subject=subject,
        TextBody=text,
        HtmlBody=html,
        MailboxHash=mailbox_hash,
        Tag=tag,
        Metadata=pairs or None,
        Attachments=attachments or None,
    )
    _show(control.call("POST", "/inbound", body))


@fake.command("webhooks")
@click.option("--wait", "wait_seconds", type=float, default=None, help="Wait until settled.")
@click.pass_obj
def fake_webhooks(control: _Control, wait_seconds: float | None) -> None:
    """List the webhook POSTs the simulator made and their outcome.

    \b
    Example:
      postmark-kit fake webhooks --wait 5
    """
    if wait_seconds is not None:
        control.call("POST", "/wait", {"Timeout": wait_seconds})
    _show(control.call("GET", "/webhooks"))


@fake.command("reset")
@click.pass_obj
def fake_reset(control: _Control) -> None:
    """Forget every message, template, webhook... (the tokens stay).

    \b
    Example:
      postmark-kit fake reset
    """
    _show(control.call("POST", "/reset"))


# -- postmark-kit render-template: Postmark's template language offline -------------


def _read_source(path: Path) -> str:
    """A template file's text; unreadable or not UTF-8 is one line, not a traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None


@click.command("render-template")
@click.argument("template", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A JSON file with the template model (default: the suggested model).",
)
@click.option(
    "--layout",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A layout template holding {{{@content}}} to render the template in.",
)
@click.option(
    "--escape/--no-escape",
    default=None,
    help="HTML-escape {{ x }} (default: for .html/.htm files only, as Postmark does).",
)
@click.option("--suggest", is_flag=True, help="Print the suggested model (JSON) instead.")
def render_template(
    template: Path,
    model_path: Path | None,
    layout: Path | None,
    escape: bool | None,
    suggest: bool,
) -> None:
    """Render a Postmark template file offline, as Postmark would (Mustachio).

    Syntax errors are reported with their line and character, as Postmark's
    validation does; the exit status is then 1.

    \b
    Example:
      postmark-kit render-template welcome.html --model model.json --layout base.html
    """
    from .. import templating

    source = _read_source(template)
    try:
        if layout is not None:
            source = templating.insert_content(_read_source(layout), source)
        suggested = templating.suggest_model(source)
        if suggest:
            _show(suggested)
            return
        model: Any = suggested
        if model_path is not None:
            try:
                model = json.loads(model_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise click.ClickException(f"{model_path} is not JSON: {exc}") from None
            if not isinstance(model, dict):
                raise click.ClickException(f"{model_path} must hold a JSON object")
        if escape is None:
            escape = template.suffix.lower() in (".html", ".htm")
        click.echo(templating.render(source, model, escape=escape), nl=False)
    except templating.TemplateSyntaxError as exc:
        raise click.ClickException(f"{template}: {exc}") from None
