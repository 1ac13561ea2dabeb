"""Plugin isolation, the failure policy, Reject, lifecycle hooks, drop-in use, loading."""

# Fixtures come from _receiver_support (see there); as parameters they "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

import logging
import os
import sys
import types
from typing import Any

import pytest
from flask import Flask

from postmark_kit import ServerClient, hookimpl
from postmark_kit.receiver import (
    PluginLoadError,
    PostmarkReceiver,
    Reject,
    build_plugin_manager,
    manager,
    register_dispatcher,
)
from postmark_kit.receiver.dispatch import DISPATCHERS, DispatchResult
from tests.conftest import SERVER_TOKEN, load_webhook
from tests.receiver._receiver_support import AUTH, Recorder, clean_env, make_app, post, store_path  # noqa: F401

BOUNCE = load_webhook("bounce")
INBOUND = load_webhook("inbound")


class Exploding:
    def __init__(self, name: str, exc: BaseException | None = None) -> None:
        self.plugin_name = name
        self.exc = exc or RuntimeError("boom")
        self.calls = 0

    @hookimpl(tryfirst=True)
    def postmark_bounce(self) -> None:
        self.calls += 1
        raise self.exc

    @hookimpl(tryfirst=True)
    def postmark_inbound(self) -> None:
        self.calls += 1
        raise self.exc


