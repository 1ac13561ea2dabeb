"""The examples of docs/flask.md, docs/django.md and docs/stdlib.md run, so they cannot rot.

As in tests/test_docs_examples.py, the blocks of a page run in order in one
namespace against a mocked Postmark.  A block starting with ``# settings.py``
(the Django page) is Django settings: its upper-case names apply, through
``override_settings``, to the rest of the page.  A ``test_*`` function a page
defines (a pytest example) is then called with a running simulator as its
``postmark_fake`` argument, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests_mock

from postmark_kit.testing import FakePostmark
from tests.test_docs_examples import mocked_postmark, python_blocks  # noqa: F401

LOOPBACK = re.compile(r"^http://127\.0\.0\.1:\d+/")


def run_page(
    page: str, mock: requests_mock.Mocker, fake: FakePostmark, settings_block: bool = False
) -> dict[str, Any]:
    # The simulator is real HTTP: let requests to it through the mock.
    mock.register_uri(requests_mock.ANY, LOOPBACK, real_http=True)
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python examples"
    namespace: dict[str, Any] = {"__name__": f"docs_{page.replace('.', '_')}"}
    with contextlib.ExitStack() as stack:
        for number, block in enumerate(blocks, start=1):
            code = compile(block, f"{page} (python block {number})", "exec")
            if settings_block and block.startswith("# settings.py"):
                settings: dict[str, Any] = {}
                exec(code, settings)  # noqa: S102 - our own documentation
                from django.test.utils import override_settings

                names = {k: v for k, v in settings.items() if k.isupper()}
                stack.enter_context(override_settings(**names))
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)  # noqa: S102 - our own documentation
        tests = [v for k, v in namespace.items() if k.startswith("test_") and inspect.isfunction(v)]
        assert tests, f"{page}: its pytest example is gone"
        for test in tests:
            assert list(inspect.signature(test).parameters) == ["postmark_fake"]
            fake.reset()
            test(fake)
    return namespace


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_flask_page(
    mocked_postmark: requests_mock.Mocker,  # noqa: F811
    postmark_fake: FakePostmark,
    in_tmp: Path,
) -> None:
    namespace = run_page("flask.md", mocked_postmark, postmark_fake)
    sent = [r for r in mocked_postmark.request_history if r.hostname == "api.postmarkapp.com"]
    paths = [r.path for r in sent]
    assert "/email" in paths and "/email/batch" in paths and "/email/withtemplate" in paths
    app = namespace["app"]
    assert app.extensions["postmark"].closed


@pytest.mark.usefixtures("django_settings")
def test_django_page(
    mocked_postmark: requests_mock.Mocker,  # noqa: F811
    postmark_fake: FakePostmark,
    in_tmp: Path,
) -> None:
    namespace = run_page("django.md", mocked_postmark, postmark_fake, settings_block=True)
    sent = [r for r in mocked_postmark.request_history if r.hostname == "api.postmarkapp.com"]
    assert {r.path for r in sent} == {"/email/batch", "/email/batchwithtemplates"}
    assert all(r.headers["X-Postmark-Server-Token"] == "server-token" for r in sent)
    assert namespace["receipt"].postmark_message_id
    first = sent[0].json()[0]
    assert first["From"] == "Shop <shop@example.com>"
    assert first["MessageStream"] == "outbound" and first["TrackOpens"] is True


def test_stdlib_page(
    mocked_postmark: requests_mock.Mocker,  # noqa: F811
    in_tmp: Path,
) -> None:
    blocks = python_blocks("stdlib.md")
    namespace: dict[str, Any] = {"__name__": "docs_stdlib_md"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"stdlib.md (python block {number})", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)  # noqa: S102 - our own documentation
    subjects = [r.json()["Subject"] for r in mocked_postmark.request_history]
    assert subjects[0] == "Grüße"
    assert subjects[1] == "[shop] ERROR in shop.payments: payment #4711 failed"
    assert "ZeroDivisionError" in mocked_postmark.request_history[1].json()["TextBody"]
