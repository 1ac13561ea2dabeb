"""The simulator's Flask app: one blueprint per API area over a ``SimulatorState``.

Routing is werkzeug's, made case-insensitive like Postmark's: a path that does not
match as sent is matched again with its fixed words in the documented casing.
Operations of the documented API that are not simulated answer 501 naming the
operation, never a fake success.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map

from . import account, sending, stats, suppressions, templates, webhooks
from .http import (
    ACCOUNT_VIEWS,
    API_TEST_TOKEN,
    API_TEST_VIEWS,
    EXTENSION_KEY,
    json_response,
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
    """Flask app whose views run under the state's lock (one request changes it at a time)."""

    def __init__(self, state: SimulatorState) -> None:
        super().__init__("postmark_kit.testing")
        self.url_map.strict_slashes = False
        self.state = state
        self.extensions[EXTENSION_KEY] = state

    def dispatch_request(self) -> Any:
        with self.state.lock:
            return super().dispatch_request()


class _CaseInsensitivePaths:
    """WSGI middleware: retry an unmatched path with its fixed words in the rules' casing."""

    def __init__(self, app: WSGIApplication, url_map: Map) -> None:
        self.app = app
        self.url_map = url_map
        self.words = _static_words(rule.rule for rule in url_map.iter_rules())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        adapter = self.url_map.bind_to_environ(environ)
        try:
            adapter.match(path, environ.get("REQUEST_METHOD", "GET"))
        except (NotFound, MethodNotAllowed):
            fixed = "/".join(self.words.get(part.lower(), part) for part in path.split("/"))
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


def create_app(state: SimulatorState) -> Flask:
    """The Flask app serving ``state``."""
    app = SimulatorApp(state)
    for bp in _BLUEPRINTS:
        app.register_blueprint(bp)

    @app.before_request
    def _auth_and_content_type() -> None:
        view = app.view_functions.get(request.endpoint or "")
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
                json.loads(raw)
            except ValueError:
                raise ApiFailure(422, 402, "Received invalid JSON input.") from None

    @app.errorhandler(ApiFailure)
    def _api_failure(exc: ApiFailure) -> Response:
        return json_response({"ErrorCode": exc.code, "Message": exc.message}, exc.status)

    @app.errorhandler(404)
    @app.errorhandler(405)
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

    app.wsgi_app = _CaseInsensitivePaths(app.wsgi_app, app.url_map)  # type: ignore[method-assign]
    return app
