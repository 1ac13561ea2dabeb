"""``postmark-kit``: the command line.

Tokens come from ``--server-token`` or ``POSTMARK_SERVER_TOKEN`` (and
``POSTMARK_ACCOUNT_TOKEN``) and are never echoed.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import sys
import time as time_module
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from email import policy as email_policy
from email.parser import BytesParser
from typing import IO, TYPE_CHECKING, Any

import attrs
import click

from ._version import __version__
from .cli_commands.common import api_failure as _api_error
from .cli_commands.common import fail as _fail
from .cli_commands.common import json_object
from .cli_commands.common import reader_gone as _reader_gone
from .cli_commands.common import record as _record
from .cli_commands.common import server_client as _server_client
from .cli_commands.common import server_options as _server_options
from .cli_commands.common import table as _table
from .convert import json_name, structure, unstructure
from .errors import PostmarkError
from .models.common import Attachment
from .models.email import Email, SendResult, TemplatedEmail
from .models.messages import InboundMessageSummary, OutboundMessage
from .pagination import MAX_COUNT, PageStream
from .settings import ConfigError, setting

if TYPE_CHECKING:
    from .client import ServerClient

#: Subcommands defined in other modules, imported only when run (or listed by
#: ``--help``): the receiver and the simulator need Flask, which sending and
#: querying never load.  Name -> ``"module:attribute"``; add a command here.
LAZY_COMMANDS: dict[str, str] = {
    "serve": "postmark_kit.receiver.cli:serve",
    "events": "postmark_kit.receiver.cli:events",
    "console": "postmark_kit.receiver.console:console_command",
    "fake-server": "postmark_kit.testing.cli:fake_server",
    "fake": "postmark_kit.testing.cli:fake",
    "render-template": "postmark_kit.testing.cli:render_template",
    "demo": "postmark_kit.demo:demo",
    "templates": "postmark_kit.cli_commands.templates:templates",
    "bounces": "postmark_kit.cli_commands.support:bounces",
    "suppressions": "postmark_kit.cli_commands.support:suppressions",
    "webhooks": "postmark_kit.cli_commands.support:webhooks",
    "streams": "postmark_kit.cli_commands.support:streams",
    "servers": "postmark_kit.cli_commands.support:servers",
    "domains": "postmark_kit.cli_commands.support:domains",
    "senders": "postmark_kit.cli_commands.support:senders",
}


def _debug() -> bool:
    """``POSTMARK_KIT_DEBUG`` on (a value that is not a boolean counts as on: it was set)."""
    try:
        return bool(setting("POSTMARK_KIT_DEBUG").read(os.environ))
    except ConfigError:
        return True


class LazyGroup(click.Group):
    """A click group whose listed subcommands are imported on first use (click's LazyGroup)."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a bug that escapes it is one line, not a traceback.

        ``POSTMARK_KIT_DEBUG=1`` lets it through, traceback and all, for a bug report.
        """
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:
            if _debug():
                raise
            text = " ".join(str(exc).split())[:200]
            _fail(
                f"internal error: {type(exc).__name__}{f': {text}' if text else ''} "
                "(a bug: please report it; POSTMARK_KIT_DEBUG=1 shows the traceback)"
            )

    def _load(self, name: str) -> click.Command:
        module_name, _, attribute = self.lazy_commands[name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[name]} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="postmark-kit")
def main() -> None:
    """postmark-kit: send and query email through Postmark, receive its webhooks.

    Tokens come from POSTMARK_SERVER_TOKEN / POSTMARK_ACCOUNT_TOKEN (or the
    --server-token / --account-token options) and are never printed.  Every
    listing is a table, or --json / --jsonl for scripts.

    \b
    Examples:
      postmark-kit templates pull ./emails
      postmark-kit bounces list --inactive --json
      postmark-kit COMMAND --help
    """


# --------------------------------------------------------------------------
# Shared by the commands that talk to Postmark with a server token.


def _parse_date(
    _ctx: click.Context, param: click.Parameter, value: str | None
) -> date | datetime | None:
    """``YYYY-MM-DD`` (a whole day, as Postmark reads it) or ``YYYY-MM-DDTHH:MM[:SS]``."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", param=param
        ) from None


