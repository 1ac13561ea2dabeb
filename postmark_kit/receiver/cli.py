"""``postmark-kit serve`` and ``postmark-kit events``: run the receiver, read its store."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from ..settings import env, setting
from .app import EVENT_KINDS

__all__ = ["LOG_DATEFMT", "LOG_FORMAT", "events", "gunicorn_logconfig", "line_buffered", "serve"]

#: The receiver's log lines under gunicorn: time, pid and level first, as gunicorn's own.
LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
LOG_DATEFMT = "[%Y-%m-%d %H:%M:%S %z]"

#: The standalone receiver's files (declared in :mod:`postmark_kit.settings`).
_STORE: str = setting("POSTMARK_EVENT_STORE").standalone
_JOURNAL: str = setting("POSTMARK_JOURNAL").default
_FILE_SETTINGS = ("POSTMARK_JOURNAL", "POSTMARK_EVENT_STORE")


def gunicorn_logconfig(level: str = "info") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict`` for the receiver (``serve`` and receiver/gunicorn.conf.py).

    Without it a gunicorn worker's Python logging has no handler: the
    ``POSTMARK_LOG_EVENTS`` lines (INFO) are dropped and plugin errors come
    out bare, with no time, level or pid.  Here every logger but gunicorn's
    (the receiver's, the plugins') writes to stderr with :data:`LOG_FORMAT`
    at ``level``; ``postmark_kit.events`` (one line per event, only when
    ``POSTMARK_LOG_EVENTS`` is on) at INFO whatever ``level`` says.
    gunicorn's error log (stderr) and access log (stdout) are left as its
    ``errorlog``/``accesslog`` settings say.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level.upper(), "handlers": ["postmark_kit"]},
        "loggers": {"postmark_kit.events": {"level": "INFO"}},
        "handlers": {
            "postmark_kit": {
                "class": "logging.StreamHandler",
                "formatter": "postmark_kit",
                "stream": "ext://sys.stderr",
            }
        },
        "formatters": {"postmark_kit": {"format": LOG_FORMAT, "datefmt": LOG_DATEFMT}},
    }


def line_buffered() -> None:
    """stdout and stderr flushed at each line, even into a pipe (systemd, docker logs)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--timeout",
    default=120,
    show_default=True,
    type=click.IntRange(1),
    help="Worker timeout in seconds (Postmark waits up to 2 minutes).",
)
@click.option(
    "--event-store",
    envvar=env("POSTMARK_EVENT_STORE"),
    default=None,
    show_envvar=True,
    help="SQLite file for received events ('' to disable).",
)
@click.option(
    "--dispatch",
    envvar=env("POSTMARK_DISPATCH"),
    default=None,
    show_envvar=True,
    help="journal (default: durable, plugins run after the 200), inline, or celery.",
)
@click.option(
    "--journal",
    envvar=env("POSTMARK_JOURNAL"),
    default=None,
    show_envvar=True,
    help=f"SQLite journal file (default {_JOURNAL}).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Run with no webhook authentication (POSTMARK_INSECURE_NO_AUTH): anyone can post events.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    timeout: int,
    event_store: str | None,
    dispatch: str | None,
    journal: str | None,
    insecure_no_auth: bool,
    log_level: str,
) -> None:
    """Run the standalone webhook receiver under gunicorn.

    Settings come from POSTMARK_* environment variables (see receiver/example.env).
    Put it behind a TLS-terminating reverse proxy; see docs/deploying.md.

    \b
    Example:
      postmark-kit serve --port 8000 --journal /var/lib/postmark/journal.sqlite3
    """
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        click.echo("Error: gunicorn is not installed: pip install 'postmark-kit[server]'", err=True)
        sys.exit(2)
    for key, value in (
        ("POSTMARK_EVENT_STORE", event_store),
        ("POSTMARK_DISPATCH", dispatch),
        ("POSTMARK_JOURNAL", journal),
        ("POSTMARK_INSECURE_NO_AUTH", "true" if insecure_no_auth else None),
    ):
        if value is not None:
            os.environ[key] = value

    from .app import PostmarkReceiver, create_app
    from .config import ConfigError
    from .gunicorn_hooks import post_request

    # Fail here, with a clear message, rather than in every worker (and leave the
    # journal's events to the workers' dispatchers, not this check's).
    try:
        PostmarkReceiver.shutdown(create_app({"POSTMARK_JOURNAL_WORKER": False}))
    except (ConfigError, ImportError, RuntimeError, OSError, sqlite3.Error) as exc:
        # RuntimeError: the journal or event store cannot be opened (missing
        # directory, not SQLite): one line here, not a traceback per worker.
        missing = [
            folder
            for path in (os.environ.get(env(name)) for name in _FILE_SETTINGS)
            if path
            for folder in [os.path.dirname(os.path.abspath(path))]
            if not os.path.isdir(folder)
        ]
        hint = f" (no such directory: {missing[0]})" if missing else ""
        click.echo(f"Error: {exc}{hint}", err=True)
        sys.exit(2)

    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": 30,
        "loglevel": log_level,
        "accesslog": "-",  # stdout
        "errorlog": "-",  # stderr
        "logconfig_dict": gunicorn_logconfig(log_level),
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # As receiver/gunicorn.conf.py: close after each answer, never linger on a
        # peer trickling a refused body (see gunicorn_hooks).
        "keepalive": 0,
        "post_request": post_request,
        # gunicorn 25+ opens a control socket, in $HOME/.gunicorn without
        # XDG_RUNTIME_DIR: nothing of the receiver's belongs there.
        "control_socket_disable": True,
    }

    class ReceiverApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # older gunicorn lacks the newer settings
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Built in each worker, after the fork: own SQLite connection, own client pool.
            return create_app()

    line_buffered()
    ReceiverApplication().run()


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {value!r}") from None


