"""What every API command of the CLI shares: tokens, clients, one-line errors, output.

Tokens come from options or ``POSTMARK_SERVER_TOKEN`` / ``POSTMARK_ACCOUNT_TOKEN``
and are never printed: errors name the host and the reason, never a header.
A listing is a table for people, ``--json`` (one array) or ``--jsonl`` (one
object per line) for scripts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import attrs
import click

from ..client import AccountClient, ServerClient
from ..convert import Model, unstructure
from ..errors import ClientValidationError, PostmarkError
from ..settings import env
from ..transport import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, RetryPolicy

__all__ = [
    "ID",
    "MAX_ID",
    "Column",
    "account_client",
    "account_options",
    "api_failure",
    "check_base_url",
    "emit",
    "fail",
    "output_options",
    "reader_gone",
    "record",
    "server_client",
    "server_options",
    "table",
]

#: The largest id any store or Postmark holds (64-bit signed): larger is refused up front.
MAX_ID = 2**63 - 1
#: Click type of an id argument: a bigger number is a usage error, not an overflow deep down.
ID = click.IntRange(1, MAX_ID)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: how every command reports bad input."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def json_object(raw: str | bytes, source: str, what: str = "", hint: str = "") -> dict[str, Any]:
    """``raw`` parsed as one JSON object, or a usage error naming ``source`` (exit 2).

    ``what`` says what the object is (" (the model)"); ``hint`` is added to
    the not-JSON message.
    """
    try:
        data = json.loads(raw)
    except ValueError as exc:
        fail(f"{source} is not JSON ({exc}){hint}", 2)
    if not isinstance(data, dict):
        fail(f"{source} must hold one JSON object{what}, not {type(data).__name__}", 2)
    return data


def reader_gone() -> NoReturn:
    """The reader of standard output went away (``... --json | head``): stop quietly.

    Standard output is pointed at the null device so that Python's final
    flush does not print a second error.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)  # 128 + SIGPIPE, what shells report for a writer cut off by a pipe


def api_failure(exc: PostmarkError, suffix: str = "") -> NoReturn:
    """One line on stderr; exit 2 for a call refused before sending, else 1.

    Network errors already name the host and the reason (refused, DNS, TLS,
    timeout); Postmark's errors their status, ErrorCode and message.
    """
    code = 2 if isinstance(exc, ClientValidationError) else 1
    click.echo(f"Error: {exc}{suffix}", err=True)
    sys.exit(code)


def check_base_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https:// (or http:// for a local simulator)")
    return value


def _connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--retries",
        type=click.IntRange(0, 10),
        default=3,
        show_default=True,
        help="Retries of a failed call (reads: errors, 429, 5xx).",
    )(func)
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True, max=3600),
        default=60.0,
        show_default=True,
        help="Read timeout per request, in seconds.",
    )(func)
    func = click.option(
        "--base-url",
        envvar=env("POSTMARK_BASE_URL"),
        default=DEFAULT_BASE_URL,
        show_default=True,
        show_envvar=True,
        callback=check_base_url,
        help="API root (point it at a local simulator for tests).",
    )(func)
    return func


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--server-token``, ``--base-url``, ``--timeout``, ``--retries``."""
    func = _connection_options(func)
    return click.option(
        "--server-token",
        envvar=env("POSTMARK_SERVER_TOKEN"),
        default=None,
        metavar="TOKEN",
        show_envvar=True,
        help="Server API token (prefer the environment variable: flags end up in shell history).",
    )(func)


def account_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--account-token``, ``--base-url``, ``--timeout``, ``--retries``."""
    func = _connection_options(func)
    return click.option(
        "--account-token",
        envvar=env("POSTMARK_ACCOUNT_TOKEN"),
        default=None,
        metavar="TOKEN",
        show_envvar=True,
        help="Account API token (prefer the environment variable: flags end up in shell history).",
    )(func)


def _client_args(base_url: str, timeout: float, retries: int) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "timeout": (min(DEFAULT_TIMEOUT[0], timeout), timeout),
        "retries": RetryPolicy(max_retries=retries),
    }


def server_client(
    server_token: str | None, base_url: str, timeout: float, retries: int
) -> ServerClient:
    if not server_token:
        fail("no server token: pass --server-token or set POSTMARK_SERVER_TOKEN", 2)
    try:
        return ServerClient(server_token, **_client_args(base_url, timeout, retries))
    except PostmarkError as exc:  # a malformed token: named, never quoted
        api_failure(exc)


def account_client(
    account_token: str | None, base_url: str, timeout: float, retries: int
) -> AccountClient:
    if not account_token:
        fail("no account token: pass --account-token or set POSTMARK_ACCOUNT_TOKEN", 2)
    try:
        return AccountClient(account_token, **_client_args(base_url, timeout, retries))
    except PostmarkError as exc:
        api_failure(exc)


def record(model: Model) -> dict[str, Any]:
    """A model as Postmark-shaped JSON, keeping fields this version does not model."""
    data: dict[str, Any] = {**model.extra, **unstructure(model)}
    return data


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    """Plain aligned columns; ``widths`` caps each column, the last one is not padded."""
    real = [
        min(cap, max([len(h), *(len(" ".join(r[i].split())) for r in rows)]))
        for i, (h, cap) in enumerate(zip(headers, widths, strict=True))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [_clip(c, w).ljust(w) for c, w in zip(cells, real, strict=True)]
        return "  ".join(parts).rstrip()

    click.echo(click.style(line(headers), bold=True))
    for row in rows:
        click.echo(line(row))


@attrs.frozen
class Column:
    """One table column: its header, how to show a record's value, its maximum width."""

    header: str
    value: Callable[[dict[str, Any]], Any]
    width: int = 30


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    text = str(value)
    # Postmark's timestamps: shown to the second, without the offset noise.
    if len(text) >= 19 and text[4:5] == "-" and text[10:11] == "T":
        return text[:19].replace("T", " ")
    return text


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` (one JSON array) and ``--jsonl`` (one object per line); a table otherwise."""
    func = click.option(
        "--jsonl",
        "output",
        flag_value="jsonl",
        help="One JSON object per line, as Postmark returns it (for scripts).",
    )(func)
    func = click.option(
        "--json",
        "output",
        flag_value="json",
        help="One JSON array, as Postmark returns the items (for scripts).",
    )(func)
    return click.option("--table", "output", flag_value="table", default=True, hidden=True)(func)


def emit(
    records: Iterable[dict[str, Any]],
    columns: Sequence[Column],
    output: str,
    *,
    empty: str = "Nothing found.",
) -> None:
    """Print a listing in the chosen form; the "nothing found" note goes to stderr."""
    try:
        if output == "jsonl":
            for item in records:
                click.echo(json.dumps(item, ensure_ascii=False))
            return
        items = list(records)
        if output == "json":
            click.echo(json.dumps(items, ensure_ascii=False, indent=2))
            return
        if not items:
            click.echo(empty, err=True)
            return
        rows = [[_cell(c.value(item)) for c in columns] for item in items]
        table([c.header for c in columns], rows, [c.width for c in columns])
    except BrokenPipeError:
        reader_gone()
