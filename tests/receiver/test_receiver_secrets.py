"""Secrets in settings: a stray space or CR/LF is refused at start-up, naming the setting.

An env file saved with CRLF endings leaves ``\\r`` on every value: the
password then never matches and every webhook is a 401, with nothing saying
why.  The receiver and the sending extension refuse such a value when they are
built, and the message names the setting, never the value.
"""

from __future__ import annotations

import traceback
from typing import Any

import pytest
from flask import Flask

from postmark_kit import ClientValidationError
from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.receiver.config import ConfigError, ReceiverConfig

SECRET = "pa55-w0rd-zz9"
BASE = {
    "POSTMARK_WEBHOOK_USERNAME": "postmark",
    "POSTMARK_WEBHOOK_PASSWORD": "pass",
    "POSTMARK_WEBHOOK_SECRET_HEADER": "X-Hook-Secret",
    "POSTMARK_WEBHOOK_SECRET_VALUE": "value",
    "POSTMARK_SERVER_TOKEN": "token",
}
SETTINGS = sorted(
    [
        "POSTMARK_WEBHOOK_USERNAME",
        "POSTMARK_WEBHOOK_PASSWORD",
        "POSTMARK_WEBHOOK_SECRET_VALUE",
        "POSTMARK_SERVER_TOKEN",
    ]
)
BAD = [f"{SECRET}\r", f"{SECRET}\r\n", f"{SECRET}\n", f" {SECRET}", f"{SECRET} ", f"\t{SECRET}"]


def _text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("setting", SETTINGS)
def test_a_secret_with_whitespace_or_a_line_break_is_refused_by_name(
    setting: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        ReceiverConfig.from_mapping({**BASE, setting: value})
    assert setting in str(info.value)
    assert SECRET not in _text(info.value)


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_flask_extension_refuses_it_at_init_app(setting: str) -> None:
    app = Flask(__name__)
    app.config.update({**BASE, setting: f"{SECRET}\r\n"})
    with pytest.raises(ConfigError) as info:
        PostmarkReceiver(app)
    assert setting in str(info.value)
    assert SECRET not in _text(info.value)


def test_clean_secrets_are_accepted() -> None:
    config: Any = ReceiverConfig.from_mapping(BASE)
    assert config.webhook_password == "pass"


def test_the_sending_extension_names_the_setting() -> None:
    from postmark_kit.flask import Postmark

    app = Flask(__name__)
    app.config["POSTMARK_SERVER_TOKEN"] = f"{SECRET}\r\n"
    with pytest.raises(ClientValidationError) as info:
        Postmark(app)
    assert "POSTMARK_SERVER_TOKEN" in str(info.value)
    assert SECRET not in _text(info.value)
