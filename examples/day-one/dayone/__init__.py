"""A small existing Flask app that adopts postmark-kit on day one.

It already has an app factory, CSRF protection (Flask-WTF) and a 1 MB request
limit; it adds a signup view that sends a welcome mail, and postmark-kit's
webhook receiver with ``init_app``.  The bounce plugin is not registered here:
it comes from this distribution's ``postmark_kit`` entry point
(``dayone.plugins:BounceWatcher``, a class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, render_template_string, request
from flask_wtf import CSRFProtect

from postmark_kit import Email, InactiveRecipientError, ServerClient
from postmark_kit.receiver import PostmarkReceiver

from . import users

csrf = CSRFProtect()
receiver = PostmarkReceiver()

SIGNUP_FORM = """<form method="post" action="/signup">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <input type="email" name="email"> <button>Sign up</button>
</form>"""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory: settings, extensions, the signup view."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="change me",  # noqa: S106 - a placeholder: your app has its own
        MAX_CONTENT_LENGTH=1024 * 1024,  # the host app's own limit: 1 MB
        DAYONE_DATABASE="dayone.sqlite3",
        DAYONE_SENDER="welcome@example.com",
        DAYONE_ADMIN_EMAIL="admin@example.com",
        POSTMARK_DISPATCH="journal",
    )
    app.config.update(config or {})
    users.init_db(app)
    csrf.init_app(app)
    # POST /postmark/webhook: exempt from CSRF, with its own body limit.  It builds
    # the client (POSTMARK_SERVER_TOKEN, POSTMARK_BASE_URL) its plugins call back with.
    receiver.init_app(app)

    @app.get("/signup")
    def signup_form() -> str:
        return render_template_string(SIGNUP_FORM)

    @app.post("/signup")
    def signup_view() -> tuple[str, int]:
        email = request.form["email"]
        try:
            signup(email)
        except InactiveRecipientError:
            return f"We cannot email {email}: Postmark reports the address inactive.", 409
        return f"Welcome mail sent to {email}.", 201

    return app


def signup(email: str) -> None:
    """Create the user and send the welcome mail (``InactiveRecipientError``: suppressed)."""
    users.add(email)
    client = postmark_client()
    client.email.send(
        Email(
            from_email=current_app.config["DAYONE_SENDER"],
            to=email,
            subject="Welcome!",
            text_body="Thanks for signing up.",
            tag="welcome",
        )
    )


def postmark_client() -> ServerClient:
    """The app's Postmark client: the receiver's, shared with the plugins (one pool)."""
    client = PostmarkReceiver.client_for(current_app)
    if client is None:
        raise RuntimeError("set POSTMARK_SERVER_TOKEN")
    return client


def shutdown(app: Flask) -> None:
    """Stop the receiver: its journal worker, its plugins, its client."""
    PostmarkReceiver.shutdown(app)
