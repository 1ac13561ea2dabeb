"""postmark_kit.logging.PostmarkHandler: emails records, rate-limited, with a digest."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests_mock as requests_mock_module

from postmark_kit import ClientValidationError, ServerClient
from postmark_kit.logging import PostmarkHandler
from postmark_kit.testing import FakePostmark
from tests.conftest import API, SERVER_TOKEN
from tests.sending._support import register_sends


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("tests.sending.app")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.propagate = True


def make_handler(clock: Clock, **kw: Any) -> PostmarkHandler:
    return PostmarkHandler(
        SERVER_TOKEN,
        from_email="alerts@example.com",
        to=["ops@example.com", "dev@example.com"],
        base_url=API,
        clock=clock,
        **kw,
    )


def bodies(mock: requests_mock_module.Mocker) -> list[dict[str, Any]]:
    return [r.json() for r in mock.request_history]


def test_an_error_is_emailed_with_its_traceback(
    mock_api: requests_mock_module.Mocker, clock: Clock, logger: logging.Logger
) -> None:
    register_sends(mock_api)
    handler = make_handler(clock, tag="errors", message_stream="alerts")
    logger.addHandler(handler)
    logger.warning("below the level: not sent")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("payment %s failed\nsecond line", "#42")
    (sent,) = bodies(mock_api)
    assert sent["From"] == "alerts@example.com"
    assert sent["To"] == "ops@example.com, dev@example.com"
    assert sent["Subject"] == "ERROR in tests.sending.app: payment #42 failed"
    assert sent["Tag"] == "errors" and sent["MessageStream"] == "alerts"
    assert "ZeroDivisionError" in sent["TextBody"]
    assert "second line" in sent["TextBody"]
    assert mock_api.last_request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    handler.close()


def test_an_error_storm_is_a_few_emails_and_a_digest(
    mock_api: requests_mock_module.Mocker, clock: Clock, logger: logging.Logger
) -> None:
    register_sends(mock_api)
    handler = make_handler(clock, max_emails=3, period=60.0, digest_samples=5)
    logger.addHandler(handler)
    for i in range(1_000):  # 333 times the limit (10,000 cost 0.4 s, in stdlib logging)
        logger.error("storm %d", i)
    assert mock_api.call_count == 3
    clock.now += 19  # not yet a whole email's worth (one per 20 s)
    logger.critical("still stormy")
    assert mock_api.call_count == 3
    clock.now += 1
    logger.error("after the storm")
    assert mock_api.call_count == 4
    body = bodies(mock_api)[-1]["TextBody"]
    assert body.startswith("after the storm")
    assert "998 more log record(s) were held back" in body
    assert "1 CRITICAL, 997 ERROR" in body
    assert "storm 3" in body and "storm 7" in body and "storm 8" not in body
    # The digest was sent: the next email has none.
    clock.now += 20
    logger.error("calm")
    assert "held back" not in bodies(mock_api)[-1]["TextBody"]


def test_what_is_held_back_goes_out_at_shutdown(
    mock_api: requests_mock_module.Mocker, clock: Clock, logger: logging.Logger
) -> None:
    register_sends(mock_api)
    handler = make_handler(clock, max_emails=1, period=3600.0)
    logger.addHandler(handler)
    for i in range(5):
        logger.error("e%d", i)
    handler.flush()  # the limit allows no email yet
    assert mock_api.call_count == 1
    handler.close()
    handler.close()
    assert mock_api.call_count == 2
    last = bodies(mock_api)[-1]
    assert last["Subject"] == "4 log record(s) held back by the rate limit"
    assert "e4" in last["TextBody"]
    logger.error("after close: ignored")
    assert mock_api.call_count == 2


def test_flush_sends_the_digest_when_the_limit_allows(
    mock_api: requests_mock_module.Mocker, clock: Clock, logger: logging.Logger
) -> None:
    register_sends(mock_api)
    handler = make_handler(clock, max_emails=1, period=60.0)
    logger.addHandler(handler)
    logger.error("one")
    logger.error("two")
    clock.now += 60
    handler.flush()
    assert mock_api.call_count == 2
    assert "two" in bodies(mock_api)[-1]["TextBody"]


def test_a_failing_send_never_raises_and_never_shows_the_token(
    mock_api: requests_mock_module.Mocker,
    clock: Clock,
    logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mock_api.post(API + "/email", status_code=401, json={"ErrorCode": 10, "Message": "Bad token"})
    handler = make_handler(clock, max_emails=2)
    logger.addHandler(handler)
    logger.error("first")  # must not raise
    err = capsys.readouterr().err
    assert "InvalidTokenError" in err and "Bad token" in err
    assert SERVER_TOKEN not in err
    assert SERVER_TOKEN not in repr(handler)
    # Nothing lost: the failed record waits in the digest of the next email.
    mock_api.post(API + "/email", json={"ErrorCode": 0, "Message": "OK", "MessageID": "x"})
    logger.error("second")
    assert "first" in bodies(mock_api)[-1]["TextBody"]
    handler.close()


def test_records_logged_while_sending_do_not_recurse(
    mock_api: requests_mock_module.Mocker, clock: Clock, logger: logging.Logger
) -> None:
    def noisy(request: Any, context: Any) -> Any:
        logger.error("logged from inside the send")
        return {"ErrorCode": 0, "Message": "OK", "MessageID": "x"}

    mock_api.post(API + "/email", json=noisy)
    handler = make_handler(clock)
    logger.addHandler(handler)
    logger.error("outer")
    assert mock_api.call_count == 1
    logger.error("next")
    assert "logged from inside the send" in bodies(mock_api)[-1]["TextBody"]
    handler.close()


def test_bad_arguments() -> None:
    with pytest.raises(ClientValidationError):
        PostmarkHandler(from_email="a@example.com", to="b@example.com")
    with pytest.raises(ClientValidationError):
        PostmarkHandler(SERVER_TOKEN, from_email="a@x.com", to="b@x.com", max_emails=0)


def test_against_the_simulator(postmark_fake: FakePostmark, logger: logging.Logger) -> None:
    client = ServerClient(postmark_fake.server_token, base_url=postmark_fake.base_url, retries=0)
    handler = PostmarkHandler(client=client, from_email=postmark_fake.sender_email, to="ops@x.com")
    logger.addHandler(handler)
    logger.error("disk %s is full", "/var")
    closed: list[bool] = []
    real_close = client.close
    client.close = lambda: closed.append(True)  # type: ignore[method-assign]
    handler.close()
    assert closed == []  # a client passed in is the caller's to close
    real_close()
    (stored,) = postmark_fake.state.outbound
    assert stored["Subject"] == "ERROR in tests.sending.app: disk /var is full"
