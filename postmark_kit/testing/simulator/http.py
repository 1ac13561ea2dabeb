"""Request and response helpers shared by the simulator's blueprints."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request
from werkzeug.local import LocalProxy

from ...pagination import POSTMARK_TZ
from .records import JSON, SEARCH_WINDOW, fail, public
from .state import SimulatorState

#: Key of the simulator's state in ``app.extensions`` (of an app made for one state).
EXTENSION_KEY = "postmark_kit.simulator"
#: Key of the state a request is served from in its WSGI environ.
ENVIRON_KEY = "postmark_kit.simulator.state"


def _request_state() -> SimulatorState:
    found: SimulatorState | None = request.environ.get(ENVIRON_KEY)
    if found is None:  # a request context made by hand (test_request_context) on create_app's
        found = current_app.extensions[EXTENSION_KEY]
    return found


#: The state of the simulator serving the current request (named in its WSGI environ).
state = cast(SimulatorState, LocalProxy(_request_state))

F = TypeVar("F", bound=Callable[..., Response])


#: Views that take the account token; every other view takes the server token.
ACCOUNT_VIEWS: set[Callable[..., Response]] = set()


#: Send views that also take Postmark's ``POSTMARK_API_TEST`` server token.
API_TEST_VIEWS: set[Callable[..., Response]] = set()
#: The test token: sends are checked, answered, and forgotten.
API_TEST_TOKEN = "POSTMARK_API_TEST"  # noqa: S105 - Postmark's documented public value


def api_test_token(view: F) -> F:
    """Let a send view take ``POSTMARK_API_TEST`` (checked, never delivered)."""
    API_TEST_VIEWS.add(view)
    return view


def is_api_test() -> bool:
    """True when this request came with the ``POSTMARK_API_TEST`` token."""
    return bool(g.get("postmark_api_test"))


def account_token(view: F) -> F:
    """Mark a view as taking the account token (Postmark's account-level endpoints)."""
    ACCOUNT_VIEWS.add(view)
    return view


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


#: Where the body the auth check parsed waits for ``json_body`` (in ``flask.g``).
PARSED_BODY = "postmark_parsed_body"
_UNPARSED = object()


def json_body() -> Any:
    parsed = g.pop(PARSED_BODY, _UNPARSED)
    if parsed is not _UNPARSED:
        return parsed
    raw = request.get_data(cache=True)
    if not raw:
        raise fail(402, "Received invalid JSON input.")
    try:
        return json.loads(raw)
    except ValueError:
        raise fail(402, "Received invalid JSON input.") from None


def paging(window: bool = True) -> tuple[int, int]:
    try:
        args = {k.lower(): v for k, v in request.args.items()}
        count = int(args["count"])
        offset = int(args.get("offset", "0"))
    except (KeyError, ValueError):
        raise fail(700, "The 'count' and 'offset' parameters are required integers.") from None
    if not 1 <= count <= 500 or offset < 0:
        raise fail(700, "'count' must be 1-500 and 'offset' non-negative.")
    if window and count + offset > SEARCH_WINDOW:
        raise fail(700, "Offset + count must not exceed 10,000; narrow the search with dates.")
    return count, offset


def date_arg(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(700, f"Invalid date in '{name}'.") from None
    # Postmark reads a date without an offset in US Eastern time, as the client sends it.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=POSTMARK_TZ)


def in_dates(record: JSON) -> bool:
    start, end, end_day = _date_window()
    when: datetime = record["_date"]
    if start and when < start:
        return False
    if end_day is not None:
        # a bare date means "through that whole day", like Postmark
        return when.date() <= end_day
    return not (end and when > end)


def _date_window() -> tuple[datetime | None, datetime | None, date | None]:
    """The request's ``fromdate``/``todate``, parsed once: a search tests every record."""
    window: tuple[datetime | None, datetime | None, date | None] | None = g.get(_WINDOW)
    if window is None:
        start, end = date_arg("fromdate"), date_arg("todate")
        raw = request.args.get("todate", "")
        window = (start, end, date.fromisoformat(raw) if end and len(raw) == 10 else None)
        setattr(g, _WINDOW, window)
    return window


_WINDOW = "postmark_date_window"


def page_of(records: list[JSON], count: int, offset: int) -> list[JSON]:
    newest_first = sorted(records, key=lambda r: r["_date"], reverse=True)
    return [public(r) for r in newest_first[offset : offset + count]]
