"""Untyped JSON (``Any``, ``dict[str, Any]``, ``extra``): the flat all-ASCII shortcut.

It refuses exactly what the walk refuses.

``check_json`` returns a flat object or array of ASCII strings after one
C-level pass; anything else (a nested value, a non-ASCII string, a lone
surrogate, a level past :data:`MAX_DEPTH`) is walked as before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from postmark_kit.convert import (
    MAX_DEPTH,
    InvalidUnicodeError,
    NestingTooDeepError,
    check_json,
    structure,
)
from postmark_kit.models.messages import MessageEvent


@pytest.mark.parametrize(
    "value",
    [
        {"Summary": "ok", "Link": "https://example.com"},
        ["a", "b"],
        {"Summary": "d\u00e9j\u00e0 vu"},  # non-ASCII but valid: walked, accepted
        {"a": ["x", {"b": "y"}]},
        OrderedDict(a="1", b="2"),
        {"n": 1, "t": True, "z": None},
    ],
)
def test_valid_untyped_values_are_returned_as_they_are(value: Any) -> None:
    assert check_json(value) is value


@pytest.mark.parametrize(
    "value",
    [
        {"Summary": "\ud800"},
        {"\udfff": "x"},
        ["ok", "\ud800"],
        OrderedDict(a="\ud800"),
        {"a": "ok", "b": ["\udc00"]},
    ],
)
def test_a_lone_surrogate_is_refused_in_a_flat_value_too(value: Any) -> None:
    with pytest.raises(InvalidUnicodeError):
        check_json(value)


def test_a_flat_value_past_the_depth_limit_is_refused() -> None:
    with pytest.raises(NestingTooDeepError):
        check_json({"a": "b"}, MAX_DEPTH + 1)
    with pytest.raises(NestingTooDeepError):
        check_json(["a"], MAX_DEPTH + 1)
    assert check_json({"a": "b"}, MAX_DEPTH) == {"a": "b"}


def test_event_details_take_the_shortcut_and_keep_their_checks() -> None:
    event = {"Recipient": "a@example.com", "Type": "Delivered", "Details": {"Summary": "ok"}}
    assert structure(event, MessageEvent).details == {"Summary": "ok"}
    with pytest.raises(InvalidUnicodeError, match="Details"):
        structure({**event, "Details": {"Summary": "\ud800"}}, MessageEvent)
