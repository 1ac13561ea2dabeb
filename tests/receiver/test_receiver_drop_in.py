"""The receiver inside someone else's Flask app: the extension pattern, CSRF, body limits,
entry-point classes, several receivers on one app, the journal's default file."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.

from __future__ import annotations

import importlib
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from postmark_kit import ServerClient
from postmark_kit.receiver import (
    ConfigError,
    PluginLoadError,
    PostmarkReceiver,
    ReceiverState,
    extension_key,
)
from tests.conftest import load_response, load_webhook
from tests.receiver._receiver_support import (  # noqa: F401
    AUTH,
    AUTH_CONFIG,
    Recorder,
    clean_env,
    post,
    serve_wsgi,
)

BOUNCE = load_webhook("bounce")
INBOUND = load_webhook("inbound")


def host_app(**config: Any) -> Flask:
    """An existing app: its own routes and settings, no entry points of the test run."""
    app = Flask(f"host-{uuid.uuid4().hex[:6]}")
    app.config.update(SECRET_KEY="host-secret", POSTMARK_LOAD_ENTRYPOINTS=False, **AUTH_CONFIG)
    app.config.update(config)

    @app.post("/signup")
    def signup() -> str:
        return f"signed up ({len(request.get_data())} bytes)"

    return app


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps whose receivers are shut down after the test."""
    made: list[Flask] = []
    yield made
    for app in made:
        PostmarkReceiver.shutdown(app)


# -- the journal's default file -------------------------------------------------


