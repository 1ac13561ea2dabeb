"""The simulator's Flask app: one blueprint per API area over a ``SimulatorState``.

Routing is werkzeug's, made case-insensitive like Postmark's: a path that does not
match as sent is matched again with its fixed words in the documented casing.
Operations of the documented API that are not simulated answer 501 naming the
operation, never a fake success.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map

from . import account, sending, stats, suppressions, templates, webhooks
from .http import (
    ACCOUNT_VIEWS,
    API_TEST_TOKEN,
    API_TEST_VIEWS,
    ENVIRON_KEY,
    EXTENSION_KEY,
    PARSED_BODY,
    json_response,
    state,
)
from .records import ApiFailure
from .state import SimulatorState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: (method, path pattern, operation id) of documented operations the simulator does not
#: implement: they answer 501 naming the operation.  Every operation of the client's
#: catalog is simulated now, so this is empty; a new Postmark operation goes here
#: until it is simulated.
UNSIMULATED_OPERATIONS: list[tuple[str, str, str]] = []

_BLUEPRINTS = (sending.bp, templates.bp, account.bp, suppressions.bp, webhooks.bp, stats.bp)


class SimulatorApp(Flask):
    """The simulator's routes; each request serves the state its WSGI environ names.

    Views run under that state's lock (one request changes it at a time).  An
    app made with a ``state`` serves it; :func:`create_wsgi_app` serves any
    number of states through one process-wide app, so a simulator costs only
    its state (werkzeug compiles each of the ~90 rules as it is added: tens of
    ms an app).
    """

    def __init__(self, state: SimulatorState | None = None) -> None:
        super().__init__("postmark_kit.testing")
        self.url_map.strict_slashes = False
        #: The state this app serves when the request names none (``create_app``'s).
        self.state = state
        if state is not None:
            self.extensions[EXTENSION_KEY] = state
        for bp in _BLUEPRINTS:
            self.register_blueprint(bp)
        self.before_request(_auth_and_content_type)
        self.register_error_handler(ApiFailure, _api_failure)
        self.register_error_handler(404, _no_route)
        self.register_error_handler(405, _no_route)
        self.wsgi_app = _CaseInsensitivePaths(self.wsgi_app, self.url_map)  # type: ignore[method-assign]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.state is not None:
            environ[ENVIRON_KEY] = self.state
        elif ENVIRON_KEY not in environ:
            raise RuntimeError("No simulator state: serve one with create_wsgi_app(state).")
        return super().__call__(environ, start_response)

    def dispatch_request(self) -> Any:
        with state.lock:
            return super().dispatch_request()


class _CaseInsensitivePaths:
    """WSGI middleware: retry an unmatched path with its fixed words in the rules' casing."""

    def __init__(self, app: WSGIApplication, url_map: Map) -> None:
        self.app = app
        self.url_map = url_map
        self.words = _static_words(rule.rule for rule in url_map.iter_rules())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        fixed = "/".join(self.words.get(part.lower(), part) for part in path.split("/"))
        if fixed == path:  # nothing to fix (the usual case): no routing here, Flask's only
            return self.app(environ, start_response)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            adapter.match(path, environ.get("REQUEST_METHOD", "GET"))
        except (NotFound, MethodNotAllowed):
            environ["PATH_INFO"] = fixed
        except Exception:  # noqa: S110 - redirects and the like: let Flask answer them
            pass
        return self.app(environ, start_response)


def _static_words(rules: Iterable[str]) -> dict[str, str]:
    words: dict[str, str] = {}
    for rule in rules:
        for part in rule.split("/"):
            if part and "<" not in part:
                words[part.lower()] = part
    return words


def _auth_and_content_type() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    account = view in ACCOUNT_VIEWS
    header = "X-Postmark-Account-Token" if account else "X-Postmark-Server-Token"
    expected = state.account_token if account else state.server_token
    sent = request.headers.get(header)
    if sent == API_TEST_TOKEN and view in API_TEST_VIEWS:
        g.postmark_api_test = True
    elif sent != expected:
        raise ApiFailure(
            401, 10, f"Request does not contain a valid {header} header, or the token is wrong."
        )
    if request.method in ("POST", "PUT", "PATCH"):
        # Postmark answers 415 to a body that is not declared JSON (since 2023)
        if request.mimetype != "application/json":
            raise ApiFailure(
                415,
                409,
                "Unsupported Media Type: send the request body as JSON with "
                "'Content-Type: application/json'.",
            )
        raw = request.get_data(cache=True)
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ApiFailure(422, 402, "Received invalid JSON input.") from None
        setattr(g, PARSED_BODY, parsed)  # json_body's, parsed once


def _api_failure(exc: ApiFailure) -> Response:
    return json_response({"ErrorCode": exc.code, "Message": exc.message}, exc.status)


def _no_route(exc: Exception) -> Response:
    url = request.path
    for method, pattern, op in UNSIMULATED_OPERATIONS:
        rx = re.compile("^" + pattern.replace("{}", "[^/]+") + "/?$", re.IGNORECASE)
        if method == request.method and rx.match(url):
            return json_response(
                {
                    "ErrorCode": 501,
                    "Message": f"Operation '{op}' ({method} {pattern}) is not implemented "
                    "by the postmark-kit simulator.",
                },
                501,
            )
    return json_response(
        {"ErrorCode": 404, "Message": f"No such endpoint: {request.method} {url}"}, 404
    )


def create_app(state: SimulatorState) -> Flask:
    """A Flask app of its own serving ``state`` (to mount, wrap or ``test_client()`` it).

    Building one compiles every route; to serve many states (as
    :class:`~postmark_kit.testing.FakePostmark` does),
    :func:`~postmark_kit.testing.create_wsgi_app` shares one app.
    """
    return SimulatorApp(state)


def create_wsgi_app(state: SimulatorState) -> WSGIApplication:
    """The WSGI app serving ``state`` on routes built once per process.

    As cheap as the state: every state served this way shares one
    ``SimulatorApp``, which reads the state from each request's environ;
    any number serve concurrently, each request under its own state's lock.
    """
    return _Serving(state, _shared_app())


_shared: SimulatorApp | None = None
_shared_lock = threading.Lock()


def _shared_app() -> SimulatorApp:
    """The process-wide app behind :func:`create_wsgi_app`, built on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SimulatorApp()
        return _shared


class _Serving:
    """Names one state in each request's environ, then hands it to the shared app."""

    def __init__(self, state: SimulatorState, app: SimulatorApp) -> None:
        self.state = state
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[ENVIRON_KEY] = self.state
        return self.app(environ, start_response)
