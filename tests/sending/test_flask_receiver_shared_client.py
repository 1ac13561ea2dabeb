"""The sending extension and the webhook receiver of one app share one ServerClient.

Whichever is set up first, the receiver's plugins get the very object that is
``postmark.client``: one connection pool, one configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from postmark_kit import ServerClient, hookimpl
from postmark_kit.flask import Postmark
from postmark_kit.receiver import PostmarkReceiver
from tests.conftest import SERVER_TOKEN, load_webhook
from tests.receiver._receiver_support import AUTH, AUTH_CONFIG, post


class ClientSpy:
    """Keeps every client the receiver hands over (configure and each event)."""

    plugin_name = "client-spy"

    def __init__(self) -> None:
        self.clients: list[Any] = []

    @hookimpl
    def postmark_configure(self, client: ServerClient | None) -> None:
        self.clients.append(client)

    @hookimpl
    def postmark_bounce(self, client: ServerClient | None) -> None:
        self.clients.append(client)


def make_app() -> Flask:
    app = Flask("one_client")
    app.config.update(
        AUTH_CONFIG,
        POSTMARK_SERVER_TOKEN=SERVER_TOKEN,
        POSTMARK_DEFAULT_SENDER="shop@example.com",
        POSTMARK_LOAD_ENTRYPOINTS=False,
    )
    return app


@pytest.mark.parametrize("order", ["sending first", "receiver first"])
def test_plugins_get_the_very_client_of_postmark(order: str) -> None:
    app = make_app()
    spy = ClientSpy()
    postmark = Postmark()
    receiver = PostmarkReceiver(plugins=[spy])
    if order == "sending first":
        postmark.init_app(app)
        receiver.init_app(app)
    else:
        receiver.init_app(app)
        postmark.init_app(app)
    response = post(app.test_client(), load_webhook("bounce"), auth=AUTH)
    assert response.status_code == 200
    with app.app_context():
        client = postmark.client
    assert isinstance(client, ServerClient)
    assert client is app.extensions["postmark"].client
    assert client is PostmarkReceiver.client_for(app)
    assert len(spy.clients) == 2
    assert all(c is client for c in spy.clients)
    # One owner closes it: shutting the receiver down leaves the sending client open
    # when the sending extension built it, and the other way round.
    owner_is_sending = order == "sending first"
    assert app.extensions["postmark"].owns_client is owner_is_sending
    PostmarkReceiver.shutdown(app)
    postmark.close(app)


def test_a_receiver_for_another_server_keeps_its_own_client() -> None:
    app = make_app()
    PostmarkReceiver(plugins=[ClientSpy()]).init_app(app)
    app.config["POSTMARK_SERVER_TOKEN"] = "another-server"
    postmark = Postmark(app)
    assert postmark.client is not PostmarkReceiver.client_for(app)
    PostmarkReceiver.shutdown(app)
    postmark.close()
