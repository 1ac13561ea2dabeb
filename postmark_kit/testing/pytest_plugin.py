"""pytest fixtures for code that talks to Postmark: a running simulator, a client for it,
and its webhooks delivered into your Flask app in process.

Registered through the ``pytest11`` entry point, so installing postmark-kit makes
``postmark_fake``, ``postmark_client`` and ``postmark_webhooks_into`` available to
any test suite.  Loading this plugin imports nothing heavy: Flask, werkzeug and the
simulator are imported when a test first uses one of these fixtures, so a project
that merely has postmark-kit installed pays nothing in its other test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask

    from ..client import ServerClient
    from .inprocess import AppWebhooks
    from .server import FakePostmark


@pytest.fixture(scope="session")
def _postmark_fake_session() -> Iterator[FakePostmark]:
    """One simulator per session; tests get it reset, so starting a server is paid once."""
    from .server import FakePostmark

    with FakePostmark() as fake:
        yield fake


@pytest.fixture
def postmark_fake(_postmark_fake_session: FakePostmark) -> Iterator[FakePostmark]:
    """A running local Postmark with a fresh, empty account for this test."""
    _postmark_fake_session.reset()
    yield _postmark_fake_session
    _postmark_fake_session.wait_for_webhooks(timeout=10)


@pytest.fixture
def postmark_client(postmark_fake: FakePostmark) -> Iterator[ServerClient]:
    """A ``ServerClient`` pointed at ``postmark_fake`` (no retry sleeps)."""
    from ..client import ServerClient

    client = ServerClient(
        postmark_fake.server_token,
        base_url=postmark_fake.base_url,
        retries=0,
    )
    with client:
        yield client


@pytest.fixture
def postmark_webhooks_into(
    postmark_fake: FakePostmark,
) -> Iterator[Callable[..., AppWebhooks]]:
    """``postmark_webhooks_into(app, **options)``: ``postmark_fake``'s webhooks go into ``app``.

    Returns an :class:`~postmark_kit.testing.AppWebhooks` (``.deliver()``,
    ``.post(payload)``, ``.deliveries``); options are its keyword arguments.
    Undone at the end of the test.
    """
    from .inprocess import AppWebhooks

    made: list[AppWebhooks] = []

    def into(app: Flask, **options: Any) -> AppWebhooks:
        hooks = AppWebhooks(postmark_fake, app, **options)
        made.append(hooks)
        return hooks

    yield into
    for hooks in reversed(made):
        hooks.close()