#: The largest id SQLite holds: a bigger --id or --limit is refused as bad input.
_MAX_INT = 2**63 - 1


def _sqlite_kind(path: str) -> str:
    """What a file is: ``store``, ``journal``, ``empty`` (SQLite, no tables), ``other``
    (SQLite, something else) or ``not-sqlite``; opened read-only, changed in no way."""
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.Error:
        return "not-sqlite"
    if "events" in tables:
        return "store"
    if "journal" in tables:
        return "journal"
    return "other" if tables else "empty"


def _refuse_kind(path: str, wanted: str) -> None:
    """One line when ``path`` is not the kind of file the command reads."""
    if not os.path.exists(path) or os.path.isdir(path):
        return  # the store/journal says "no ... at PATH"
    kind = _sqlite_kind(path)
    if kind == wanted:
        return
    if kind == "journal":
        hint = " (it is the receiver's journal: use `events failed --journal PATH`)"
    elif kind == "store":
        hint = " (it is the receiver's event store: use `events list --store PATH`)"
    elif kind == "not-sqlite":
        hint = " (not an SQLite database)"
    else:
        hint = ""
    what = "an event store" if wanted == "store" else "a journal"
    click.echo(f"Error: {path} is not {what}{hint}", err=True)
    sys.exit(1)


def _replay_outcome(count: int, before: dict[str, int], after: dict[str, int]) -> str:
    """What ``replay --now`` did, in words: dispatched, succeeded, failed again, left."""
    succeeded = max(0, after["done"] - before["done"])
    failed = max(0, after["dead"] - before["dead"])
    waiting = after["pending"]
    parts = [f"dispatched {count} event(s) now: {succeeded} succeeded"]
    parts.append(f"{failed} failed again" if failed else "none failed")
    text = ", ".join(parts)
    if waiting:
        text += f"; {waiting} event(s) wait for a retry the receiver's worker will make"
    if after["dead_letters"]:
        text += f"; {after['dead_letters']} dead letter(s) left (`events failed`)"
    else:
        text += "; no dead letters left"
    return text


_store_option = click.option(
    "--store",
    "store_path",
    default=None,
    help=f"The receiver's SQLite event store [env var: POSTMARK_EVENT_STORE; default: {_STORE}].",
)


