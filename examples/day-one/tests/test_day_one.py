"""The day-one scenario, with postmark-kit's shipped pytest fixtures only.

The example distribution is pip-installed (into a private directory put on
``sys.path``) so its ``postmark_kit`` entry point is found exactly as in a
user's virtualenv.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from postmark_kit import InactiveRecipientError, ServerClient
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.testing import HARD_BOUNCE_ADDRESS, AppWebhooks, FakePostmark, payloads

# pip-installs the example (a subprocess, seconds): run by the full suite; skipped by
# -m "not slow" (tests/testing/test_inprocess.py keeps the same loop in the inner one).
pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent
AUTH = ("postmark", "day-one-secret")
ADMIN = "admin@example.com"


@pytest.fixture(scope="module")
def dayone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``pip install`` the example (its entry point included), then import it."""
    work = tmp_path_factory.mktemp("dayone")
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("tests", "*.egg-info"))
    target = work / "site"
    subprocess.run(  # noqa: S603 - our own interpreter and paths
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
         "--no-deps", "--no-index", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("dayone")
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m == "dayone" or m.startswith("dayone.")]:
            del sys.modules[name]


@pytest.fixture(params=["inline", "journal"])
def app(
    request: pytest.FixtureRequest, dayone: Any, postmark_fake: FakePostmark, tmp_path: Path
) -> Iterator[Any]:
    app = dayone.create_app(
        {
            "TESTING": True,
            "DAYONE_DATABASE": str(tmp_path / "dayone.sqlite3"),
            "DAYONE_ADMIN_EMAIL": ADMIN,
            "DAYONE_SENDER": postmark_fake.sender_email,
            "POSTMARK_SERVER_TOKEN": postmark_fake.server_token,
            "POSTMARK_BASE_URL": postmark_fake.base_url,
            "POSTMARK_WEBHOOK_USERNAME": AUTH[0],
            "POSTMARK_WEBHOOK_PASSWORD": AUTH[1],
            "POSTMARK_DISPATCH": request.param,
            "POSTMARK_JOURNAL": str(tmp_path / "journal.sqlite3"),
            # journal mode: events are dispatched by hooks.deliver(), on the test's thread
            "POSTMARK_JOURNAL_WORKER": False,
        }
    )
    yield app
    dayone.shutdown(app)


def sign_up(app: Any, email: str) -> Any:
    """Fill in the signup form as a browser would (CSRF token included)."""
    browser = app.test_client()
    form = browser.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    return browser.post("/signup", data={"email": email, "csrf_token": token.group(1)})


def test_the_bounce_plugin_comes_from_the_entry_point_as_an_instance_per_app(
    dayone: Any, app: Any, postmark_fake: FakePostmark, tmp_path: Path
) -> None:
    plugin = PostmarkReceiver.plugin_manager(app).get_plugin("dayone-bounce-watcher")
    assert isinstance(plugin, dayone.plugins.BounceWatcher)
    other = dayone.create_app(
        {
            "DAYONE_DATABASE": str(tmp_path / "other.sqlite3"),
            "POSTMARK_SERVER_TOKEN": postmark_fake.server_token,
            "POSTMARK_BASE_URL": postmark_fake.base_url,
            "POSTMARK_DISPATCH": "inline",
        }
    )
    try:
        again = PostmarkReceiver.plugin_manager(other).get_plugin("dayone-bounce-watcher")
        assert isinstance(again, dayone.plugins.BounceWatcher) and again is not plugin
    finally:
        dayone.shutdown(other)


def test_a_hard_bounce_reaches_the_plugin_which_calls_the_client_back(
    dayone: Any,
    app: Any,
    postmark_client: ServerClient,
    postmark_webhooks_into: Callable[..., AppWebhooks],
) -> None:
    hooks = postmark_webhooks_into(app)
    assert sign_up(app, HARD_BOUNCE_ADDRESS).status_code == 201  # Postmark accepted it
    delivered = hooks.deliver()
    # CSRFProtect is on, yet every webhook was accepted
    assert [(d.record_type, d.status) for d in delivered][:2] == [
        ("Bounce", 200),
        ("SubscriptionChange", 200),
    ]
    plugin = PostmarkReceiver.plugin_manager(app).get_plugin("dayone-bounce-watcher")
    assert plugin.seen == [HARD_BOUNCE_ADDRESS]
    with app.app_context():
        assert dayone.users.status(HARD_BOUNCE_ADDRESS) == "bounced"
    # the plugin called Postmark back: the admin got a mail about it
    alerts = postmark_client.outbound.list(recipient=ADMIN, tag="bounce-alert")
    assert alerts.total == 1
    assert alerts.items[0].subject == f"Hard bounce: {HARD_BOUNCE_ADDRESS}"


def test_the_second_signup_raises_inactive_recipient(
    dayone: Any, app: Any, postmark_webhooks_into: Callable[..., AppWebhooks]
) -> None:
    hooks = postmark_webhooks_into(app)
    assert sign_up(app, HARD_BOUNCE_ADDRESS).status_code == 201
    hooks.deliver()
    with app.test_request_context(), pytest.raises(InactiveRecipientError) as caught:
        dayone.signup(HARD_BOUNCE_ADDRESS)
    assert caught.value.error_code == 406
    answer = sign_up(app, HARD_BOUNCE_ADDRESS)
    assert answer.status_code == 409 and "inactive" in answer.get_data(as_text=True)


def test_a_2_mb_inbound_message_is_accepted_despite_the_1_mb_app_limit(
    app: Any, postmark_fake: FakePostmark, postmark_webhooks_into: Callable[..., AppWebhooks]
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    hooks = postmark_webhooks_into(app)
    scan = os.urandom(2 * 1024 * 1024)
    postmark_fake.inject_inbound(
        From="customer@example.net",
        To="support@inbound.example.com",
        Subject="The signed contract",
        TextBody="Attached.",
        Attachments=[payloads.attachment("contract.pdf", scan, "application/pdf")],
    )
    (delivery,) = hooks.deliver()
    assert delivery.record_type == "Inbound" and delivery.status == 200
    # straight from a payload factory too, and the host app's own limit still holds
    assert (
        hooks.post(payloads.inbound(attachments=[payloads.attachment("a.bin", scan)])).status_code
        == 200
    )
    too_big = app.test_client().post("/signup", data={"email": "x" * (2 * 1024 * 1024)})
    assert too_big.status_code == 413


def test_csrf_still_guards_the_apps_own_forms(app: Any) -> None:
    answer = app.test_client().post("/signup", data={"email": "ann@example.com"})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
