"""pytest fixtures for code that talks to Postmark: a running simulator and a client for it.

Registered through the ``pytest11`` entry point, so installing postmark-kit makes
``postmark_fake`` and ``postmark_client`` available to any test suite.  Loading
the plugin imports nothing else: the simulator (Flask, werkzeug) and the client
are imported by the fixtures, when a test uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..client import ServerClient
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