def test_journal_mode_without_a_path_uses_the_documented_default_file(
    apps: list[Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTMARK_JOURNAL")
    monkeypatch.chdir(tmp_path)
    app = host_app(POSTMARK_DISPATCH="journal", POSTMARK_JOURNAL_WORKER=False)
    PostmarkReceiver(app)
    apps.append(app)
    assert post(app.test_client(), BOUNCE).status_code == 200
    assert sorted(p.name for p in tmp_path.iterdir() if "journal" in p.name)[0] == (
        "postmark-journal.sqlite3"
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("<")]


# -- PostmarkReceiver(app), init_app twice, several receivers ---------------------


def test_the_app_is_the_first_positional_argument(apps: list[Flask]) -> None:
    recorder = Recorder()
    app = host_app()
    receiver = PostmarkReceiver(app, plugins=[recorder])
    apps.append(app)
    assert post(app.test_client(), BOUNCE).status_code == 200
    assert recorder.hooks() == ["postmark_bounce", "postmark_event"]
    assert receiver.name == "postmark_kit"
    assert "postmark_kit" in app.blueprints
    state = PostmarkReceiver.state_for(app)
    assert isinstance(state, ReceiverState) and app.extensions[extension_key()] is state
    assert state.app is app and state.url_prefix == "/postmark"


def test_plugins_as_first_positional_argument_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="first argument is the Flask app"):
        PostmarkReceiver([Recorder()])  # type: ignore[arg-type]


def test_a_second_init_app_on_the_same_app_is_a_clear_error(apps: list[Flask]) -> None:
    app = host_app()
    receiver = PostmarkReceiver()
    receiver.init_app(app)
    apps.append(app)
    with pytest.raises(RuntimeError, match="already initialized on app"):
        receiver.init_app(app)
    with pytest.raises(RuntimeError, match="needs its own name="):
        PostmarkReceiver(app)
    # The first one is untouched.
    assert post(app.test_client(), BOUNCE).status_code == 200


def test_one_receiver_on_several_apps_of_a_factory(apps: list[Flask]) -> None:
    receiver = PostmarkReceiver(plugins=[Recorder()])
    for _ in range(2):
        app = host_app()
        receiver.init_app(app)
        apps.append(app)
        assert post(app.test_client(), BOUNCE).status_code == 200
    first, second = (PostmarkReceiver.state_for(a) for a in apps)
    assert first.plugin_manager is not second.plugin_manager


def test_two_receivers_for_two_postmark_servers_in_one_app(
    apps: list[Flask], mock_api: Any
) -> None:
    shop, billing = Recorder("shop"), Recorder("billing")
    app = host_app(
        POSTMARK_SERVER_TOKEN="shop-token",
        POSTMARK_BILLING_SERVER_TOKEN="billing-token",
        POSTMARK_BILLING_WEBHOOK_USERNAME="billing",
        POSTMARK_BILLING_WEBHOOK_PASSWORD="billing-pass",
        POSTMARK_BILLING_URL_PREFIX="/billing/postmark",
        POSTMARK_BILLING_LOAD_ENTRYPOINTS=False,
    )
    PostmarkReceiver(app, plugins=[shop])
    PostmarkReceiver(app, name="billing", config_prefix="POSTMARK_BILLING_", plugins=[billing])
    apps.append(app)
    client = app.test_client()
    assert {"postmark_kit", "billing"} <= set(app.blueprints)
    # Each receiver has its own URL, credentials and plugins.
    assert post(client, BOUNCE).status_code == 200
    assert post(client, BOUNCE, url="/billing/postmark/webhook").status_code == 401
    answer = post(
        client,
        {**BOUNCE, "ID": 7},
        url="/billing/postmark/webhook",
        auth=("billing", "billing-pass"),
    )
    assert answer.status_code == 200
    assert [c[1].id for c in shop.calls] == [BOUNCE["ID"]] * 2
    assert [c[1].id for c in billing.calls] == [7, 7]
    # ... and its own callback client, for its own server.
    shop_client = PostmarkReceiver.client_for(app, "postmark_kit")
    billing_client = PostmarkReceiver.client_for(app, "billing")
    assert shop.calls[0][2] is shop_client and billing.calls[0][2] is billing_client
    assert shop_client is not billing_client
    mock_api.get("https://api.postmarkapp.com/server", json=load_response("get_server"))
    for cl in (shop_client, billing_client):
        assert cl is not None
        cl.server.get()
    sent = [r.headers["X-Postmark-Server-Token"] for r in mock_api.request_history]
    assert sent == ["shop-token", "billing-token"]
    # State is per receiver, by name; without a name it is ambiguous.
    assert PostmarkReceiver.state_for(app, "billing").url_prefix == "/billing/postmark"
    assert app.extensions[extension_key("billing")].name == "billing"
    with pytest.raises(RuntimeError, match="pass name="):
        PostmarkReceiver.state_for(app)
    with pytest.raises(RuntimeError, match="no PostmarkReceiver named 'nope'"):
        PostmarkReceiver.state_for(app, "nope")


def test_a_second_receiver_with_a_config_mapping(apps: list[Flask]) -> None:
    recorder = Recorder()
    app = host_app()
    PostmarkReceiver(app)
    PostmarkReceiver(
        app, name="eu", config={"POSTMARK_URL_PREFIX": "/eu/postmark"}, plugins=[recorder]
    )
    apps.append(app)
    assert post(app.test_client(), BOUNCE, url="/eu/postmark/webhook").status_code == 200
    assert recorder.hooks() == ["postmark_bounce", "postmark_event"]


def test_two_receivers_on_one_prefix_or_one_journal_fail_at_startup(
    apps: list[Flask], tmp_path: Path
) -> None:
    app = host_app()
    PostmarkReceiver(app)
    apps.append(app)
    with pytest.raises(ConfigError, match="URL prefix '/postmark' is taken"):
        PostmarkReceiver(app, name="other")
    journal = str(tmp_path / "j.sqlite3")
    settings = {"POSTMARK_DISPATCH": "journal", "POSTMARK_JOURNAL": journal}
    app2 = host_app()
    PostmarkReceiver(app2, config={**settings, "POSTMARK_JOURNAL_WORKER": False})
    apps.append(app2)
    with pytest.raises(ConfigError, match="give each receiver its own POSTMARK_JOURNAL"):
        PostmarkReceiver(app2, name="b", config={**settings, "POSTMARK_URL_PREFIX": "/b"})


def test_two_celery_receivers_on_one_queue_fail_at_startup(apps: list[Flask]) -> None:
    pytest.importorskip("celery")
    app = host_app(POSTMARK_DISPATCH="celery", POSTMARK_CELERY_BROKER="redis://127.0.0.1:9/0")
    PostmarkReceiver(app)
    apps.append(app)
    with pytest.raises(ConfigError, match="Celery queue 'postmark' is used by"):
        PostmarkReceiver(app, name="b", config={"POSTMARK_URL_PREFIX": "/b"})
    other_queue = {"POSTMARK_URL_PREFIX": "/c", "POSTMARK_CELERY_QUEUE": "postmark-c"}
    PostmarkReceiver(app, name="c", config=other_queue)


# -- Flask-WTF CSRF ---------------------------------------------------------------


@pytest.mark.parametrize("csrf_first", [True, False], ids=["csrf-first", "receiver-first"])
def test_csrf_protection_of_the_host_app_does_not_block_webhooks(
    apps: list[Flask], csrf_first: bool
) -> None:
    from flask_wtf.csrf import CSRFProtect

    recorder = Recorder()
    app = host_app()
    csrf = CSRFProtect()
    if csrf_first:
        csrf.init_app(app)
    PostmarkReceiver(app, plugins=[recorder])
    if not csrf_first:
        csrf.init_app(app)
    apps.append(app)
    client = app.test_client()
    # The host's own forms stay protected...
    assert client.post("/signup").status_code == 400
    # ... the webhooks are not (Postmark cannot send a token).
    for url in ("/postmark/webhook", "/postmark/webhook/bounce"):
        answer = post(client, BOUNCE, url=url)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    assert recorder.hooks().count("postmark_bounce") == 2
    assert client.post("/signup").status_code == 400


def test_csrf_exemption_covers_a_named_receiver(apps: list[Flask]) -> None:
    from flask_wtf.csrf import CSRFProtect

    app = host_app()
    PostmarkReceiver(app, name="hooks", config={"POSTMARK_URL_PREFIX": "/hooks"})
    CSRFProtect(app)
    apps.append(app)
    assert post(app.test_client(), BOUNCE, url="/hooks/webhook").status_code == 200


# -- the host's MAX_CONTENT_LENGTH ------------------------------------------------


def _big_inbound(size: int) -> bytes:
    attachment = {
        "Name": "scan.pdf",
        "Content": "QUJD" * (size // 4),
        "ContentType": "application/pdf",
        "ContentLength": size,
    }
    return json.dumps({**INBOUND, "Attachments": [attachment]}).encode()


def test_host_max_content_length_does_not_cut_inbound_mail(apps: list[Flask]) -> None:
    recorder = Recorder()
    app = host_app(MAX_CONTENT_LENGTH=1024 * 1024)
    PostmarkReceiver(app, plugins=[recorder])
    apps.append(app)
    client = app.test_client()
    body = _big_inbound(2 * 1024 * 1024)
    assert len(body) > 2 * 1024 * 1024
    answer = post(client, body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
    assert recorder.hooks() == ["postmark_inbound", "postmark_event"]
    assert len(recorder.calls[0][3].body) == len(body)
    # The host's own views keep the host's limit.
    assert client.post("/signup", data=b"x" * (2 * 1024 * 1024)).status_code == 413


def test_host_max_content_length_over_real_http(apps: list[Flask]) -> None:
    """The same through werkzeug's server: real framing, Content-Length and chunked."""
    import requests

    recorder = Recorder()
    app = host_app(MAX_CONTENT_LENGTH=1024 * 1024, POSTMARK_MAX_BODY_BYTES=3 * 1024 * 1024)
    PostmarkReceiver(app, plugins=[recorder])
    apps.append(app)
    body = _big_inbound(2 * 1024 * 1024)
    headers = {"Content-Type": "application/json"}
    with serve_wsgi(app) as port, requests.Session() as http:
        url = f"http://127.0.0.1:{port}/postmark/webhook"
        sized = http.post(url, data=body, auth=AUTH, headers=headers, timeout=30)
        chunked = http.post(url, data=iter([body]), auth=AUTH, headers=headers, timeout=30)
        too_big = _big_inbound(4 * 1024 * 1024)
        over = http.post(url, data=iter([too_big]), auth=AUTH, headers=headers, timeout=30)
    assert sized.status_code == 200, sized.text[:200]
    assert chunked.status_code == 200, chunked.text[:200]
    assert over.status_code == 413 and over.json() == {"error": "body over the 3145728-byte limit"}
    assert [len(c[3].body) for c in recorder.calls[::2]] == [len(body)] * 2  # inline: no dedupe


def test_the_receivers_own_limit_still_answers_json(apps: list[Flask]) -> None:
    app = host_app(MAX_CONTENT_LENGTH=1024, POSTMARK_MAX_BODY_BYTES=64 * 1024)
    PostmarkReceiver(app)
    apps.append(app)
    answer = post(app.test_client(), _big_inbound(100 * 1024))
    assert answer.status_code == 413
    assert answer.get_json() == {"error": "body over the 65536-byte limit"}


# -- plugins from entry points ------------------------------------------------------

PLUGIN_MODULE = """
from postmark_kit import hookimpl

CREATED = []


class BounceWatcher:
    plugin_name = "bounce-watcher"

    def __init__(self):
        self.seen = []
        CREATED.append(self)

    @hookimpl
    def postmark_bounce(self, event):
        if event.id == 999:
            raise RuntimeError("watcher is down")
        self.seen.append(event.id)


class Unnamed:
    def __init__(self):
        self.seen = []
        CREATED.append(self)

    @hookimpl
    def postmark_delivery(self, event):
        self.seen.append(event.recipient)


@hookimpl
def postmark_open(event):
    CREATED.append(("module-hook", event.recipient))
"""


@pytest.fixture
def entry_point_plugins(tmp_path: Path) -> Iterator[Any]:
    """A distribution on sys.path whose entry points name two classes and a module."""
    module = f"ep_plugins_{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(PLUGIN_MODULE)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[postmark_kit]\nbounce_watcher = {module}:BounceWatcher\n"
        f"unnamed = {module}:Unnamed\nopens = {module}\n"
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(site))
        sys.modules.pop(module, None)
        importlib.invalidate_caches()


def test_entry_point_classes_are_instantiated_and_named_by_plugin_name(
    entry_point_plugins: Any, apps: list[Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = host_app(POSTMARK_LOAD_ENTRYPOINTS=True)
    PostmarkReceiver(app)
    apps.append(app)
    pm = PostmarkReceiver.plugin_manager(app)
    watcher = pm.get_plugin("bounce-watcher")
    assert isinstance(watcher, entry_point_plugins.BounceWatcher)
    assert isinstance(pm.get_plugin("unnamed"), entry_point_plugins.Unnamed)
    assert pm.get_plugin("opens") is entry_point_plugins
    client = app.test_client()
    assert post(client, BOUNCE).status_code == 200
    assert watcher.seen == [BOUNCE["ID"]]
    assert post(client, load_webhook("delivery")).status_code == 200
    assert pm.get_plugin("unnamed").seen == ["john@example.com"]
    with caplog.at_level(logging.ERROR, logger="postmark_kit.receiver"):
        answer = post(client, {**BOUNCE, "ID": 999})
    assert answer.status_code == 503
    assert answer.get_json() == {"error": "plugin(s) failed: bounce-watcher"}
    assert any("plugin bounce-watcher failed" in r.getMessage() for r in caplog.records)


def test_each_app_of_a_factory_gets_its_own_entry_point_instances(
    entry_point_plugins: Any, apps: list[Flask]
) -> None:
    receiver = PostmarkReceiver()
    for _ in range(2):
        app = host_app(POSTMARK_LOAD_ENTRYPOINTS=True)
        receiver.init_app(app)
        apps.append(app)
    first, second = (PostmarkReceiver.plugin_manager(a) for a in apps)
    assert first.get_plugin("bounce-watcher") is not second.get_plugin("bounce-watcher")
    # A module (or a module-level object) is one object, shared by every app.
    assert first.get_plugin("opens") is second.get_plugin("opens") is entry_point_plugins
    post(apps[0].test_client(), BOUNCE)
    assert first.get_plugin("bounce-watcher").seen == [BOUNCE["ID"]]
    assert second.get_plugin("bounce-watcher").seen == []


def test_an_entry_point_class_that_needs_arguments_fails_at_startup(
    tmp_path: Path, entry_point_plugins: Any
) -> None:
    def needs(self: Any, db: Any) -> None: ...

    entry_point_plugins.BounceWatcher.__init__ = needs
    with pytest.raises(PluginLoadError, match=r"bounce_watcher.*without arguments"):
        PostmarkReceiver(host_app(POSTMARK_LOAD_ENTRYPOINTS=True))


# -- the public state and the callback client ------------------------------------


class _Sending:
    """A stand-in for ``postmark_kit.flask.Postmark``'s state in ``app.extensions["postmark"]``."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client


def test_the_sending_extensions_client_is_the_callback_client(apps: list[Flask]) -> None:
    recorder = Recorder()
    shared = ServerClient("server-token-0123")
    app = host_app(POSTMARK_SERVER_TOKEN="server-token-0123")
    app.extensions["postmark"] = _Sending(shared)
    PostmarkReceiver(app, plugins=[recorder])
    apps.append(app)
    assert PostmarkReceiver.client_for(app) is shared
    post(app.test_client(), BOUNCE)
    assert recorder.calls[0][2] is shared
    PostmarkReceiver.shutdown(app)
    shared.server  # noqa: B018 - still usable: its owner closes it, not the receiver
    assert not PostmarkReceiver.state_for(app).owns_client
    shared.close()


def test_a_receiver_for_another_server_keeps_its_own_client(apps: list[Flask]) -> None:
    shared = ServerClient("server-token-0123")
    app = host_app(POSTMARK_SERVER_TOKEN="server-token-0123")
    app.extensions["postmark"] = _Sending(shared)
    PostmarkReceiver(app)
    PostmarkReceiver(
        app,
        name="billing",
        config={"POSTMARK_SERVER_TOKEN": "billing-token", "POSTMARK_URL_PREFIX": "/billing"},
    )
    apps.append(app)
    assert PostmarkReceiver.client_for(app, "postmark_kit") is shared
    billing = PostmarkReceiver.client_for(app, "billing")
    assert billing is not None and billing is not shared
    assert PostmarkReceiver.state_for(app, "billing").owns_client
    shared.close()


def test_state_for_an_app_without_a_receiver_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="init_app was not called"):
        PostmarkReceiver.state_for(Flask("bare"))


def test_receiver_modules_import_no_private_names_of_other_modules() -> None:
    """The receiver's modules use each other's public API only (cli.py took ``_state``)."""
    import ast

    def statements(body: list[Any]) -> Iterator[Any]:
        """Every statement (and except or case clause), nested too: not every node, as ast.walk."""
        for node in body:
            yield node
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                yield from statements(getattr(node, field, []))

    package = Path(__file__).resolve().parents[2] / "postmark_kit" / "receiver"
    found = []
    for source in sorted(package.glob("*.py")):
        for node in statements(ast.parse(source.read_text()).body):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [
                    f"{source.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert found == []


@pytest.mark.parametrize("sending_first", [True, False], ids=["sending-first", "receiver-first"])
def test_one_client_with_the_sending_extension_in_either_order(
    apps: list[Flask], sending_first: bool
) -> None:
    from postmark_kit.flask import Postmark

    recorder = Recorder()
    app = host_app(POSTMARK_SERVER_TOKEN="server-token-0123")
    if sending_first:
        sending = Postmark(app)
    PostmarkReceiver(app, plugins=[recorder])
    if not sending_first:
        sending = Postmark(app)
    apps.append(app)
    post(app.test_client(), BOUNCE)
    shared = app.extensions["postmark"].client
    assert recorder.calls[0][2] is shared is PostmarkReceiver.client_for(app)
    with app.app_context():
        assert sending.client is shared
