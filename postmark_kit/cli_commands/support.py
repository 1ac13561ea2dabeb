"""Daily support tasks: bounces, suppressions, webhooks, streams (server token);
servers, domains, sender signatures (account token).

Every listing is a table for people and ``--json`` / ``--jsonl`` for scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import click

from ..errors import BatchSendError, PostmarkError
from ..models.webhooks import (
    BounceTrigger,
    HttpAuth,
    OpenTrigger,
    SpamComplaintTrigger,
    Trigger,
    WebhookTriggers,
)
from ..settings import env
from .common import (
    ID,
    MAX_ID,
    Column,
    account_client,
    account_options,
    api_failure,
    emit,
    fail,
    output_options,
    record,
    server_client,
    server_options,
)

__all__ = ["bounces", "domains", "senders", "servers", "streams", "suppressions", "webhooks"]

_LIMIT = click.IntRange(0, MAX_ID)


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD", param=param) from None


def _show(item: dict[str, Any]) -> None:
    click.echo(json.dumps(item, indent=2, ensure_ascii=False))


def _run(action: Callable[[], None]) -> None:
    """Run an API action: a Postmark error is one line and exit 1 (2 if refused before sending)."""
    try:
        action()
    except PostmarkError as exc:
        api_failure(exc)


# --------------------------------------------------------------------------
# bounces


@click.group()
def bounces() -> None:
    """Bounced messages: list, show one (with its SMTP dump), reactivate the address.

    \b
    Examples:
      postmark-kit bounces list --type HardBounce --inactive --limit 20
      postmark-kit bounces show 692560173 --dump
      postmark-kit bounces activate 692560173
    """


_BOUNCE_COLUMNS = [
    Column("ID", lambda r: r.get("ID"), 12),
    Column("BOUNCED AT", lambda r: r.get("BouncedAt"), 19),
    Column("TYPE", lambda r: r.get("Type"), 16),
    Column("EMAIL", lambda r: r.get("Email"), 34),
    Column("INACTIVE", lambda r: r.get("Inactive"), 8),
    Column("CAN ACTIVATE", lambda r: r.get("CanActivate"), 12),
    Column("STREAM", lambda r: r.get("MessageStream"), 16),
    Column("DESCRIPTION", lambda r: r.get("Description"), 60),
]


@bounces.command("list")
@click.option(
    "--type", "bounce_type", default=None, help="HardBounce, Transient, SpamNotification…"
)
@click.option("--inactive/--active", default=None, help="Only deactivated (or active) addresses.")
@click.option("--email", "email_filter", default=None, help="Address (or part of it).")
@click.option("--tag", default=None)
@click.option("--message-id", default=None)
@click.option("--stream", "message_stream", default=None, help="Message stream ID.")
@click.option("--from-date", callback=_date, default=None, metavar="YYYY-MM-DD")
@click.option("--to-date", callback=_date, default=None, metavar="YYYY-MM-DD")
@click.option(
    "--limit", type=_LIMIT, default=50, show_default=True, help="At most this many; 0 for all."
)
@output_options
@server_options
def list_bounces(
    bounce_type: str | None,
    inactive: bool | None,
    email_filter: str | None,
    tag: str | None,
    message_id: str | None,
    message_stream: str | None,
    from_date: date | None,
    to_date: date | None,
    limit: int,
    output: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List bounces, newest first.

    \b
    Example:
      postmark-kit bounces list --email ada@example.com --jsonl
    """
    if from_date and to_date and from_date > to_date:
        fail("--from-date is after --to-date", 2)

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            items = client.bounces.stream(
                max_items=limit or None,
                page_size=min(limit, 500) if limit else 500,
                type=bounce_type,
                inactive=inactive,
                email_filter=email_filter,
                tag=tag,
                message_id=message_id,
                from_date=from_date,
                to_date=to_date,
                message_stream=message_stream,
            )
            emit((record(b) for b in items), _BOUNCE_COLUMNS, output, empty="No bounces match.")

    _run(action)


