"""The receiver pages' examples run as written, given the objects they call "yours"."""

from __future__ import annotations

import base64
import re
import types
from pathlib import Path
from typing import Any

from flask import Flask

from postmark_kit import hookimpl
from tests.conftest import load_webhook

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


def run_blocks(page: str, namespace: dict[str, Any]) -> dict[str, Any]:
    for number, block in enumerate(python_blocks(page), start=1):
        exec(compile(block, f"{page} (python block {number})", "exec"), namespace)  # noqa: S102
    return namespace


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def postmark_event(self, event: Any) -> None:
        self.events.append(event)


def test_receiving_page_drop_in_example_receives_a_webhook() -> None:
    recorder = Recorder()
    ns = run_blocks(
        "receiving.md",
        {
            "__name__": "docs_receiving",
            "my_plugin": recorder,
            "bounce_payload": load_webhook("bounce"),
        },
    )
    credentials = base64.b64encode(b"postmark:a long random string").decode()
    response = (
        ns["app"]
        .test_client()
        .post(
            "/hooks/postmark/webhook",
            json=load_webhook("delivery"),
            headers={"Authorization": f"Basic {credentials}"},
        )
    )
    assert response.status_code == 200
    # The answers example posted a bounce first.
    assert [type(e).__name__ for e in recorder.events] == ["BounceEvent", "DeliveryEvent"]


def test_plugins_page_examples_run_and_their_test_passes(tmp_path: Path) -> None:
    ns = run_blocks(
        "plugins.md",
        {
            "__name__": "docs_plugins",
            "my_module": types.ModuleType("my_module"),
            "app": Flask("docs_plugins_app"),
            "crm": types.SimpleNamespace(mark_undeliverable=lambda *a, **k: None),
            "bounce_payload": load_webhook("bounce"),
        },
    )
    ns["test_my_plugin"](tmp_path)
    inbound = load_webhook("inbound")
    inbound["Headers"] = [{"Name": "X-Spam-Status", "Value": "Yes"}]
    app = ns["create_app"](
        {
            "POSTMARK_EVENT_STORE": "",
            "POSTMARK_LOAD_ENTRYPOINTS": False,
            "POSTMARK_DISPATCH": "inline",
            "POSTMARK_INSECURE_NO_AUTH": True,
        },
        plugins=[ns["HardBounceSync"]()],
    )
    assert app.test_client().post("/postmark/webhook", json=inbound).status_code == 403
