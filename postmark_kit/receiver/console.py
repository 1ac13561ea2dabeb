"""The operator's console: events, failures, replay and a chart of the traffic, as plain HTML.

Served by the receiver under ``<prefix>/console`` when ``POSTMARK_CONSOLE`` is
on, behind its own login (``POSTMARK_CONSOLE_USERNAME`` /
``POSTMARK_CONSOLE_PASSWORD``, never the webhook's), or from a shell with
``postmark-kit console --store ... --journal ...`` on 127.0.0.1.  It reads the
event store and the journal through their public functions, and writes only
one thing: a replay, queued with :meth:`WebhookJournal.replay` exactly as
``postmark-kit events replay`` queues it.  No JavaScript, no asset from
outside the package: the chart is SVG drawn on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import attrs
import click
import jinja2
from flask import Blueprint, Flask, Response, abort, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..events import parse_event
from ..plugins.store import EventStore, StoredEvent
from ..settings import env, setting
from .dispatch import event_plugins
from .journal import JournalSettings, WebhookJournal

if TYPE_CHECKING:
    from .app import ReceiverState

__all__ = ["ConsoleSources", "console_app", "console_blueprint", "console_command"]

#: Event kinds in the order the chart stacks them, with their colours.
KIND_COLOURS = {
    "delivery": "#2e7d32",
    "open": "#1565c0",
    "click": "#6a1b9a",
    "bounce": "#c62828",
    "spam_complaint": "#ef6c00",
    "subscription_change": "#00838f",
    "inbound": "#5d4037",
}

#: Chart periods: name -> (span, bucket width), both in seconds.
PERIODS = {"hour": (3600, 60), "day": (86400, 3600), "week": (7 * 86400, 6 * 3600)}

PAGE_SIZE = 50
#: Seconds a console login lasts.
SESSION_SECONDS = 12 * 3600
_COOKIE = "postmark_console"
#: Seconds the overview's per-plugin counts are reused (they count the whole journal).
PLUGIN_TOTALS_TTL = 10.0

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)


@attrs.define(eq=False)
class ConsoleSources:
    """Where the console reads from: the event store and/or the journal (paths).

    ``plugins`` (when known: the receiver's plugin manager) gives each loaded
    plugin's event kinds; a replay that would reach a dead-lettered plugin not
    among them is refused, as ``events replay --now`` refuses it.
    """

    store_path: str | None
    journal_path: str | None
    plugins: Callable[[], Mapping[str, Iterable[str]]] | None = None
    _open: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def _get(self, name: str, factory: Callable[[], Any]) -> Any:
        # One connection per process, shared by its threads (both classes lock
        # around each statement); a forked worker opens its own.
        with self._lock:
            pid, value = self._open.get(name, (None, None))
            if pid != os.getpid():
                value = factory()
                self._open[name] = (os.getpid(), value)
            return value

    def store(self) -> EventStore | None:
        """The console's connection to the event store (``None``: no store configured)."""
        path = self.store_path
        return self._get("store", lambda: EventStore(path)) if path else None

    def journal(self) -> WebhookJournal | None:
        """The console's connection to the journal (``None``: no journal configured)."""
        path = self.journal_path
        return self._get("journal", lambda: WebhookJournal(path)) if path else None

    def close(self) -> None:
        """Close the connections this process opened."""
        with self._lock:
            opened, self._open = self._open, {}
        for pid, value in opened.values():
            if pid == os.getpid():
                value.close()


# -- helpers ------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _parse_when(text: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time from a filter box (a bare ``until`` date includes that day)."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _chart(counts: Mapping[str, list[int]], start: datetime, step: int, n: int) -> dict[str, Any]:
    """A stacked bar chart as SVG shapes (drawn by the template, no script)."""
    width, height, left, bottom, top = 720.0, 220.0, 44.0, 24.0, 8.0
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(series[i] for series in counts.values()) for i in range(n)]
    peak = max(totals, default=0) or 1
    bar_w = plot_w / n
    bars = []
    for i in range(n):
        y = height - bottom
        for kind in [*KIND_COLOURS, *sorted(set(counts) - set(KIND_COLOURS))]:
            value = counts.get(kind, [0] * n)[i]
            if not value:
                continue
            h = value / peak * plot_h
            y -= h
            at = start + timedelta(seconds=i * step)
            bars.append(
                {
                    "x": round(left + i * bar_w + 1, 1),
                    "y": round(y, 1),
                    "w": round(max(bar_w - 2, 1), 1),
                    "h": round(h, 1),
                    "colour": KIND_COLOURS.get(kind, "#757575"),
                    "title": f"{kind}: {value} from {_when(at)} UTC",
                    "kind": kind,
                }
            )
    labels = []
    for i in range(0, n, max(1, n // 6)):
        at = start + timedelta(seconds=i * step)
        fmt = "%H:%M" if step < 86400 / 4 or n <= 24 else "%m-%d %H:%M"
        labels.append({"x": round(left + i * bar_w, 1), "text": at.strftime(fmt)})
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "base": height - bottom,
        "peak": max(totals, default=0),
        "bars": bars,
        "labels": labels,
        "total": sum(totals),
        "legend": [
            {"kind": k, "colour": KIND_COLOURS.get(k, "#757575"), "count": sum(v)}
            for k, v in sorted(counts.items(), key=lambda kv: -sum(kv[1]))
        ],
    }


def _fields(stored: StoredEvent) -> list[tuple[str, str]]:
    """The typed event's fields, as name/value text (nested values as JSON)."""
    try:
        event = parse_event(stored.payload)
    except Exception as exc:  # a stored body this version no longer parses
        return [("error", f"does not parse: {exc}")]
    out = [("event class", type(event).__name__)]
    if not attrs.has(type(event)):
        return out
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if value is None or value == {} or value == [] or field.name == "raw":
            continue
        if isinstance(value, datetime):
            text = value.isoformat()
        elif isinstance(value, str | int | float | bool):
            text = str(value)
        else:
            try:
                from ..convert import unstructure

                text = json.dumps(unstructure(value), default=str)
            except Exception:
                text = repr(value)
        out.append((field.name, text[:2000]))
    return out


# -- the blueprint -------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("postmark_kit.receiver", "templates/console"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["age"] = _age
    return env


_ENV: jinja2.Environment | None = None
_ENV_LOCK = threading.Lock()


def _templates() -> jinja2.Environment:
    global _ENV
    with _ENV_LOCK:
        if _ENV is None:
            _ENV = _environment()
        return _ENV


def _stylesheet() -> bytes:
    return files("postmark_kit.receiver").joinpath("static/console.css").read_bytes()


def console_blueprint(
    name: str,
    sources: ConsoleSources,
    *,
    username: str,
    password: str,
    secret: str | bytes | None = None,
) -> Blueprint:
    """The console as a Flask blueprint (register it under ``<prefix>/console``).

    ``username``/``password`` log an operator in; the session cookie is
    signed with a key derived from them (and ``secret``, e.g. the app's
    ``SECRET_KEY``), so changing the password ends every session.
    """
    if not username or not password:
        raise ValueError("the console needs a username and a password")
    extra = secret.encode() if isinstance(secret, str) else (secret or b"")
    key = hashlib.sha256(
        b"postmark-kit console\0" + username.encode() + b"\0" + password.encode() + b"\0" + extra
    ).digest()
    signer = URLSafeTimedSerializer(key, salt="postmark-kit-console-session")
    bp = Blueprint(name, __name__)
    static_css = _stylesheet()

    def session() -> dict[str, Any] | None:
        cookie = request.cookies.get(_COOKIE)
        if not cookie:
            return None
        try:
            data = signer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("u") != username:
            return None
        return data

    def csrf_token(data: Mapping[str, Any]) -> str:
        return hmac.new(key, b"csrf\0" + str(data.get("n")).encode(), "sha256").hexdigest()

    def url(endpoint: str, **params: Any) -> str:
        from flask import url_for

        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return url_for(f"{bp.name}.{endpoint}", **clean)

    def render(template: str, status: int = 200, **context: Any) -> Response:
        data = session()
        body = (
            _templates()
            .get_template(template)
            .render(
                url=url,
                user=username if data else None,
                csrf=csrf_token(data) if data else "",
                active=template.split(".")[0],
                **context,
            )
        )
        return Response(body, status=status, mimetype="text/html")

    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if response.mimetype != "text/css":
            response.headers["Cache-Control"] = "no-store"
        return response

    @bp.before_request
    def require_login() -> Any:
        if request.endpoint in (f"{bp.name}.login", f"{bp.name}.stylesheet"):
            return None
        if session() is None:
            target = request.full_path if request.method == "GET" else url("overview")
            return redirect(url("login", next=target.rstrip("?")))
        return None

    def check_csrf() -> None:
        data = session()
        sent = request.form.get("csrf_token", "")
        if data is None or not hmac.compare_digest(sent, csrf_token(data)):
            abort(Response("invalid or missing CSRF token: reload the page", 400))

    @bp.get("/console.css")
    def stylesheet() -> Response:
        response = Response(static_css, mimetype="text/css")
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        target = request.values.get("next", "")
        # Only a path inside the console: never an open redirect.
        base = url("overview")
        if not target.startswith(base) or target.startswith("//"):
            target = base
        if request.method == "GET":
            return render("login.html", next=target, error=None)
        ok_user = hmac.compare_digest(request.form.get("username", "").encode(), username.encode())
        ok_pass = hmac.compare_digest(request.form.get("password", "").encode(), password.encode())
        if not (ok_user and ok_pass):
            return render("login.html", 401, next=target, error="Wrong username or password.")
        response = redirect(target, 303)
        cookie = signer.dumps({"u": username, "n": secrets.token_hex(16)})
        response.set_cookie(
            _COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            path=base.rstrip("/") or "/",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
        )
        return response  # type: ignore[return-value]

    @bp.post("/logout")
    def logout() -> Response:
        check_csrf()
        response = redirect(url("login"), 303)
        response.delete_cookie(_COOKIE, path=url("overview").rstrip("/") or "/")
        return response  # type: ignore[return-value]

    cached: dict[str, tuple[float, dict[str, dict[str, int]]]] = {}

    def plugin_totals(journal: WebhookJournal) -> dict[str, dict[str, int]]:
        # Counting every finished event is the one read that grows with the
        # journal: kept for PLUGIN_TOTALS_TTL seconds per process.
        hit = cached.get("totals")
        if hit is not None and time.monotonic() - hit[0] < PLUGIN_TOTALS_TTL:
            return hit[1]
        kinds = sources.plugins() if sources.plugins else None
        totals = journal.plugin_totals(kinds)
        cached["totals"] = (time.monotonic(), totals)
        return totals

    @bp.get("/")
    def overview() -> Response:
        period = request.args.get("period", "day")
        if period not in PERIODS:
            period = "day"
        span, step = PERIODS[period]
        now = datetime.now(UTC)
        n = span // step
        # Buckets aligned on their width, the last one holding now.
        end = datetime.fromtimestamp((now.timestamp() // step + 1) * step, UTC)
        start = end - timedelta(seconds=n * step)
        store, journal = sources.store(), sources.journal()
        counts = store.kind_counts(start, end, step=step) if store else {}
        backlog: dict[str, Any] = {}
        plugins: list[tuple[str, dict[str, int]]] = []
        if journal is not None:
            figures = journal.backlog()
            oldest = figures["oldest_pending"]
            totals = plugin_totals(journal)
            plugins = sorted(totals.items())
            backlog = {
                "pending": figures["pending"],
                "oldest": (now - oldest).total_seconds() if oldest else None,
                "dead_letters": figures["dead_letters"],
            }
        return render(
            "overview.html",
            period=period,
            periods=list(PERIODS),
            chart=_chart(counts, start, step, n),
            stored=store.count() if store else None,
            backlog=backlog,
            plugins=plugins,
            has_store=store is not None,
            has_journal=journal is not None,
        )

    @bp.get("/events")
    def events() -> Response:
        store = sources.store()
        args = request.args
        filters = {
            key: args.get(key, "").strip()
            for key in ("kind", "recipient", "message_id", "tag", "server", "since", "until")
        }
        errors: list[str] = []
        query: dict[str, Any] = {
            "kind": filters["kind"] or None,
            "recipient": filters["recipient"] or None,
            "message_id": filters["message_id"] or None,
            "tag": filters["tag"] or None,
        }
        if filters["server"]:
            try:
                query["server_id"] = int(filters["server"])
            except ValueError:
                errors.append(f"server: not a number: {filters['server'][:40]!r}")
        for key in ("since", "until"):
            if filters[key]:
                try:
                    query[key] = _parse_when(filters[key], end=key == "until")
                except ValueError:
                    errors.append(f"{key}: not a date: {filters[key][:40]!r}")
        before = args.get("before", type=int)
        rows: list[StoredEvent] = []
        total = 0
        kinds: list[str] = []
        if store is not None:
            rows = store.query(**query, limit=PAGE_SIZE + 1, before_id=before)
            total = store.count(**query)
            kinds = sorted({*KIND_COLOURS, filters["kind"]} - {""})
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        older = url("events", **filters, before=rows[-1].id) if more and rows else None
        return render(
            "events.html",
            rows=rows,
            total=total,
            filters=filters,
            kinds=kinds,
            errors=errors,
            older=older,
            newest=url("events", **filters) if before else None,
            has_store=store is not None,
        )

    @bp.get("/events/<int:event_id>")
    def event(event_id: int) -> Response:
        store, journal = sources.store(), sources.journal()
        stored = store.get(event_id) if store else None
        if stored is None:
            return render("missing.html", 404, what=f"event {event_id}")
        entry = journal.find(stored.dedupe_key) if journal else None
        deliveries = journal.delivery_log(entry.id) if journal and entry else []
        dead = (
            [d for d in journal.dead_letters() if entry and d.event_id == entry.id]
            if journal
            else []
        )
        try:
            raw = json.dumps(stored.payload, indent=2, ensure_ascii=False)
        except ValueError:
            raw = stored.raw
        return render(
            "event.html",
            stored=stored,
            fields=_fields(stored),
            raw=raw,
            entry=entry,
            deliveries=deliveries,
            dead=dead,
            has_journal=journal is not None,
        )

    @bp.get("/journal/<int:entry_id>")
    def journal_entry(entry_id: int) -> Response:
        """A journal id (the failures page's) -> that event's page in the store."""
        store, journal = sources.store(), sources.journal()
        entry = journal.get(entry_id) if journal else None
        stored = store.get_by_key(entry.dedupe_key) if store and entry else None
        if stored is None:
            return render("missing.html", 404, what=f"stored event for journal entry {entry_id}")
        return redirect(url("event", event_id=stored.id))  # type: ignore[return-value]

    def replay_plan(plugin: str | None, event_id: int | None) -> dict[str, Any]:
        journal = sources.journal()
        if journal is None:
            abort(Response("no journal: nothing to replay", 404))
        letters = journal.dead_letters()
        if event_id is not None:
            chosen = [d for d in letters if d.event_id == event_id]
            ids = [event_id] if chosen or journal.get(event_id) else []
        else:
            chosen = [d for d in letters if d.plugin == plugin]
            ids = sorted({d.event_id for d in chosen if d.event_id is not None})
        # Every plugin an event still owes goes again, not only the one chosen.
        owed = sorted({d.plugin for d in letters if d.event_id in set(ids)})
        missing: list[str] = []
        if sources.plugins is not None:
            loaded = set(sources.plugins())
            missing = [p for p in owed if p not in loaded]
        return {"ids": ids, "letters": chosen, "owed": owed, "missing": missing}

    @bp.get("/failures")
    def failures() -> Response:
        journal = sources.journal()
        groups = journal.dead_letter_groups() if journal else []
        letters = journal.dead_letters() if journal else []
        by_plugin: dict[str, list[Any]] = {}
        for letter in reversed(letters):
            by_plugin.setdefault(letter.plugin, []).append(letter)
        return render(
            "failures.html",
            groups=groups,
            by_plugin=by_plugin,
            replayed=request.args.get("replayed", type=int),
            has_journal=journal is not None,
        )

    @bp.route("/failures/replay", methods=["GET", "POST"])
    def replay() -> Response:
        plugin = request.values.get("plugin") or None
        event_id = request.values.get("event", type=int)
        if (plugin is None) == (event_id is None):
            return render("missing.html", 400, what="a plugin or an event to replay")
        plan = replay_plan(plugin, event_id)
        if request.method == "GET" or plan["missing"] or not plan["ids"]:
            status = 409 if request.method == "POST" else 200
            return render("replay.html", status, plugin=plugin, event_id=event_id, plan=plan)
        check_csrf()
        journal = sources.journal()
        assert journal is not None
        queued = journal.replay(plan["ids"])
        return redirect(url("failures", replayed=len(queued)), 303)  # type: ignore[return-value]

    return bp


def init_console(
    app: Flask,
    *,
    name: str,
    url_prefix: str,
    sources: ConsoleSources,
    username: str,
    password: str,
) -> Blueprint:
    """Register the console on ``app`` under ``<url_prefix>/console``."""
    bp = console_blueprint(
        name,
        sources,
        username=username,
        password=password,
        secret=app.config.get("SECRET_KEY"),
    )
    app.register_blueprint(bp, url_prefix=f"{url_prefix}/console")
    return bp


def receiver_console(app: Flask, state: ReceiverState) -> Blueprint:
    """The console of one receiver: its store, its journal, its plugins, its own login."""
    config = state.config
    journal = None
    if config.dispatch == "journal":
        journal = JournalSettings.from_mapping(config.raw).path
    pm = state.plugin_manager

    def plugins() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind in KIND_COLOURS:
            for plugin in event_plugins(pm, kind):
                out.setdefault(plugin, []).append(kind)
        return out

    assert config.console_username and config.console_password  # checked by ReceiverConfig
    sources = ConsoleSources(config.event_store, journal, plugins)
    weakref.finalize(app, sources.close)
    return init_console(
        app,
        name=f"{state.name}_console",
        url_prefix=state.url_prefix,
        sources=sources,
        username=config.console_username,
        password=config.console_password,
    )


# -- postmark-kit console -------------------------------------------------------------


def console_app(sources: ConsoleSources, *, username: str, password: str) -> Flask:
    """A bare app serving only the console over the given files (``postmark-kit console``)."""
    app = Flask("postmark_kit.console")
    init_console(
        app,
        name="console",
        url_prefix="",
        sources=sources,
        username=username,
        password=password,
    )

    @app.get("/")
    def root() -> Response:
        return redirect("/console/")  # type: ignore[return-value]

    return app


@click.command("console")
@click.option(
    "--store",
    "store_path",
    envvar=env("POSTMARK_EVENT_STORE"),
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="The receiver's SQLite event store.",
)
@click.option(
    "--journal",
    "journal_path",
    envvar=env("POSTMARK_JOURNAL"),
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="The receiver's journal (dead letters, replay).",
)
@click.option("--port", default=8025, show_default=True, type=click.IntRange(0, 65535))
def console_command(store_path: str | None, journal_path: str | None, port: int) -> None:
    """Browse the event store and the journal in a browser, on 127.0.0.1.

    Log in with POSTMARK_CONSOLE_USERNAME / POSTMARK_CONSOLE_PASSWORD, or with
    the one-off password printed here.  Replays are queued for the receiver's
    worker, as `postmark-kit events replay` queues them.

    \b
    Example:
      postmark-kit console --store events.sqlite3 --journal postmark-journal.sqlite3
    """
    from werkzeug.serving import make_server

    if not store_path and not journal_path:
        raise click.UsageError("give --store and/or --journal")
    for label, path in (("event store", store_path), ("journal", journal_path)):
        if path and not os.path.exists(path):
            raise click.UsageError(f"no {label} at {path}")
    username = setting("POSTMARK_CONSOLE_USERNAME").read(os.environ) or "operator"
    password = setting("POSTMARK_CONSOLE_PASSWORD").read(os.environ) or ""
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    sources = ConsoleSources(store_path, journal_path)
    app = console_app(sources, username=username, password=password)
    try:
        server = make_server("127.0.0.1", port, app, threaded=True)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    address = f"http://127.0.0.1:{server.server_port}/console/"
    click.echo(f"postmark-kit console on {address}")
    if generated:
        click.echo(f"log in as {username} with password {password} (this run only)")
    else:
        click.echo(f"log in as {username} (POSTMARK_CONSOLE_PASSWORD)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sources.close()