@click.group(invoke_without_command=True)
@click.option(
    "--store",
    "store_path",
    envvar=env("POSTMARK_EVENT_STORE"),
    default=None,
    show_envvar=True,
    help=f"The receiver's SQLite event store [default: {_STORE}].",
)
@click.pass_context
def events(ctx: click.Context, store_path: str | None) -> None:
    """Query the events the receiver stored (default: list the latest).

    Two id spaces, labelled as such: STORE IDs (`events list`, `events show`)
    number the events in the event store; JOURNAL IDs (`events failed`,
    `events replay --id`) number the webhooks in the journal.  --store and
    --journal go after the subcommand (`events --store PATH list` works too).

    \b
    Examples:
      postmark-kit events list --store events.sqlite3 --kind bounce
      postmark-kit events show 12 --store events.sqlite3
      postmark-kit events failed --journal journal.sqlite3
    """
    ctx.obj = {"store": store_path}
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_events)


def _open(ctx: click.Context, store_path: str | None = None) -> Any:
    from ..plugins.store import EventStore, StoreError

    path = store_path or (ctx.obj or {}).get("store") or _STORE
    _refuse_kind(path, "store")
    try:
        return EventStore(path, create=False)
    except StoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@events.command("list")
@_store_option
@click.option(
    "--kind",
    type=click.Choice([*EVENT_KINDS, "unknown"]),
)
@click.option("--recipient", help="Recipient (bounce/complaint: the bounced address).")
@click.option("--message-id")
@click.option("--since", help="Received at or after (ISO 8601).")
@click.option("--until", help="Received before (ISO 8601).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, _MAX_INT))
@click.option("--oldest-first", is_flag=True)
@click.option(
    "--json",
    "--jsonl",
    "as_json",
    is_flag=True,
    help="One JSON object per line, with the payload (--json and --jsonl alike).",
)
@click.pass_context
def list_events(
    ctx: click.Context,
    store_path: str | None = None,
    kind: str | None = None,
    recipient: str | None = None,
    message_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    oldest_first: bool = False,
    as_json: bool = False,
) -> None:
    """List stored events, newest first (a table, or JSON lines with --json).

    The STORE ID column is what `events show` takes.

    \b
    Example:
      postmark-kit events list --store events.sqlite3 --kind bounce --limit 20
    """
    store = _open(ctx, store_path)
    try:
        rows = store.query(
            kind=kind,
            recipient=recipient,
            message_id=message_id,
            since=_when(since),
            until=_when(until),
            limit=limit,
            newest_first=not oldest_first,
        )
    finally:
        store.close()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict(), ensure_ascii=False))
        return
    header = ("STORE ID", "RECEIVED", "KIND", "TYPE", "RECIPIENT", "MESSAGE ID")
    table = [
        (
            str(r.id),
            r.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.kind,
            r.record_type or "",
            r.recipient or "",
            r.message_id or "",
        )
        for r in rows
    ]
    _echo_table(header, table)


@events.command("show")
@click.argument("event_id", metavar="STORE_ID", type=click.IntRange(1, _MAX_INT))
@_store_option
@click.pass_context
def show_event(ctx: click.Context, event_id: int, store_path: str | None) -> None:
    """Print one stored event's webhook body as JSON.

    STORE_ID is an id from `events list` (the event store), not a JOURNAL ID
    of `events failed`.

    \b
    Example:
      postmark-kit events show 12 --store events.sqlite3
    """
    store = _open(ctx, store_path)
    try:
        row = store.get(event_id)
    finally:
        store.close()
    if row is None:
        click.echo(
            f"Error: no event {event_id} in the event store (STORE IDs are listed by "
            "`events list`; `events failed` lists JOURNAL IDs)",
            err=True,
        )
        sys.exit(1)
    click.echo(json.dumps(row.payload, indent=2, ensure_ascii=False))


_journal_option = click.option(
    "--journal",
    "journal_path",
    envvar=env("POSTMARK_JOURNAL"),
    default=_JOURNAL,
    show_default=True,
    show_envvar=True,
    help="The receiver's journal (POSTMARK_DISPATCH=journal).",
)


def _open_journal(path: str) -> Any:
    from .journal import JournalError, WebhookJournal

    _refuse_kind(path, "journal")
    try:
        return WebhookJournal(path, create=False)
    except JournalError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


_celery_option = click.option(
    "--celery",
    "use_celery",
    is_flag=True,
    help="Celery mode: the dead-letter list in Redis (POSTMARK_CELERY_* settings).",
)


