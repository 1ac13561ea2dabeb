"""The simulator's control API: what a recipient or Postmark does, over HTTP.

``postmark-kit fake-server`` serves it on its own port, bound to 127.0.0.1 only,
so a test suite in any language (or ``postmark-kit fake ...``) can trigger events.
It is not part of Postmark's API and takes no token; requests from anything but a
loopback address are refused (403).

========  =====================================  =======================================
Method    Path                                   Body (JSON, every field optional
                                                 unless noted) / answer
========  =====================================  =======================================
GET       /                                      the simulator's URL and sender
GET       /messages                              sent messages, newest first
POST      /messages/<id>/deliver                 ``{"Recipient"}``
POST      /messages/<id>/bounce                  ``{"Recipient", "Type"}`` (HardBounce)
POST      /messages/<id>/open                    ``{"Recipient", "Platform", "Client",
                                                 "ReadSeconds"}``
POST      /messages/<id>/click                   ``{"Link"}`` (required), ``"Recipient",
                                                 "Platform", "Browser", "Location"``
POST      /messages/<id>/complain                ``{"Recipient"}`` (spam complaint)
POST      /messages/<id>/subscription            ``{"Recipient", "SuppressSending",
                                                 "Origin"}``
POST      /inbound                               Postmark's inbound fields (From, To,
                                                 Subject, TextBody, Attachments, ...)
GET       /webhooks                              every webhook POST and its outcome
POST      /wait                                  ``{"Timeout"}``: until webhooks settle
POST      /reset                                 forget everything (tokens stay)
========  =====================================  =======================================

Each event answer is the event's payload as Postmark posts it.  An event Postmark
could never report (an open of a message sent without open tracking, a second
delivery) is 409 ``{"Message": ...}``; an unknown message is 404.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from flask import Flask, Response, request

from .simulator import ApiFailure, SimulationError

if TYPE_CHECKING:
    from .server import FakePostmark


def _answer(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise SimulationError("The request body is not JSON.") from None
    if not isinstance(data, dict):
        raise SimulationError("The request body must be a JSON object.")
    return data


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def create_control_app(fake: FakePostmark) -> Flask:
    """The control API of ``fake`` (see the module doc)."""
    app = Flask("postmark_kit.testing.control")
    app.url_map.strict_slashes = False

    @app.before_request
    def _only_loopback() -> Response | None:
        if not _loopback(request.remote_addr):
            return _answer({"Message": "The control API answers loopback clients only."}, 403)
        return None

    @app.errorhandler(SimulationError)
    def _impossible(exc: SimulationError) -> Response:
        return _answer({"Message": str(exc)}, 409)

    @app.errorhandler(ValueError)
    @app.errorhandler(TypeError)
    def _bad_value(exc: Exception) -> Response:
        return _answer({"Message": f"Bad request: {exc}"}, 400)

    @app.errorhandler(ApiFailure)
    def _failure(exc: ApiFailure) -> Response:
        status = 404 if exc.code == 701 else exc.status
        return _answer({"ErrorCode": exc.code, "Message": exc.message}, status)

    @app.errorhandler(404)
    def _not_found(exc: Exception) -> Response:
        return _answer({"Message": f"No such control endpoint: {request.path}"}, 404)

    @app.errorhandler(405)
    def _not_allowed(exc: Exception) -> Response:
        return _answer({"Message": f"{request.method} is not allowed on {request.path}"}, 405)

    @app.get("/")
    def info() -> Response:
        return _answer({"BaseUrl": fake.base_url, "Sender": fake.sender_email})

    @app.get("/messages")
    def messages() -> Response:
        with fake.state.lock:
            out = [
                {
                    "MessageID": m["MessageID"],
                    "Recipients": m["Recipients"],
                    "Subject": m["Subject"],
                    "Tag": m["Tag"],
                    "TrackOpens": m["TrackOpens"],
                    "TrackLinks": m["TrackLinks"],
                    "MessageStream": m["MessageStream"],
                    "ReceivedAt": m["ReceivedAt"],
                }
                for m in reversed(fake.state.outbound)
            ]
        return _answer({"TotalCount": len(out), "Messages": out})

    actions: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
        "deliver": lambda mid, b: fake.deliver(mid, b.get("Recipient")),
        "bounce": lambda mid, b: fake.bounce(
            mid, b.get("Recipient"), type=str(b.get("Type") or "HardBounce")
        ),
        "open": lambda mid, b: fake.open(
            mid,
            b.get("Recipient"),
            platform=str(b.get("Platform") or "Desktop"),
            client=b.get("Client"),
            read_seconds=int(b.get("ReadSeconds") or 5),
        ),
        "click": lambda mid, b: fake.click(
            mid,
            _required(b, "Link"),
            b.get("Recipient"),
            platform=str(b.get("Platform") or "Desktop"),
            browser=b.get("Browser"),
            location=str(b.get("Location") or "HTML"),
        ),
        "complain": lambda mid, b: fake.spam_complaint(mid, b.get("Recipient")),
        "subscription": lambda mid, b: fake.subscription_change(
            mid,
            b.get("Recipient"),
            suppress=bool(b.get("SuppressSending", True)),
            origin=str(b.get("Origin") or "Recipient"),
        ),
    }

    @app.post("/messages/<message_id>/<action>")
    def act(message_id: str, action: str) -> Response:
        if action not in actions:
            return _answer({"Message": f"Unknown action '{action}'; one of {sorted(actions)}"}, 404)
        return _answer(actions[action](message_id, _body()))

    @app.post("/inbound")
    def inbound() -> Response:
        return _answer(fake.inject_inbound(**_body()))

    @app.get("/webhooks")
    def webhooks() -> Response:
        out = [attrs.asdict(d) for d in fake.deliveries]
        return _answer({"TotalCount": len(out), "Webhooks": out})

    @app.post("/wait")
    def wait() -> Response:
        timeout = float(_body().get("Timeout") or 10.0)
        return _answer({"Settled": fake.wait_for_webhooks(timeout=min(timeout, 120.0))})

    @app.post("/reset")
    def reset() -> Response:
        fake.reset()
        return _answer({"Message": "Reset."})

    return app


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise SimulationError(f"'{key}' is required.")
    return value
