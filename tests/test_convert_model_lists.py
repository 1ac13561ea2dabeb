"""Lists of models: the list loop builds and refuses exactly what item-by-item structuring does.

A list of models (a page, a batch's results, an outbound ``To``) takes the
model's list function: the usual dict (exactly the model's keys) goes straight
to cattrs' all-keys function inside the loop, any other item to the model's
own structure function.  Same models, same errors, same paths.
"""

from __future__ import annotations

import attrs
import pytest

from postmark_kit.convert import Model, StructureError, structure, structure_list
from postmark_kit.models.common import EmailAddress
from postmark_kit.models.email import SendResult
from postmark_kit.models.messages import OutboundMessage
from tests.test_convert_structure_paths import _wire


@attrs.define(frozen=True)
class _Required(Model):
    name: str
    size: int | None = None


def _result(i: int, **change: object) -> dict[str, object]:
    return {
        "To": f"u{i}@example.com",
        "SubmittedAt": "2026-11-20T12:01:05.1794748-05:00",
        "MessageID": f"m{i}",
        "ErrorCode": 0,
        "Message": "OK",
        **change,
    }


def test_a_list_builds_what_structuring_each_item_builds() -> None:
    items = [_result(i) for i in range(5)]
    items[2] = {"To": "x@example.com", "ErrorCode": 406, "Message": "inactive"}  # fewer keys
    items[3] = {**_result(3), "Later": [1, {"a": 2}]}  # an unknown key
    got = structure_list(items, SendResult)
    assert got == [structure(i, SendResult) for i in items]
    assert [type(g) for g in got] == [SendResult] * 5
    assert got[3].extra == {"Later": [1, {"a": 2}]}
    assert got[0].extra == {} and got[0].extra is not got[1].extra
    pages = [_wire(i) for i in range(3)]
    assert structure_list(pages, OutboundMessage) == [structure(p, OutboundMessage) for p in pages]


@pytest.mark.parametrize("where", [0, 1, 4])
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ErrorCode": "0"}, "ErrorCode must be an integer, got string"),
        ({"To": 5}, "To must be a string, got number"),
        ({"SubmittedAt": "soon"}, "SubmittedAt: not a valid timestamp"),
        ({"Message": "\ud800"}, "Message: not valid Unicode"),
    ],
)
def test_a_bad_item_is_named_by_its_index(where, change, problem) -> None:
    for exact in (True, False):  # all keys (the loop's own call), or fewer keys
        items = [_result(i) for i in range(5)]
        bad = _result(where, **change)
        if not exact:
            del bad["MessageID"]
        items[where] = bad
        with pytest.raises(StructureError) as caught:
            structure_list(items, SendResult)
        assert str(caught.value) == f"SendResult[{where}]: {problem}"


def test_an_item_that_is_not_an_object_is_named_by_its_index() -> None:
    with pytest.raises(StructureError, match=r"^SendResult\[1\] must be an object, got array$"):
        structure_list([_result(0), [], _result(2)], SendResult)


def test_nested_lists_take_the_same_path() -> None:
    page = [_wire(i) for i in range(3)]
    page[1]["To"] = [{"Email": "a@example.com", "Name": None, "MailboxHash": ""}, {"Email": 7}]
    with pytest.raises(StructureError) as caught:
        structure_list(page, OutboundMessage)
    assert str(caught.value) == "OutboundMessage[1]: To[1]: Email must be a string, got number"
    to = [{"Email": f"u{i}@example.com", "Name": None, "MailboxHash": "h"} for i in range(3)]
    expected = [EmailAddress(f"u{i}@example.com", None, "h") for i in range(3)]
    assert structure_list(to, EmailAddress) == expected


def test_a_missing_required_key_is_a_key_error_as_for_one_item() -> None:
    with pytest.raises(KeyError):
        structure({"Size": 1}, _Required)
    with pytest.raises(KeyError):
        structure_list([{"Name": "a", "Size": 1}, {"Size": 1, "Other": 2}], _Required)
    assert structure_list([{"Name": "a", "Size": 1}], _Required) == [_Required(name="a", size=1)]