def _celery_api() -> Any:
    try:
        from . import celery_dispatch
    except ImportError:
        click.echo("Error: celery is not installed: pip install 'postmark-kit[celery]'", err=True)
        sys.exit(2)
    return celery_dispatch


def _celery_failed(limit: int, as_json: bool) -> None:
    from .config import ConfigError

    api = _celery_api()
    try:
        dead = api.dead_letters()[:limit]
    except (ConfigError, api.redis.RedisError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        for letter in dead:
            click.echo(json.dumps(letter.as_dict(), ensure_ascii=False))
        return
    header = ("KEY", "KIND", "PLUGIN", "ATTEMPTS", "FAILED AT", "ERROR")
    rows = [
        (
            d.dedupe_key,
            d.kind,
            d.plugin,
            str(d.attempts),
            d.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.error.splitlines()[0][:80] if d.error else "",
        )
        for d in dead
    ]
    if rows:
        _echo_table(header, rows)
    click.echo(f"{len(dead)} dead letter(s) in Redis", err=bool(rows))


@events.command("failed")
@_journal_option
@_celery_option
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, _MAX_INT))
@click.option(
    "--json", "--jsonl", "as_json", is_flag=True, help="One JSON object per line (either flag)."
)
def failed_events(journal_path: str, use_celery: bool, limit: int, as_json: bool) -> None:
    """List dead letters: events a plugin failed on every attempt.

    Fix the cause, then `postmark-kit events replay --id JOURNAL_ID` (or
    --all).  The JOURNAL ID column numbers webhooks in the journal; it is not
    the STORE ID of `events list`/`events show`.

    \b
    Example:
      postmark-kit events failed --journal journal.sqlite3 --limit 20
    """
    if use_celery:
        _celery_failed(limit, as_json)
        return
    journal = _open_journal(journal_path)
    try:
        dead = journal.dead_letters(limit=limit)
        counts = journal.counts()
    finally:
        journal.close()
    if as_json:
        for letter in dead:
            click.echo(json.dumps(letter.as_dict(), ensure_ascii=False))
        return
    header = ("JOURNAL ID", "KIND", "PLUGIN", "ATTEMPTS", "FAILED AT", "ERROR")
    table = [
        (
            str(d.event_id),
            d.kind,
            d.plugin,
            str(d.attempts),
            d.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.error.splitlines()[0][:80] if d.error else "",
        )
        for d in dead
    ]
    if table:
        _echo_table(header, table)
    click.echo(
        f"{counts['dead_letters']} dead letter(s); journal: {counts['pending']} pending, "
        f"{counts['done']} done, {counts['dead']} dead",
        err=bool(table),
    )


