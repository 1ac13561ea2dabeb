"""postmark_kit.flask.Postmark: settings, one client per app, send/send_batch, record_messages."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
import requests_mock as requests_mock_module
from flask import Flask

from postmark_kit import (
    ClientValidationError,
    Email,
    InvalidEmailError,
    ServerClient,
    TemplatedEmail,
)
from postmark_kit.flask import ConfigError, Postmark, PostmarkState
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.testing import FakePostmark
from tests.conftest import API, SERVER_TOKEN
from tests.sending._support import answer, register_sends


def make_app(**config: Any) -> Flask:
    app = Flask("sender")
    app.config.update(
        POSTMARK_SERVER_TOKEN=SERVER_TOKEN,
        POSTMARK_DEFAULT_SENDER="Shop <shop@example.com>",
        POSTMARK_BASE_URL=API,
    )
    app.config.update(config)
    return app


@pytest.fixture
def api(mock_api: requests_mock_module.Mocker) -> requests_mock_module.Mocker:
    register_sends(mock_api)
    return mock_api


def test_send_with_keywords_fills_the_app_defaults(api: requests_mock_module.Mocker) -> None:
    app = make_app(
        POSTMARK_MESSAGE_STREAM="transactional",
        POSTMARK_TRACK_OPENS="true",
        POSTMARK_TRACK_LINKS="HtmlOnly",
    )
    postmark = Postmark(app)
    result = postmark.send(to="ada@example.com", subject="Hi", text_body="Hello")
    assert result.ok and result.message_id == "id-0"
    (request,) = api.request_history
    assert request.path == "/email"
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    assert request.json() == {
        "From": "Shop <shop@example.com>",
        "To": "ada@example.com",
        "Subject": "Hi",
        "TextBody": "Hello",
        "MessageStream": "transactional",
        "TrackOpens": True,
        "TrackLinks": "HtmlOnly",
    }


def test_a_message_keeps_what_it_sets_and_keywords_override_a_model(
    api: requests_mock_module.Mocker,
) -> None:
    postmark = Postmark(make_app(POSTMARK_MESSAGE_STREAM="transactional"))
    email = Email(
        from_email="other@example.com",
        to="ada@example.com",
        text_body="x",
        message_stream="broadcast",
        track_opens=False,
    )
    postmark.send(email, subject="Overridden", to="bob@example.com")
    sent = api.last_request.json()
    assert sent["From"] == "other@example.com"
    assert sent["MessageStream"] == "broadcast"
    assert sent["TrackOpens"] is False
    assert (sent["To"], sent["Subject"]) == ("bob@example.com", "Overridden")


def test_templated_sends(api: requests_mock_module.Mocker) -> None:
    postmark = Postmark(make_app())
    postmark.send(to="ada@example.com", template_alias="welcome", template_model={"name": "Ada"})
    assert api.last_request.path == "/email/withtemplate"
    assert api.last_request.json()["TemplateAlias"] == "welcome"
    assert api.last_request.json()["From"] == "Shop <shop@example.com>"
    postmark.send(TemplatedEmail(to="b@example.com", template_id=7))
    assert api.last_request.json()["TemplateId"] == 7


def test_send_batch_uses_the_batch_api_500_a_call(api: requests_mock_module.Mocker) -> None:
    postmark = Postmark(make_app())
    messages: list[Any] = [
        Email(to=f"u{i}@example.com", subject="s", text_body="t") for i in range(600)
    ]
    messages += [{"to": f"k{i}@example.com", "text_body": "kw"} for i in range(401)]
    results = postmark.send_batch(messages)
    assert len(results) == 1001
    assert [r.to for r in results[:2]] == ["u0@example.com", "u1@example.com"]
    assert results[-1].to == "k400@example.com"
    sizes = sorted(len(r.json()) for r in api.request_history)  # sent concurrently
    assert sizes == [1, 500, 500]
    assert {r.path for r in api.request_history} == {"/email/batch"}
    assert all(
        m["From"] == "Shop <shop@example.com>" for r in api.request_history for m in r.json()
    )
    templated = postmark.send_batch(
        [
            {"to": "a@example.com", "template_alias": "t"},
            TemplatedEmail(to="b@x.com", template_id=1),
        ]
    )
    assert len(templated) == 2
    assert api.last_request.path == "/email/batchwithtemplates"


def test_bad_input_is_refused_before_any_request(api: requests_mock_module.Mocker) -> None:
    postmark = Postmark(make_app(POSTMARK_DEFAULT_SENDER=None))
    with pytest.raises(ClientValidationError, match="no sender"):
        postmark.send(to="a@example.com", text_body="x")
    with pytest.raises(ClientValidationError, match="all plain or all templated"):
        postmark.send_batch(
            [
                {"from_email": "a@x.com", "to": "b@x.com", "text_body": "x"},
                {"from_email": "a@x.com", "to": "b@x.com", "template_id": 1},
            ]
        )
    with pytest.raises(ClientValidationError, match="the fields of Email"):
        postmark.send(from_email="a@x.com", to="b@x.com", text_body="x", sender="nope")
    with pytest.raises(ClientValidationError, match="template_id or template_alias"):
        postmark.send(TemplatedEmail(from_email="a@x.com", to="b@x.com"))
    with pytest.raises(ClientValidationError, match="no body"):
        postmark.send(from_email="a@x.com", to="b@x.com", subject="empty")
    with pytest.raises(ClientValidationError, match="at most 50 recipients"):
        postmark.send(from_email="a@x.com", to=[f"r{i}@x.com" for i in range(51)], text_body="x")
    assert not api.called


def test_postmark_errors_come_back_typed(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.post(
        API + "/email", status_code=422, json={"ErrorCode": 300, "Message": "Invalid 'To'"}
    )
    postmark = Postmark(make_app())
    with pytest.raises(InvalidEmailError) as info:
        postmark.send(to="not-an-address", text_body="x")
    assert info.value.error_code == 300
    assert SERVER_TOKEN not in repr(info.value) + str(info.value)


def test_record_messages_captures_without_http(mock_api: requests_mock_module.Mocker) -> None:
    app = make_app(POSTMARK_SERVER_TOKEN=None, POSTMARK_MESSAGE_STREAM="transactional")
    postmark = Postmark()
    postmark.init_app(app)
    with app.app_context(), postmark.record_messages() as outbox:
        result = postmark.send(to="ada@example.com", subject="Welcome", html_body="<p>Hi</p>")
        results = postmark.send_batch([{"to": "b@example.com", "text_body": "t"}] * 3)
    assert not mock_api.called
    assert result.ok and result.message_id
    assert len({r.message_id for r in results}) == 3
    assert len(outbox) == 4
    assert outbox[0].subject == "Welcome"
    assert outbox[0].from_email == "Shop <shop@example.com>"
    assert outbox[0].message_stream == "transactional"
    # Outside the block, without a token, nothing can be sent: a clear error.
    with app.app_context(), pytest.raises(RuntimeError, match="POSTMARK_SERVER_TOKEN"):
        postmark.send(to="ada@example.com", text_body="x")


def test_record_messages_nests_and_stops_recording(api: requests_mock_module.Mocker) -> None:
    postmark = Postmark(make_app())
    with postmark.record_messages() as outer:
        postmark.send(to="a@example.com", text_body="1")
        with postmark.record_messages() as inner:
            postmark.send(to="b@example.com", text_body="2")
    assert [e.to for e in outer] == ["a@example.com", "b@example.com"]
    assert [e.to for e in inner] == ["b@example.com"]
    assert not api.called
    postmark.send(to="c@example.com", text_body="3")
    assert api.call_count == 1


def test_one_client_per_app_with_an_app_factory(mock_api: requests_mock_module.Mocker) -> None:
    mock_api.post("http://one.test/email", json=answer)
    mock_api.post("http://two.test/email", json=answer)
    postmark = Postmark()
    one = make_app(POSTMARK_SERVER_TOKEN="token-one", POSTMARK_BASE_URL="http://one.test")
    two = make_app(POSTMARK_SERVER_TOKEN="token-two", POSTMARK_BASE_URL="http://two.test")
    postmark.init_app(one)
    postmark.init_app(two)
    with one.app_context():
        client_one = postmark.client
        assert client_one is postmark.client
        assert client_one is one.extensions["postmark"].client
        postmark.send(to="a@example.com", text_body="x")
    with two.app_context():
        assert postmark.client is not client_one
        postmark.send(to="a@example.com", text_body="x")
    tokens = [r.headers["X-Postmark-Server-Token"] for r in mock_api.request_history]
    assert tokens == ["token-one", "token-two"]
    with pytest.raises(RuntimeError, match="app context"):
        postmark.client  # noqa: B018 - no app context and no bound app


def test_not_initialised_and_config_errors() -> None:
    with Flask("x").app_context(), pytest.raises(RuntimeError, match="init_app was not called"):
        Postmark().client  # noqa: B018
    with pytest.raises(ConfigError, match="POSTMARK_TRACK_LINKS"):
        Postmark(make_app(POSTMARK_TRACK_LINKS="always"))
    with pytest.raises(ConfigError, match="POSTMARK_TRACK_OPENS"):
        Postmark(make_app(POSTMARK_TRACK_OPENS="maybe"))
    state = make_app(POSTMARK_TRACK_OPENS="off")
    Postmark(state)
    assert state.extensions["postmark"].track_opens is False


def test_the_client_is_closed_explicitly_or_with_the_app() -> None:
    app = make_app()
    postmark = Postmark(app)
    client = postmark.client
    closed: list[str] = []
    client.close = lambda: closed.append("closed")  # type: ignore[method-assign]
    postmark.close()
    postmark.close()
    assert closed == ["closed"]
    with pytest.raises(RuntimeError, match="closed"):
        postmark.send(to="a@example.com", text_body="x")

    other = make_app()
    Postmark(other)
    state = other.extensions["postmark"]
    assert isinstance(state, PostmarkState)
    state.client.close = lambda: closed.append("collected")  # type: ignore[method-assign, union-attr]
    del other
    gc.collect()
    assert closed == ["closed", "collected"]


def test_a_client_of_your_own_is_used_and_not_closed() -> None:
    mine = ServerClient(SERVER_TOKEN, base_url=API)
    closed: list[bool] = []
    mine.close = lambda: closed.append(True)  # type: ignore[method-assign]
    postmark = Postmark(make_app(), client=mine)
    assert postmark.client is mine
    postmark.close()
    assert closed == []


def test_the_token_is_never_in_a_repr() -> None:
    app = make_app()
    postmark = Postmark(app)
    assert SERVER_TOKEN not in repr(app.extensions["postmark"])
    assert SERVER_TOKEN not in repr(postmark.client)


def test_receiver_set_up_first_shares_its_client() -> None:
    app = make_app(POSTMARK_WEBHOOK_USERNAME="u", POSTMARK_WEBHOOK_PASSWORD="p")
    PostmarkReceiver().init_app(app)
    postmark = Postmark(app)
    assert postmark.client is PostmarkReceiver.client_for(app)
    assert app.extensions["postmark"].owns_client is False


def test_against_the_simulator(postmark_fake: FakePostmark) -> None:
    app = Flask("sim")
    app.config.update(
        POSTMARK_SERVER_TOKEN=postmark_fake.server_token,
        POSTMARK_BASE_URL=postmark_fake.base_url,
        POSTMARK_DEFAULT_SENDER=postmark_fake.sender_email,
        POSTMARK_TRACK_OPENS=True,
    )
    postmark = Postmark(app)
    result = postmark.send(to="ada@example.com", subject="Real HTTP", text_body="Hello")
    details = postmark.client.outbound.get(result.message_id or "")
    assert details.subject == "Real HTTP"
    assert details.track_opens is True
    results = postmark.send_batch(
        [
            {"to": "bob@example.com", "text_body": "1"},
            {"to": "not an address", "text_body": "2"},
        ]
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].error_code == 300
    sent = json.dumps([m["To"] for m in postmark_fake.state.outbound])
    assert "bob@example.com" in sent and "not an address" not in sent
    postmark.close()