@bounces.command("show")
@click.argument("bounce_id", type=ID)
@click.option("--dump", is_flag=True, help="Print the raw SMTP source instead (kept 30 days).")
@server_options
def show_bounce(
    bounce_id: int,
    dump: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Print one bounce as JSON (or, with --dump, its raw SMTP source).

    \b
    Example:
      postmark-kit bounces show 692560173
    """

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            if dump:
                click.echo(client.bounces.get_dump(bounce_id).body or "")
            else:
                _show(record(client.bounces.get(bounce_id)))

    _run(action)


@bounces.command("activate")
@click.argument("bounce_id", type=ID)
@server_options
def activate_bounce(
    bounce_id: int, server_token: str | None, base_url: str, timeout: float, retries: int
) -> None:
    """Reactivate a bounced address so that it can be sent to again.

    \b
    Example:
      postmark-kit bounces activate 692560173
    """

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            result = client.bounces.activate(bounce_id)
        email = result.bounce.email if result.bounce is not None else None
        click.echo(f"{result.message or 'OK'}{f' ({email})' if email else ''}")

    _run(action)


# --------------------------------------------------------------------------
# suppressions


@click.group()
def suppressions() -> None:
    """Suppressed addresses of a message stream: list, add, remove.

    \b
    Examples:
      postmark-kit suppressions list --stream outbound
      postmark-kit suppressions add ada@example.com --stream broadcasts
      postmark-kit suppressions remove ada@example.com --stream outbound
    """


_stream_option = click.option(
    "--stream",
    "stream_id",
    default="outbound",
    show_default=True,
    help="Message stream ID (suppressions are per stream).",
)


@suppressions.command("list")
@_stream_option
@click.option("--reason", default=None, help="HardBounce, SpamComplaint or ManualSuppression.")
@click.option("--origin", default=None, help="Recipient, Customer or Admin.")
@click.option("--email", "email_address", default=None, help="One address.")
@click.option("--from-date", callback=_date, default=None, metavar="YYYY-MM-DD")
@click.option("--to-date", callback=_date, default=None, metavar="YYYY-MM-DD")
@output_options
@server_options
def list_suppressions(
    stream_id: str,
    reason: str | None,
    origin: str | None,
    email_address: str | None,
    from_date: date | None,
    to_date: date | None,
    output: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List the stream's suppressed addresses.

    \b
    Example:
      postmark-kit suppressions list --stream outbound --reason HardBounce --json
    """
    columns = [
        Column("EMAIL", lambda r: r.get("EmailAddress"), 40),
        Column("REASON", lambda r: r.get("SuppressionReason"), 18),
        Column("ORIGIN", lambda r: r.get("Origin"), 10),
        Column("CREATED AT", lambda r: r.get("CreatedAt"), 19),
    ]

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            items = client.suppressions.list(
                stream_id,
                suppression_reason=reason,
                origin=origin,
                email_address=email_address,
                from_date=from_date,
                to_date=to_date,
            )
        emit((record(s) for s in items), columns, output, empty="No suppressions.")

    _run(action)


def _change_suppressions(
    verb: str,
    emails: Iterable[str],
    stream_id: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    addresses = [e.strip() for e in emails if e.strip()]
    if not addresses:
        fail("give at least one address", 2)
    try:
        with server_client(server_token, base_url, timeout, retries) as client:
            change = client.suppressions.create if verb == "add" else client.suppressions.delete
            results = change(stream_id, addresses)
    except BatchSendError as exc:
        api_failure(exc.error, f" ({len(exc.results)} address(es) already done)")
    except PostmarkError as exc:
        api_failure(exc)
    refused = [r for r in results if not r.ok]
    for r in results:
        state = r.status or ("refused" if not r.ok else "ok")
        note = f": {r.message}" if r.message else ""
        click.echo(f"{r.email_address}  {state}{note}")
    if refused:
        sys.exit(1)


@suppressions.command("add")
@click.argument("emails", nargs=-1, required=True)
@_stream_option
@server_options
def add_suppressions(
    emails: tuple[str, ...],
    stream_id: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Stop sending to these addresses on the stream.

    \b
    Example:
      postmark-kit suppressions add ada@example.com bob@example.com --stream broadcasts
    """
    _change_suppressions("add", emails, stream_id, server_token, base_url, timeout, retries)


@suppressions.command("remove")
@click.argument("emails", nargs=-1, required=True)
@_stream_option
@server_options
def remove_suppressions(
    emails: tuple[str, ...],
    stream_id: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Reactivate these addresses on the stream (spam complaints cannot be).

    \b
    Example:
      postmark-kit suppressions remove ada@example.com --stream outbound
    """
    _change_suppressions("remove", emails, stream_id, server_token, base_url, timeout, retries)


# --------------------------------------------------------------------------
# webhooks

_TRIGGERS = ("open", "click", "delivery", "bounce", "spam-complaint", "subscription-change")


def _trigger_names(item: dict[str, Any]) -> str:
    triggers = item.get("Triggers") or {}
    return ", ".join(
        name for name, value in triggers.items() if isinstance(value, dict) and value.get("Enabled")
    )


@click.group()
def webhooks() -> None:
    """Where Postmark posts events: list, create, delete.

    \b
    Examples:
      postmark-kit webhooks list
      postmark-kit webhooks create https://example.com/hooks --trigger bounce --trigger delivery
      postmark-kit webhooks delete 1234567
    """


@webhooks.command("list")
@click.option("--stream", "message_stream", default=None, help="Only this message stream's.")
@output_options
@server_options
def list_webhooks(
    message_stream: str | None,
    output: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List the server's webhooks (credentials are not shown).

    \b
    Example:
      postmark-kit webhooks list --stream outbound --json
    """
    columns = [
        Column("ID", lambda r: r.get("ID"), 10),
        Column("STREAM", lambda r: r.get("MessageStream"), 16),
        Column("URL", lambda r: r.get("Url"), 50),
        Column("TRIGGERS", _trigger_names, 60),
    ]

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            items = client.webhooks.list(message_stream=message_stream)
        emit((_without_secrets(record(w)) for w in items), columns, output, empty="No webhooks.")

    _run(action)


def _without_secrets(item: dict[str, Any]) -> dict[str, Any]:
    """A webhook as listed, minus its basic-auth password (a secret, like a token)."""
    auth = item.get("HttpAuth")
    if isinstance(auth, dict) and auth.get("Password"):
        item = {**item, "HttpAuth": {**auth, "Password": "[hidden]"}}
    return item


@webhooks.command("create")
@click.argument("url")
@click.option("--stream", "message_stream", default=None, help="Message stream ID (outbound).")
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    type=click.Choice(_TRIGGERS),
    help="An event to send; repeat for several (default: all).",
)
@click.option(
    "--username",
    envvar=env("POSTMARK_WEBHOOK_USERNAME"),
    default=None,
    show_envvar=True,
    help="Basic-auth user Postmark sends (the receiver's own setting by default).",
)
@click.option(
    "--password",
    envvar=env("POSTMARK_WEBHOOK_PASSWORD"),
    default=None,
    show_envvar=True,
    help="Basic-auth password (prefer the environment variable: it is never printed).",
)
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE", help="Repeatable.")
@server_options
def create_webhook(
    url: str,
    message_stream: str | None,
    triggers: tuple[str, ...],
    username: str | None,
    password: str | None,
    headers: tuple[str, ...],
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Add a webhook posting the chosen events to URL; prints its id.

    \b
    Example:
      postmark-kit webhooks create https://example.com/hooks --trigger bounce --username pm
    """
    if not url.startswith(("https://", "http://")):
        fail(f"{url!r} is not an http(s) URL", 2)
    header_map: dict[str, str] = {}
    for pair in headers:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--header expects NAME=VALUE, got {pair!r}", 2)
        header_map[name] = value
    if (username is None) != (password is None):
        fail("--username and --password go together", 2)
    chosen = set(triggers or _TRIGGERS)
    on = Trigger(enabled=True)
    spec = WebhookTriggers(
        open=OpenTrigger(enabled=True) if "open" in chosen else OpenTrigger(enabled=False),
        click=on if "click" in chosen else Trigger(enabled=False),
        delivery=on if "delivery" in chosen else Trigger(enabled=False),
        bounce=BounceTrigger(enabled="bounce" in chosen),
        spam_complaint=SpamComplaintTrigger(enabled="spam-complaint" in chosen),
        subscription_change=on if "subscription-change" in chosen else Trigger(enabled=False),
    )

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            created = client.webhooks.create(
                url=url,
                message_stream=message_stream,
                http_auth=HttpAuth(username=username, password=password) if username else None,
                http_headers=header_map or None,
                triggers=spec,
            )
        click.echo(f"Created webhook {created.id} for {created.message_stream or 'outbound'}.")

    _run(action)


@webhooks.command("delete")
@click.argument("webhook_id", type=ID)
@server_options
def delete_webhook(
    webhook_id: int, server_token: str | None, base_url: str, timeout: float, retries: int
) -> None:
    """Delete a webhook (Postmark stops posting to it at once).

    \b
    Example:
      postmark-kit webhooks delete 1234567
    """

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            result = client.webhooks.delete(webhook_id)
        click.echo(result.message or f"Webhook {webhook_id} removed.")

    _run(action)


# --------------------------------------------------------------------------
# streams


@click.group()
def streams() -> None:
    """The server's message streams.

    \b
    Example:
      postmark-kit streams list --archived
    """


@streams.command("list")
@click.option("--archived", is_flag=True, help="Include archived streams.")
@click.option(
    "--type",
    "stream_type",
    type=click.Choice(["Transactional", "Broadcasts", "Inbound"], case_sensitive=False),
    default=None,
)
@output_options
@server_options
def list_streams(
    archived: bool,
    stream_type: str | None,
    output: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List message streams.

    \b
    Example:
      postmark-kit streams list --type Broadcasts --json
    """
    columns = [
        Column("ID", lambda r: r.get("ID"), 24),
        Column("TYPE", lambda r: r.get("MessageStreamType"), 14),
        Column("NAME", lambda r: r.get("Name"), 30),
        Column("ARCHIVED AT", lambda r: r.get("ArchivedAt"), 19),
        Column("DESCRIPTION", lambda r: r.get("Description"), 50),
    ]

    def action() -> None:
        with server_client(server_token, base_url, timeout, retries) as client:
            page = client.message_streams.list(
                include_archived=archived or None,
                message_stream_type=stream_type.capitalize() if stream_type else None,
            )
        emit((record(s) for s in page), columns, output, empty="No message streams.")

    _run(action)


# --------------------------------------------------------------------------
# servers, domains, senders: account token


@click.group()
def servers() -> None:
    """The account's servers (account token).

    \b
    Example:
      postmark-kit servers list --name Production
    """


@servers.command("list")
@click.option("--name", default=None, help="Servers whose name contains this.")
@click.option(
    "--limit", type=_LIMIT, default=0, show_default=True, help="At most this many; 0 for all."
)
@output_options
@account_options
def list_servers(
    name: str | None,
    limit: int,
    output: str,
    account_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List servers (their API tokens are never shown).

    \b
    Example:
      postmark-kit servers list --jsonl
    """
    columns = [
        Column("ID", lambda r: r.get("ID"), 10),
        Column("NAME", lambda r: r.get("Name"), 34),
        Column("COLOR", lambda r: r.get("Color"), 10),
        Column("DELIVERY", lambda r: r.get("DeliveryType"), 8),
        Column("INBOUND ADDRESS", lambda r: r.get("InboundAddress"), 50),
    ]

    def action() -> None:
        with account_client(account_token, base_url, timeout, retries) as client:
            items = client.servers.stream(max_items=limit or None, name=name)
            emit(
                ({k: v for k, v in record(s).items() if k != "ApiTokens"} for s in items),
                columns,
                output,
                empty="No servers.",
            )

    _run(action)


def _verified(value: Any) -> str:
    return "" if value is None else ("verified" if value else "not verified")


@click.group()
def domains() -> None:
    """The account's sending domains: list, verify DNS records (account token).

    \b
    Examples:
      postmark-kit domains list
      postmark-kit domains verify 1234
    """


@domains.command("list")
@output_options
@account_options
def list_domains(
    output: str, account_token: str | None, base_url: str, timeout: float, retries: int
) -> None:
    """List domains with their DKIM / Return-Path state.

    \b
    Example:
      postmark-kit domains list --json
    """
    columns = [
        Column("ID", lambda r: r.get("ID"), 10),
        Column("DOMAIN", lambda r: r.get("Name"), 40),
        Column("DKIM", lambda r: _verified(r.get("DKIMVerified")), 12),
        Column("RETURN-PATH", lambda r: _verified(r.get("ReturnPathDomainVerified")), 12),
        Column("SPF", lambda r: _verified(r.get("SPFVerified")), 12),
    ]

    def action() -> None:
        with account_client(account_token, base_url, timeout, retries) as client:
            items = client.domains.stream()
            emit((record(d) for d in items), columns, output, empty="No domains.")

    _run(action)


@domains.command("verify")
@click.argument("domain_id", type=ID)
@click.option(
    "--what",
    type=click.Choice(["all", "dkim", "return-path"]),
    default="all",
    show_default=True,
)
@account_options
def verify_domain(
    domain_id: int,
    what: str,
    account_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Ask Postmark to check a domain's DNS records now; exit 1 if one is not verified.

    \b
    Example:
      postmark-kit domains verify 1234 --what dkim
    """
    state: dict[str, Any] = {}

    def action() -> None:
        with account_client(account_token, base_url, timeout, retries) as client:
            if what in ("all", "dkim"):
                domain = client.domains.verify_dkim(domain_id)
                state["name"] = domain.name
                state["DKIM"] = domain.dkim_verified
            if what in ("all", "return-path"):
                domain = client.domains.verify_return_path(domain_id)
                state["name"] = domain.name
                state["Return-Path"] = domain.return_path_domain_verified

    _run(action)
    name = state.pop("name", None) or str(domain_id)
    for label, ok in state.items():
        click.echo(f"{name}  {label}: {_verified(ok) or 'unknown'}")
    if not all(state.values()):
        sys.exit(1)


@click.group()
def senders() -> None:
    """The account's sender signatures: list, verify (account token).

    \b
    Examples:
      postmark-kit senders list
      postmark-kit senders verify 36735 --resend
    """


@senders.command("list")
@output_options
@account_options
def list_senders(
    output: str, account_token: str | None, base_url: str, timeout: float, retries: int
) -> None:
    """List sender signatures and whether each is confirmed.

    \b
    Example:
      postmark-kit senders list --jsonl
    """
    columns = [
        Column("ID", lambda r: r.get("ID"), 10),
        Column("EMAIL", lambda r: r.get("EmailAddress"), 40),
        Column("NAME", lambda r: r.get("Name"), 30),
        Column("DOMAIN", lambda r: r.get("Domain"), 30),
        Column("CONFIRMED", lambda r: r.get("Confirmed"), 9),
    ]

    def action() -> None:
        with account_client(account_token, base_url, timeout, retries) as client:
            items = client.senders.stream()
            emit((record(s) for s in items), columns, output, empty="No sender signatures.")

    _run(action)


@senders.command("verify")
@click.argument("signature_id", type=ID)
@click.option("--resend", is_flag=True, help="Send the confirmation email again if unconfirmed.")
@account_options
def verify_sender(
    signature_id: int,
    resend: bool,
    account_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Say whether a sender signature is confirmed (exit 1 if not); --resend mails it again.

    \b
    Example:
      postmark-kit senders verify 36735 --resend
    """
    state: dict[str, Any] = {}

    def action() -> None:
        with account_client(account_token, base_url, timeout, retries) as client:
            signature = client.senders.get(signature_id)
            state["signature"] = signature
            if resend and not signature.confirmed:
                state["resent"] = client.senders.resend_confirmation(signature_id)

    _run(action)
    signature = state["signature"]
    who = signature.email_address or str(signature_id)
    if signature.confirmed:
        click.echo(f"{who}: confirmed")
        return
    note = "; confirmation email sent again" if "resent" in state else " (--resend mails it again)"
    click.echo(f"{who}: not confirmed{note}")
    sys.exit(1)