def test_a_failing_plugin_does_not_hide_the_event_from_others(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = Recorder("first"), Recorder("second")
    bad = Exploding("exploding-plugin")
    client = make_app(plugins=[first, bad, second]).test_client()
    with caplog.at_level(logging.ERROR, logger="postmark_kit.receiver"):
        response = post(client, BOUNCE)
    assert response.status_code == 503
    assert response.get_json() == {"error": "plugin(s) failed: exploding-plugin"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert bad.calls == 1
    assert first.hooks() == second.hooks() == ["postmark_bounce", "postmark_event"]
    failure = next(r for r in caplog.records if "exploding-plugin" in r.getMessage())
    assert "postmark_bounce" in failure.getMessage() and failure.exc_info is not None


def test_failure_status_is_configurable(make_app: Any) -> None:
    client = make_app({"POSTMARK_FAILURE_STATUS": 500}, plugins=[Exploding("x")]).test_client()
    assert post(client, BOUNCE).status_code == 500


def test_failure_status_200_acknowledges_and_reports(make_app: Any) -> None:
    client = make_app({"POSTMARK_FAILURE_STATUS": "200"}, plugins=[Exploding("x")]).test_client()
    response = post(client, BOUNCE)
    assert response.status_code == 200
    assert response.get_json() == {"ok": False, "event": "bounce", "failed": ["x"]}


def test_events_without_failing_hooks_still_succeed(make_app: Any) -> None:
    client = make_app(plugins=[Exploding("only-bounces-and-inbound")]).test_client()
    assert post(client, load_webhook("delivery")).status_code == 200


def test_reject_answers_403_and_others_still_see_the_event(make_app: Any) -> None:
    recorder = Recorder()
    rejecting = Exploding("spam-filter", Reject("sender is on the blocklist"))
    client = make_app(plugins=[rejecting, recorder]).test_client()
    response = post(client, INBOUND)
    assert response.status_code == 403
    assert response.get_json() == {"error": "sender is on the blocklist"}
    assert recorder.hooks() == ["postmark_inbound", "postmark_event"]


def test_reject_wins_over_a_failure(make_app: Any) -> None:
    plugins = [Exploding("a", Reject("no")), Exploding("b")]
    assert post(make_app(plugins=plugins).test_client(), INBOUND).status_code == 403


def test_lifecycle_hooks_and_client(make_app: Any) -> None:
    recorder = Recorder()
    app = make_app(
        {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_CUSTOM": "x"}, plugins=[recorder]
    )
    assert recorder.configured is not None
    assert recorder.configured["POSTMARK_CUSTOM"] == "x"
    post(app.test_client(), BOUNCE)
    client = recorder.calls[0][2]
    assert isinstance(client, ServerClient)
    assert client is PostmarkReceiver.client_for(app)
    assert SERVER_TOKEN not in repr(client)
    PostmarkReceiver.shutdown(app)
    assert recorder.unconfigured is True
    PostmarkReceiver.shutdown(app)  # idempotent


def test_client_passed_in_is_used(make_app: Any, server_client: ServerClient) -> None:
    recorder = Recorder()
    app = make_app(plugins=[recorder], client=server_client)
    post(app.test_client(), BOUNCE)
    assert recorder.calls[0][2] is server_client


def test_base_url_setting(make_app: Any) -> None:
    app = make_app({"POSTMARK_SERVER_TOKEN": "t", "POSTMARK_BASE_URL": "http://127.0.0.1:9"})
    client = PostmarkReceiver.client_for(app)
    assert client is not None and client.base_url == "http://127.0.0.1:9"


def test_drop_in_init_app_with_prefix() -> None:
    recorder = Recorder()
    app = Flask("host-app")
    app.config.update(
        POSTMARK_WEBHOOK_USERNAME=AUTH[0],
        POSTMARK_WEBHOOK_PASSWORD=AUTH[1],
        POSTMARK_LOAD_ENTRYPOINTS=False,
    )

    @app.get("/")
    def index() -> str:
        return "host"

    receiver = PostmarkReceiver(plugins=[recorder])
    receiver.init_app(app, url_prefix="/hooks/pm")
    client = app.test_client()
    assert client.get("/").data == b"host"
    assert post(client, BOUNCE, url="/hooks/pm/webhook").status_code == 200
    assert post(client, BOUNCE).status_code == 404
    assert recorder.hooks() == ["postmark_bounce", "postmark_event"]
    # Drop-in use stores nothing unless asked.
    assert PostmarkReceiver.plugin_manager(app).get_plugin("postmark-kit-event-store") is None
    PostmarkReceiver.shutdown(app)


def test_constructor_app_argument() -> None:
    app = Flask("host-app")
    app.config["POSTMARK_URL_PREFIX"] = "webhooks"
    PostmarkReceiver(app=app)
    assert post(app.test_client(), BOUNCE, url="/webhooks/webhook", auth=None).status_code == 200
    PostmarkReceiver.shutdown(app)


def test_add_routes_hook(make_app: Any) -> None:
    class Admin:
        @hookimpl
        def postmark_add_routes(self, app: Flask, url_prefix: str) -> None:
            app.add_url_rule(f"{url_prefix}/admin", "pm_admin", lambda: "admin")

    app = make_app(plugins=[Admin()])
    assert app.test_client().get("/postmark/admin").data == b"admin"


def test_plugin_manager_is_built_once_per_app(make_app: Any) -> None:
    app = make_app(plugins=[Recorder()])
    pm = PostmarkReceiver.plugin_manager(app)
    client = app.test_client()
    post(client, BOUNCE)
    post(client, load_webhook("delivery"))
    assert PostmarkReceiver.plugin_manager(app) is pm


def test_module_and_dotted_name_plugins(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    module = types.ModuleType("pm_test_module_plugin")

    @hookimpl
    def postmark_delivery(event: Any) -> None:
        seen.append(event.recipient)

    module.postmark_delivery = postmark_delivery  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pm_test_module_plugin", module)
    app = make_app(
        {"POSTMARK_PLUGINS": "pm_test_module_plugin"},
        plugins=[module],  # the same module twice: registered once
    )
    post(app.test_client(), load_webhook("delivery"))
    assert seen == ["john@example.com"]


def test_unloadable_plugin_name_fails_at_startup(make_app: Any) -> None:
    with pytest.raises(PluginLoadError, match="no_such_module"):
        make_app({"POSTMARK_PLUGINS": "no_such_module:Plugin"})


def test_unknown_hook_name_fails_at_startup() -> None:
    class Typo:
        @hookimpl
        def postmark_bounced(self, event: Any) -> None: ...

    with pytest.raises(Exception, match="postmark_bounced"):
        build_plugin_manager([Typo()], load_entrypoints=False)


def test_hooks_under_any_name_pluggy_takes_are_found() -> None:
    """Names ``object`` also has are looked at when the plugin defines them (specname=)."""

    def on_delivery(event: Any) -> None: ...

    class Odd:
        @hookimpl(specname="postmark_bounce")
        def __str__(self, event: Any) -> None: ...  # type: ignore[override]

        @hookimpl(specname="postmark_event")
        def __call__(self, event: Any) -> None: ...

    class Child(Odd):
        pass

    odd = Child()
    setattr(odd, "__init_subclass__", hookimpl(specname="postmark_delivery")(on_delivery))  # noqa: B010
    pm = build_plugin_manager([odd], load_entrypoints=False)
    assert len(pm.hook.postmark_bounce.get_hookimpls()) == 1
    assert len(pm.hook.postmark_event.get_hookimpls()) == 1
    assert [i.function for i in pm.hook.postmark_delivery.get_hookimpls()] == [on_delivery]


def test_dispatcher_is_pluggable(make_app: Any) -> None:
    seen: list[tuple[str, bytes]] = []

    class Queueing:
        def dispatch(self, event: Any, webhook: Any) -> DispatchResult:
            seen.append((webhook.dedupe_key, webhook.body))
            return DispatchResult()

        def close(self) -> None:
            seen.append(("closed", b""))

    register_dispatcher("test-queue", lambda pm, client, config: Queueing())
    try:
        recorder = Recorder()
        app = make_app({"POSTMARK_DISPATCH": "test-queue"}, plugins=[recorder])
        response = post(app.test_client(), BOUNCE, headers={"X-PM-Webhook-Trace-Id": "abc"})
        assert response.status_code == 200
        assert recorder.calls == []  # queued, not run inline
        assert seen[0][0] == "trace:abc" and b'"RecordType"' in seen[0][1]
        PostmarkReceiver.shutdown(app)
        assert seen[-1] == ("closed", b"")
    finally:
        del DISPATCHERS["test-queue"]


def test_a_crashing_dispatcher_is_a_retryable_5xx(make_app: Any) -> None:
    class Broken:
        def dispatch(self, event: Any, webhook: Any) -> DispatchResult:
            raise OSError("disk full")

        def close(self) -> None: ...

    register_dispatcher("broken", lambda pm, client, config: Broken())
    try:
        response = post(make_app({"POSTMARK_DISPATCH": "broken"}).test_client(), BOUNCE)
        assert response.status_code == 503
        assert response.get_json() == {"error": "dispatch failed"}
    finally:
        del DISPATCHERS["broken"]


def test_event_hook_wrappers_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def postmark_event(self) -> Any:
            return (yield)

    with caplog.at_level(logging.WARNING, logger="postmark_kit.receiver"):
        build_plugin_manager([Wrapping()], load_entrypoints=False)
    assert any("wrapper postmark_event is ignored" in r.getMessage() for r in caplog.records)


def test_plugins_registered_or_removed_at_runtime_are_seen_by_the_next_event(
    make_app: Any,
) -> None:
    """Who gets an event is worked out once per kind, and again when the plugins change."""
    first, second = Recorder(), Recorder()
    app = make_app(plugins=[first])
    client = app.test_client()
    pm = PostmarkReceiver.plugin_manager(app)
    assert post(client, BOUNCE).status_code == 200
    pm.register(second, name="second")
    assert post(client, {**BOUNCE, "ID": 2}).status_code == 200
    assert [e.id for _h, e, *_ in first.calls[::2]] == [BOUNCE["ID"], 2]
    assert [e.id for _h, e, *_ in second.calls[::2]] == [2]
    assert second.hooks() == ["postmark_bounce", "postmark_event"]
    pm.unregister(first)
    assert post(client, {**BOUNCE, "ID": 3}).status_code == 200
    assert len(first.calls) == 4 and [e.id for _h, e, *_ in second.calls[::2]] == [2, 3]
    # Another kind is planned on its own.
    assert post(client, load_webhook("delivery")).status_code == 200
    assert second.hooks()[-2:] == ["postmark_delivery", "postmark_event"]


class EntryPointPlugin:
    """Named by the throwaway distributions of the entry-point scan test below."""

    plugin_name = "scanned"


def _distribution(folder: Any, name: str, target: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[postmark_kit]\n{name} = {target}\n")


def _touched(folder: Any, step: int) -> None:
    """A new modification time for ``folder``: a clock tick may be coarser than the test."""
    stat = folder.stat()
    os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns + step * 1_000_000_000))


def test_entry_points_are_scanned_once_and_again_after_an_install(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"{__name__}:EntryPointPlugin"
    site = tmp_path / "site"
    site.mkdir()
    _distribution(site, "pk_first", target)
    monkeypatch.syspath_prepend(str(site))
    first = manager.entry_points()
    assert manager.entry_points() is first  # kept, not scanned per app
    assert "pk_first" in {ep.name for ep in first}

    _distribution(site, "pk_second", target)  # installed while the process runs
    _touched(site, 1)
    assert {"pk_first", "pk_second"} <= {ep.name for ep in manager.entry_points()}
    pm = build_plugin_manager()
    assert isinstance(pm.get_plugin("scanned"), EntryPointPlugin)

    # Metadata edited in place leaves the folder's time alone: rescan on request.
    (site / "pk_second-1.0.dist-info" / "entry_points.txt").write_text("[postmark_kit]\n")
    assert "pk_second" in {ep.name for ep in manager.entry_points()}
    manager.rescan_entry_points()
    assert "pk_second" not in {ep.name for ep in manager.entry_points()}

    monkeypatch.undo()  # the folder leaves sys.path: its plugins are gone
    assert "pk_first" not in {ep.name for ep in manager.entry_points()}