def _date_range(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--to-date",
        metavar="DATE",
        callback=_parse_date,
        default=None,
        help="Up to this day or time (Postmark: US Eastern).",
    )(func)
    func = click.option(
        "--from-date",
        metavar="DATE",
        callback=_parse_date,
        default=None,
        help="From this day or time (Postmark: US Eastern).",
    )(func)
    return func


def _check_range(from_date: date | None, to_date: date | None) -> None:
    if from_date is None or to_date is None:
        return
    start = from_date if isinstance(from_date, datetime) else datetime.combine(from_date, time.min)
    end = to_date if isinstance(to_date, datetime) else datetime.combine(to_date, time.max)
    if start.replace(tzinfo=None) > end.replace(tzinfo=None):
        _fail("--from-date is after --to-date", 2)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"{option} expects KEY=VALUE, got {pair!r}", 2)
        out[key] = value
    return out


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


# --------------------------------------------------------------------------
# send


@main.command()
@click.option(
    "--file",
    "source",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None,
    help="Read the email from a .json (Postmark's JSON, as --dry-run prints it) or .eml file; "
    "flags given too override its fields.",
)
@click.option("--from", "from_email", default=None, help="Sender address (a confirmed signature).")
@click.option("--to", "to", multiple=True, help="Recipient; repeat for several.")
@click.option("--cc", multiple=True, help="Cc recipient; repeat for several.")
@click.option("--bcc", multiple=True, help="Bcc recipient; repeat for several.")
@click.option("--reply-to", default=None)
@click.option("--subject", default=None)
@click.option("--text", "text_body", default=None, help="Plain-text body.")
@click.option("--html", "html_body", default=None, help="HTML body.")
@click.option("--tag", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID.")
@click.option(
    "--metadata", multiple=True, metavar="KEY=VALUE", help="Metadata pair; repeat for several."
)
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--template",
    default=None,
    metavar="ALIAS",
    help="Send with this stored template (alias, or numeric id): Postmark renders it.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="JSON file with the template model (with --template; '-' for stdin).",
)
@click.option("--dry-run", is_flag=True, help="Print the JSON that would be sent; send nothing.")
@_server_options
def send(
    source: str | None,
    from_email: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: str | None,
    subject: str | None,
    text_body: str | None,
    html_body: str | None,
    tag: str | None,
    message_stream: str | None,
    metadata: tuple[str, ...],
    attach: tuple[str, ...],
    template: str | None,
    model_path: str | None,
    dry_run: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Send one email (or, with --dry-run, show the request without sending).

    \b
    Examples:
      postmark-kit send --from you@example.com --to them@example.com --subject Hi --text Hello
      postmark-kit send --file welcome.eml --to ada@example.com
      postmark-kit send --dry-run --from you@example.com --to a@example.com --text Hi > mail.json
      postmark-kit send --file mail.json
      postmark-kit send --template welcome --model model.json --from you@example.com --to a@b.com
    """
    if template is not None or model_path is not None:
        if template is None:
            _fail("--model goes with --template ALIAS", 2)
        given = {"--file": source, "--subject": subject, "--text": text_body, "--html": html_body}
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            _fail(f"{', '.join(clash)}: the template gives the content; drop it or --template", 2)
        templated = TemplatedEmail(
            from_email=from_email,
            to=list(to) or None,
            cc=list(cc) or None,
            bcc=list(bcc) or None,
            reply_to=reply_to,
            tag=tag,
            message_stream=message_stream,
            metadata=_pairs(metadata, "--metadata") or None,
            attachments=[Attachment.from_path(p) for p in attach] or None,
            template_id=int(template) if template.isdigit() else None,
            template_alias=None if template.isdigit() else template,
            template_model=_load_model(model_path) if model_path is not None else {},
        )
        _send_templated(templated, dry_run, server_token, base_url, timeout, retries)
        return
    base = _load_email(source) if source is not None else Email()
    meta = {**(base.metadata or {}), **_pairs(metadata, "--metadata")}
    email = attrs.evolve(
        base,
        from_email=from_email if from_email is not None else base.from_email,
        to=list(to) if to else base.to,
        cc=list(cc) if cc else base.cc,
        bcc=list(bcc) if bcc else base.bcc,
        reply_to=reply_to if reply_to is not None else base.reply_to,
        subject=subject if subject is not None else base.subject,
        text_body=text_body if text_body is not None else base.text_body,
        html_body=html_body if html_body is not None else base.html_body,
        tag=tag if tag is not None else base.tag,
        message_stream=message_stream if message_stream is not None else base.message_stream,
        metadata=meta or None,
        attachments=[*(base.attachments or []), *(Attachment.from_path(p) for p in attach)] or None,
    )
    if not email.from_email:
        _fail("give --from (or a file with From)", 2)
    if not email.to:
        _fail("give --to (or a file with To)", 2)
    if email.text_body is None and email.html_body is None:
        _fail("give --text or --html (Postmark needs a body)", 2)
    _submit(
        email,
        dry_run,
        lambda client: client.email.send(email),
        (server_token, base_url, timeout, retries),
    )


def _load_model(path: str) -> dict[str, Any]:
    """A template model: one JSON object from a file ('-': standard input)."""
    try:
        with click.open_file(path, "rb") as fh:
            raw: bytes = fh.read()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    return json_object(raw, path, " (the model)")


def _send_templated(
    email: TemplatedEmail,
    dry_run: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    if not email.from_email:
        _fail("give --from", 2)
    if not email.to:
        _fail("give --to", 2)
    _submit(
        email,
        dry_run,
        lambda client: client.email.send_with_template(email),
        (server_token, base_url, timeout, retries),
    )


def _submit(
    email: Email | TemplatedEmail,
    dry_run: bool,
    send: Callable[[ServerClient], SendResult],
    credentials: tuple[str | None, str, float, int],
) -> None:
    """``--dry-run``: print the request; otherwise send it and print Postmark's answer."""
    if dry_run:
        click.echo(json.dumps(unstructure(email), indent=2, ensure_ascii=False))
        return
    try:
        with _server_client(*credentials) as client:
            result = send(client)
    except PostmarkError as exc:
        _api_error(exc)
    out: dict[str, Any] = {
        "MessageID": result.message_id,
        "To": result.to,
        "SubmittedAt": result.submitted_at.isoformat() if result.submitted_at else None,
    }
    click.echo(json.dumps(out))


def _load_email(source: str) -> Email:
    """An email from a Postmark-shaped .json file or an RFC 5322 .eml file ('-': JSON on stdin)."""
    try:
        with click.open_file(source, "rb") as fh:
            raw: bytes = fh.read()
    except OSError as exc:
        _fail(f"cannot read {source}: {exc.strerror}", 2)
    if source.lower().endswith(".eml"):
        return _email_from_eml(raw)
    data = json_object(raw, source, " (an email)", "; an .eml file must end in .eml")
    known = {json_name(a) for a in attrs.fields(Email)}
    unknown = sorted(set(data) - known)
    if unknown:
        _fail(
            f"{source}: unknown field(s) {', '.join(unknown)} (fields: {', '.join(sorted(known))})",
            2,
        )
    try:
        return structure(data, Email)
    except Exception as exc:  # cattrs reports nested errors as an ExceptionGroup
        _fail(f"{source}: invalid email: {exc}", 2)


def _email_from_eml(raw: bytes) -> Email:
    return Email.from_message(BytesParser(policy=email_policy.default).parsebytes(raw))


# --------------------------------------------------------------------------
# messages


#: The statuses Postmark's message search filters on, per direction.
_MESSAGE_STATUSES = {
    "outbound": ("queued", "sent"),
    "inbound": ("blocked", "processed", "queued", "failed", "scheduled"),
}


def _outbound_row(m: OutboundMessage) -> list[str]:
    to = ", ".join(a.email or "" for a in m.to) or ", ".join(m.recipients)
    return [
        _when(m.received_at),
        m.status or "",
        m.message_id or "",
        to,
        m.subject or "",
        m.tag or "",
    ]


def _inbound_row(m: InboundMessageSummary) -> list[str]:
    return [
        _when(m.received_date),
        m.status or "",
        m.message_id or "",
        m.from_email or "",
        m.subject or "",
        m.mailbox_hash or "",
    ]


@main.command()
@click.argument(
    "direction", type=click.Choice(["outbound", "inbound"]), default="outbound", required=False
)
@click.option("--recipient", default=None, help="Recipient address.")
@click.option("--from", "from_email", default=None, help="Sender address.")
@click.option("--tag", default=None)
@click.option(
    "--status",
    default=None,
    help="outbound: queued, sent; inbound: blocked, processed, queued, failed, scheduled.",
)
@click.option("--subject", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID (outbound).")
@click.option(
    "--metadata", multiple=True, metavar="KEY=VALUE", help="Metadata filter (outbound); repeatable."
)
@click.option("--mailbox-hash", default=None, help="Mailbox hash (inbound).")
@_date_range
@click.option(
    "--limit",
    type=click.IntRange(0, 2**63 - 1),
    default=50,
    show_default=True,
    help="At most this many messages, newest first; 0 for all.",
)
@click.option(
    "--json",
    "--jsonl",
    "as_json",
    is_flag=True,
    help="One JSON object per line, as Postmark sends it (--json and --jsonl alike).",
)
@_server_options
def messages(
    direction: str,
    recipient: str | None,
    from_email: str | None,
    tag: str | None,
    status: str | None,
    subject: str | None,
    message_stream: str | None,
    metadata: tuple[str, ...],
    mailbox_hash: str | None,
    from_date: date | None,
    to_date: date | None,
    limit: int,
    as_json: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Search sent (outbound, the default) or received (inbound) messages.

    The filters are those of Postmark's message search; results past its
    10,000-message window are reached by narrowing the date range, so
    --limit 0 really lists everything that matches.

    \b
    Examples:
      postmark-kit messages --tag welcome --from-date 2024-05-01
      postmark-kit messages inbound --status blocked --json
    """
    meta = _pairs(metadata, "--metadata")
    if status is not None:
        valid = _MESSAGE_STATUSES[direction]
        if status.lower() not in valid:
            _fail(
                f"--status {status!r} is not valid for {direction} messages: "
                f"use {', '.join(valid)}",
                2,
            )
        status = status.lower()
    if direction == "inbound" and (message_stream or meta):
        _fail("--stream and --metadata filter outbound messages only", 2)
    if direction == "outbound" and mailbox_hash:
        _fail("--mailbox-hash filters inbound messages only", 2)
    _check_range(from_date, to_date)
    max_items = limit or None
    page_size = min(MAX_COUNT, limit) if limit else MAX_COUNT
    # A message sent while the search pages shifts the later pages, so the
    # walk can return a message twice: show each once.
    seen: set[str] = set()
    rows: list[list[str]] = []
    try:
        with _server_client(server_token, base_url, timeout, retries) as client:
            items: Iterator[OutboundMessage] | Iterator[InboundMessageSummary]
            if direction == "outbound":
                items = client.outbound.stream(
                    max_items=max_items,
                    page_size=page_size,
                    recipient=recipient,
                    from_email=from_email,
                    tag=tag,
                    status=status,
                    subject=subject,
                    message_stream=message_stream,
                    from_date=from_date,
                    to_date=to_date,
                    metadata=meta or None,
                )
            else:
                items = client.inbound.stream(
                    max_items=max_items,
                    page_size=page_size,
                    recipient=recipient,
                    from_email=from_email,
                    tag=tag,
                    subject=subject,
                    mailbox_hash=mailbox_hash,
                    status=status,
                    from_date=from_date,
                    to_date=to_date,
                )
            for item in items:
                if item.message_id is not None:
                    if item.message_id in seen:
                        continue
                    seen.add(item.message_id)
                if as_json:
                    click.echo(json.dumps(_record(item), ensure_ascii=False))
                elif isinstance(item, OutboundMessage):
                    rows.append(_outbound_row(item))
                else:
                    rows.append(_inbound_row(item))
    except PostmarkError as exc:
        _api_error(exc)
    except BrokenPipeError:
        _reader_gone()
    if as_json:
        return
    if not rows:
        click.echo("No messages match.", err=True)
        return
    who = "TO" if direction == "outbound" else "FROM"
    last = "TAG" if direction == "outbound" else "MAILBOX HASH"
    _table(
        ["RECEIVED", "STATUS", "MESSAGE ID", who, "SUBJECT", last],
        rows,
        [19, 10, 36, 30, 40, 20],
    )


# --------------------------------------------------------------------------
# export


def _record_key(kind: str, record: Any) -> str:
    """What identifies an exported record: a message's ID; an event's message, who and when."""
    if not isinstance(record, dict) or "MessageID" not in record:
        raise KeyError("MessageID")
    if kind == "messages":
        return str(record["MessageID"])
    when = record.get("ReceivedAt")
    with contextlib.suppress(ValueError):  # one instant, however spelled ("Z", "-04:00")
        when = datetime.fromisoformat(str(when)).astimezone(UTC).isoformat()
    return json.dumps(
        [record.get("MessageID"), record.get("Recipient"), when, record.get("OriginalLink")]
    )


def _record_kind(record: Any) -> str | None:
    """What an exported line holds: ``opens``, ``clicks`` or ``messages`` (None: not known)."""
    if not isinstance(record, dict):
        return None
    record_type = record.get("RecordType")
    if record_type == "Open":
        return "opens"
    if record_type == "Click":
        return "clicks"
    if record_type is None and "Status" in record and "Recipients" in record:
        return "messages"
    return None


def _read_done(path: str, kind: str) -> set[str]:
    """Keys of the records already in a JSON lines file.

    Every record is written whole and newline-terminated, so a last line
    without its newline that is not JSON is an interrupted write: it is cut
    off.  Anything else that is not an exported record stops the command
    before the file is touched.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    done: set[str] = set()
    for number, raw in enumerate([*lines, tail], start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            found = _record_kind(record)
            if found is not None and found != kind:
                _fail(
                    f"{path} holds exported {_EXPORT_NOUNS[found]} (line {number}), not "
                    f"{_EXPORT_NOUNS[kind]}: refusing to append to it (--what {found}?)",
                    2,
                )
            done.add(_record_key(kind, record))
        except (ValueError, KeyError):
            if number == len(lines) + 1 and raw.lstrip().startswith(b"{"):
                # Torn last line: drop it (it is re-exported below).
                try:
                    with open(path, "rb+") as fh:
                        fh.truncate(len(data) - len(tail))
                except OSError as exc:
                    _fail(f"cannot repair {path}: {exc.strerror or exc}", 2)
                break
            _fail(f"{path}:{number} is not an exported record; refusing to append to it", 2)
    else:
        if tail.strip():
            try:
                with open(path, "ab") as fh:  # a whole last record that lacks its newline
                    fh.write(b"\n")
            except OSError as exc:
                _fail(f"cannot write {path}: {exc.strerror or exc}", 2)
    return done


_EXPORT_NOUNS = {"messages": "messages", "opens": "open events", "clicks": "click events"}


def _check_writable(path: str) -> None:
    """Refuse, before any API call, an output file that cannot be created or written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        _fail(f"cannot write {path}: no such directory {folder}", 2)
    if os.path.isdir(path):
        _fail(f"cannot write {path}: it is a directory", 2)
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        _fail(f"cannot write {path}: permission denied", 2)


class _Throttle:
    """Moves a progress bar at most a few times a second, not once per record.

    click redraws the whole line on each ``update``: once per record that is
    tens of kilobytes of escape codes for a few thousand messages.
    """

    interval = 0.25

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.pending = 0
        self.last = time_module.monotonic()

    def step(self, count: int = 1) -> None:
        self.pending += count
        now = time_module.monotonic()
        if now - self.last >= self.interval:
            self.flush()
            self.last = now

    def flush(self) -> None:
        if self.pending:
            self.bar.update(self.pending)
            self.pending = 0


@main.command()
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="JSON lines file to write ('-' for standard output).",
)
@click.option(
    "--resume", is_flag=True, help="Append to OUTPUT, skipping the records already in it."
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--what",
    "kind",
    type=click.Choice(list(_EXPORT_NOUNS)),
    default="messages",
    show_default=True,
    help="Sent messages, or their open or click events.",
)
@_date_range
@click.option("--recipient", default=None, help="Recipient address.")
@click.option("--tag", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID.")
@click.option("--from", "from_email", default=None, help="Sender address (messages).")
@click.option("--status", default=None, help="queued or sent (messages).")
@click.option(
    "--metadata", multiple=True, metavar="KEY=VALUE", help="Metadata filter (messages); repeatable."
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
@_server_options
def export(
    output: str,
    resume: bool,
    overwrite: bool,
    kind: str,
    from_date: date | None,
    to_date: date | None,
    recipient: str | None,
    tag: str | None,
    message_stream: str | None,
    from_email: str | None,
    status: str | None,
    metadata: tuple[str, ...],
    progress: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Export every sent message (or open/click event) in a date range to JSON lines.

    One record per line, as Postmark lists it, newest first.  Each line is
    written whole and flushed, so an interrupted export (Ctrl-C, a network
    failure) can continue with --resume: records already in OUTPUT are
    skipped, and a half-written last line is dropped.

    \b
    Examples:
      postmark-kit export --from-date 2024-05-01 --to-date 2024-05-31 -o may.jsonl
      postmark-kit export --what clicks --tag newsletter -o clicks.jsonl
    """
    meta = _pairs(metadata, "--metadata")
    _check_range(from_date, to_date)
    if kind != "messages" and (from_email or status or meta):
        _fail("--from, --status and --metadata filter messages only", 2)
    if status is not None:
        if status.lower() not in _MESSAGE_STATUSES["outbound"]:
            _fail(f"--status {status!r} is not a message status: use queued, sent", 2)
        status = status.lower()
    if resume and overwrite:
        _fail("--resume and --overwrite exclude each other", 2)
    to_stdout = output == "-"
    if to_stdout and resume:
        _fail("--resume needs a file, not standard output", 2)
    done: set[str] = set()
    exists = not to_stdout and os.path.exists(output) and os.path.getsize(output) > 0
    if exists and not (resume or overwrite):
        _fail(f"{output} exists: pass --resume to continue it or --overwrite to replace it", 2)
    if not to_stdout:
        _check_writable(output)
    if resume and exists:
        done = _read_done(output, kind)
    filters: dict[str, Any] = {
        "recipient": recipient,
        "tag": tag,
        "message_stream": message_stream,
        "from_date": from_date,
        "to_date": to_date,
    }
    if kind == "messages":
        filters.update(from_email=from_email, status=status, metadata=meta or None)
    noun = _EXPORT_NOUNS[kind]
    written = 0
    skipped = 0
    client = _server_client(server_token, base_url, timeout, retries)
    out: IO[str] = sys.stdout
    try:
        with client:
            # Pages are fetched several at a time; the first one gives the total.
            records: PageStream[Any]
            if kind == "messages":
                records = client.outbound.stream(**filters)
            elif kind == "opens":
                records = client.outbound.stream_opens(**filters)
            else:
                records = client.outbound.stream_clicks(**filters)
            pages = records.pages()
            first: list[Any] = next(pages, [])
            total = records.total or 0
            if not to_stdout:
                try:
                    out = open(output, "a" if resume else "w", encoding="utf-8")  # noqa: SIM115
                except OSError as exc:
                    _fail(f"cannot write {output}: {exc.strerror or exc}", 2)
            with click.progressbar(
                length=total, label="Exporting", file=sys.stderr, show_pos=True, hidden=not progress
            ) as bar:
                redraw = _Throttle(bar)
                for page in itertools.chain([first], pages):
                    lines: list[str] = []
                    for item in page:
                        record = _record(item)
                        key = _record_key(kind, record) if "MessageID" in record else None
                        if key is not None and key in done:
                            # Already exported, or seen twice because new mail
                            # shifted Postmark's pages during the walk.
                            skipped += 1
                            continue
                        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
                        if key is not None:
                            done.add(key)
                    # One write per page: a line is never left half written
                    # by us, and --resume drops a torn last line anyway.
                    out.write("".join(lines))
                    out.flush()
                    written += len(lines)
                    redraw.step(len(page))
                redraw.flush()
    except PostmarkError as exc:
        hint = "" if to_stdout else f" ({written} written; rerun with --resume to continue)"
        _api_error(exc, hint)
    except BrokenPipeError:
        _reader_gone()
    except OSError as exc:  # the disk filled up, the file system went read-only...
        if to_stdout:
            _fail(f"cannot write to standard output: {exc.strerror or exc}")
        _fail(
            f"cannot write {output}: {exc.strerror or exc} "
            f"({written} written; free space, then rerun with --resume to continue)"
        )
    except KeyboardInterrupt:
        hint = "" if to_stdout else f"; {written} written, rerun with --resume to continue"
        click.echo(f"Interrupted{hint}", err=True)
        sys.exit(130)
    finally:
        if out is not sys.stdout:
            with contextlib.suppress(OSError):  # a failed flush was reported above
                out.close()
    where = "" if to_stdout else f" to {output}"
    already = f", {skipped} already there" if skipped else ""
    click.echo(f"Exported {written} {noun}{where}{already}.", err=True)


# --------------------------------------------------------------------------
# stats

_OVERVIEW_ROWS: list[tuple[str, str, bool]] = [
    ("Sent", "sent", False),
    ("Bounced", "bounced", False),
    ("Bounce rate", "bounce_rate", True),
    ("SMTP API errors", "smtp_api_errors", False),
    ("Spam complaints", "spam_complaints", False),
    ("Spam complaint rate", "spam_complaints_rate", True),
    ("Tracked", "tracked", False),
    ("With open tracking", "with_open_tracking", False),
    ("Opens", "opens", False),
    ("Unique opens", "unique_opens", False),
    ("With link tracking", "with_link_tracking", False),
    ("Tracked links sent", "total_tracked_links_sent", False),
    ("Clicks", "total_clicks", False),
    ("Unique links clicked", "unique_links_clicked", False),
]


@main.command()
@_date_range
@click.option("--tag", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID.")
@click.option("--json", "as_json", is_flag=True, help="Print Postmark's JSON object.")
@_server_options
def stats(
    from_date: date | None,
    to_date: date | None,
    tag: str | None,
    message_stream: str | None,
    as_json: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Sending overview: sent, bounces, spam complaints, opens and clicks.

    Whole days in Postmark's time zone (US Eastern); without a range, all
    time.  Rates are percentages.

    \b
    Example:
      postmark-kit stats --from-date 2024-05-01 --tag welcome
    """
    _check_range(from_date, to_date)
    try:
        with _server_client(server_token, base_url, timeout, retries) as client:
            overview = client.stats.get_outbound_overview(
                tag=tag, from_date=from_date, to_date=to_date, message_stream=message_stream
            )
    except PostmarkError as exc:
        _api_error(exc)
    if as_json:
        click.echo(json.dumps(_record(overview), ensure_ascii=False))
        return
    scope = [
        f"from {from_date.isoformat()}" if from_date else "",
        f"to {to_date.isoformat()}" if to_date else "",
        f"tag {tag!r}" if tag else "",
        f"stream {message_stream!r}" if message_stream else "",
    ]
    click.echo(click.style(" ".join(s for s in scope if s) or "all time", bold=True))
    width = max(len(label) for label, _, _ in _OVERVIEW_ROWS)
    for label, field, is_rate in _OVERVIEW_ROWS:
        value = getattr(overview, field)
        if value is None:
            shown = "-"
        elif is_rate:
            shown = f"{value:.2f} %"
        else:
            shown = f"{value:,}"
        click.echo(f"{label.ljust(width)}  {shown}")


if __name__ == "__main__":  # pragma: no cover
    main()