@events.command(
    "replay",
    epilog="\b\nExamples:\n  postmark-kit events replay --journal journal.sqlite3 --id 7\n"
    "  postmark-kit events replay --journal journal.sqlite3 --all --now",
)
@_journal_option
@_celery_option
@click.option(
    "--id",
    "event_ids",
    type=click.IntRange(1, _MAX_INT),
    multiple=True,
    metavar="JOURNAL_ID",
    help="A JOURNAL ID of `events failed` (repeatable).",
)
@click.option("--all", "replay_all", is_flag=True, help="Every event with dead letters.")
@click.option(
    "--now",
    is_flag=True,
    help="Dispatch here instead of leaving it to the running receiver's worker: with "
    "the plugins of the POSTMARK_* settings, or of the receiver in the app "
    "POSTMARK_FLASK_APP names (module:app or module:create_app).",
)
def replay_events(
    journal_path: str, use_celery: bool, event_ids: tuple[int, ...], replay_all: bool, now: bool
) -> None:
    """Queue events for dispatch again.

    A dead-lettered or retrying event goes again only to the plugin hooks that
    have not succeeded (their dead letters stay until they do); a finished
    event named by --id goes to every plugin (a deliberate replay: plugins see
    it twice).  The running receiver's worker picks them up.  With --now, a
    plugin owed an event but not loaded here is named and nothing is queued.
    """
    if replay_all == bool(event_ids):
        raise click.UsageError("give --id JOURNAL_ID (repeatable) or --all")
    if use_celery:
        if event_ids or now:
            raise click.UsageError("with --celery, replay takes --all (the workers dispatch)")
        from .config import ConfigError

        api = _celery_api()
        try:
            count = api.replay_dead_letters()
        except (ConfigError, api.redis.RedisError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        click.echo(f"queued {count} event(s) for the Celery workers")
        return
    app = _replay_app(journal_path) if now else None
    try:
        journal = _open_journal(journal_path)
        try:
            if app is not None:
                _refuse_missing_plugins(app, journal, None if replay_all else event_ids)
            queued = journal.replay(None if replay_all else event_ids)
            missing = sorted(set(event_ids) - set(queued))
            dropped = [i for i in missing if journal.get(i) is not None]
        finally:
            journal.close()
        missing = [i for i in missing if i not in dropped]
        if missing:
            click.echo(f"no such event: {', '.join(map(str, missing))}", err=True)
        if dropped:
            click.echo(
                f"event(s) {', '.join(map(str, dropped))}: finished, and the journal no longer"
                " keeps the body (POSTMARK_JOURNAL_KEEP_BODY_BYTES); the event store has it",
                err=True,
            )
            missing += dropped
        click.echo(f"queued {len(queued)} event(s) for dispatch")
        if app is not None and queued:
            _dispatch_now(app)
    finally:
        if app is not None:
            from .app import PostmarkReceiver

            PostmarkReceiver.shutdown(app)
    if missing:
        sys.exit(1)


def _replay_app(journal_path: str) -> Any:
    """The receiver --now dispatches with: the host app's, or one from the settings."""
    from .app import PostmarkReceiver, create_app, load_app
    from .config import ConfigError
    from .journal import JournalDispatcher

    host = setting("POSTMARK_FLASK_APP").read(os.environ)
    try:
        if host:
            # The host app's receiver: its plugins, its config, its application context.
            app = load_app(host)
        else:
            app = create_app(
                {
                    "POSTMARK_DISPATCH": "journal",
                    "POSTMARK_JOURNAL": journal_path,
                    "POSTMARK_JOURNAL_WORKER": False,
                    # Never served: only its plugins are used.
                    "POSTMARK_INSECURE_NO_AUTH": True,
                }
            )
        state = PostmarkReceiver.state_for(app)
    except (ConfigError, ImportError, RuntimeError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    dispatcher = state.dispatcher
    if not isinstance(dispatcher, JournalDispatcher) or os.path.abspath(
        dispatcher.settings.path
    ) != os.path.abspath(journal_path):
        PostmarkReceiver.shutdown(app)
        click.echo(
            f"Error: the receiver of {host} does not dispatch from {journal_path} "
            "(POSTMARK_DISPATCH=journal, POSTMARK_JOURNAL)",
            err=True,
        )
        sys.exit(2)
    return app


def _refuse_missing_plugins(app: Any, journal: Any, event_ids: Sequence[int] | None) -> None:
    """Stop before queuing when a plugin owed one of the events is not loaded here."""
    from .app import PostmarkReceiver
    from .journal import PARSE_FAILURE

    if event_ids is None:
        event_ids = [d.event_id for d in journal.dead_letters()]
    loaded = {name for name, _ in PostmarkReceiver.plugin_manager(app).list_name_plugin()}
    owed = journal.unfinished(event_ids)
    absent = sorted(
        {p for keys in owed.values() for p, _ in keys if p not in loaded and p != PARSE_FAILURE}
    )
    if absent:
        click.echo(
            f"Error: plugin(s) {', '.join(absent)} not loaded here (POSTMARK_PLUGINS, entry"
            " points): nothing replayed. Replay without --now to leave it to the receiver,"
            " or run this where the plugin is installed.",
            err=True,
        )
        sys.exit(1)


def _dispatch_now(app: Any) -> None:
    from .app import PostmarkReceiver
    from .journal import JournalDispatcher

    dispatcher = PostmarkReceiver.state_for(app).dispatcher
    assert isinstance(dispatcher, JournalDispatcher)  # checked by _replay_app
    before = dispatcher.journal.counts()
    count = dispatcher.drain()
    counts = dispatcher.journal.counts()
    click.echo(_replay_outcome(count, before, counts))
