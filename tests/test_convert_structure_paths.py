"""The structure functions: every path builds what attrs' own __init__ would.

Both are cattrs' generated functions: one for a dict with exactly the model's
keys (every value passed to ``__init__``), cattrs' ordinary one for a dict with
missing or unknown keys (defaults, and unknown keys to ``extra``).  Each value
is checked as it is structured: a mismatch is a StructureError naming its path.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from postmark_kit.convert import Model, structure, structure_list
from postmark_kit.models.common import EmailAddress
from postmark_kit.models.messages import OutboundMessage

EST = timezone(timedelta(hours=-5))


@attrs.define(frozen=True)
class _Needs(Model):
    name: str
    tags: list[str] = attrs.field(factory=list)
    when: datetime | None = None


def _wire(i: int) -> dict[str, object]:
    return {
        "Tag": "Invitation",
        "MessageID": f"id-{i}",
        "MessageStream": "outbound",
        "To": [{"Email": f"u{i}@example.com", "Name": None, "MailboxHash": ""}],
        "Cc": [],
        "Bcc": [],
        "Recipients": [f"u{i}@example.com"],
        "ReceivedAt": "2026-11-20T11:59:55.1234567-05:00",
        "From": "a@example.com",
        "Subject": "hi",
        "Attachments": [],
        "Status": "Sent",
        "TrackOpens": True,
        "TrackLinks": "HtmlOnly",
        "Metadata": {"k": "v"},
        "Sandboxed": False,
    }


def _expected(i: int) -> OutboundMessage:
    return OutboundMessage(
        tag="Invitation",
        message_id=f"id-{i}",
        message_stream="outbound",
        to=[EmailAddress(email=f"u{i}@example.com", name=None, mailbox_hash="")],
        recipients=[f"u{i}@example.com"],
        received_at=datetime(2026, 11, 20, 11, 59, 55, 123456, tzinfo=EST),
        from_email="a@example.com",
        subject="hi",
        status="Sent",
        track_opens=True,
        track_links="HtmlOnly",
        metadata={"k": "v"},
        sandboxed=False,
    )


def test_exact_keys_build_the_same_model_as_init() -> None:
    items = structure_list([_wire(i) for i in range(60)], OutboundMessage)  # GC-paused path too
    for i, got in enumerate(items):
        assert type(got) is OutboundMessage
        assert type(got.to[0]) is EmailAddress
        assert got == _expected(i)
        assert got.extra == {}
    assert items[0].extra is not items[1].extra  # each instance owns its extra dict
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        items[0].tag = "changed"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(items[0])) == items[0]  # noqa: S301 - our own bytes
    assert attrs.evolve(items[0], tag="x").tag == "x"


def test_missing_keys_take_defaults_and_unknown_keys_go_to_extra() -> None:
    wire = _wire(1)
    del wire["Cc"], wire["ReceivedAt"], wire["Tag"]
    wire["NewField"] = 7
    got = structure(wire, OutboundMessage)
    assert type(got) is OutboundMessage
    assert got.cc == [] and got.received_at is None and got.tag is None
    assert got.extra == {"NewField": 7}
    assert got.to == [EmailAddress(email="u1@example.com", name=None, mailbox_hash="")]
    other = structure({"MessageID": "x"}, OutboundMessage)
    assert other.cc == [] and other.cc is not got.cc
    assert other.extra == {}


def test_unknown_keys_with_every_modelled_key_present() -> None:
    wire = {**_wire(2), "Later": {"a": 1}}
    got = structure(wire, OutboundMessage)
    assert got == _expected(2)
    assert got.extra == {"Later": {"a": 1}}


def test_every_subset_of_keys_in_any_order_builds_what_init_builds() -> None:
    # Each key set gets its own generated function (up to a few per model),
    # the rest take cattrs' general one: all of them must agree with __init__.
    full = {"Email": "a@example.com", "Name": "A", "MailboxHash": "h"}
    names = {"Email": "email", "Name": "name", "MailboxHash": "mailbox_hash"}
    subsets = [
        [],
        ["Email"],
        ["Name"],
        ["MailboxHash"],
        ["Email", "Name"],
        ["Name", "Email"],
        ["MailboxHash", "Email"],
        ["Name", "MailboxHash"],
        ["MailboxHash", "Name"],
        ["Email", "MailboxHash"],
        ["Name", "MailboxHash", "Email"],
    ]
    for _ in range(2):  # the second time through, from the cached functions
        for keys in subsets:
            got = structure({k: full[k] for k in keys}, EmailAddress)
            assert got == EmailAddress(**{names[k]: full[k] for k in keys})
            assert got.extra == {}
    with pytest.raises(Exception, match=r"EmailAddress: Name must be a string, got number"):
        structure({"Name": 5}, EmailAddress)
    assert structure({"Email": "x", "Other": 1}, EmailAddress).extra == {"Other": 1}


def test_a_missing_required_key_is_an_error_and_present_ones_work() -> None:
    with pytest.raises(KeyError):
        structure({"Tags": []}, _Needs)
    got = structure({"Name": "n", "When": "2026-01-02T03:04:05Z", "Odd": 1}, _Needs)
    assert got == _Needs(name="n", when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert got.tags == [] and got.extra == {"Odd": 1}
    assert type(structure({"Name": "n", "Tags": ["a"], "When": None}, _Needs)) is _Needs


def test_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="OutboundMessage"):
        structure(["not", "a", "dict"], OutboundMessage)
    with pytest.raises(TypeError):
        structure({**_wire(3), "To": [5]}, OutboundMessage)


def test_as_many_keys_as_modelled_but_one_swapped_for_an_unknown_one() -> None:
    wire = _wire(4)
    del wire["Subject"]
    wire["Surprise"] = "x"
    got = structure(wire, OutboundMessage)
    assert got == attrs.evolve(_expected(4), subject=None)
    assert got.extra == {"Surprise": "x"}


def test_address_lists_of_every_length() -> None:
    for n in (0, 1, 2, 5):
        addresses = [{"Email": f"c{k}@example.com", "Name": "C"} for k in range(n)]
        got = structure({**_wire(5), "Cc": addresses}, OutboundMessage)
        assert [a.email for a in got.cc] == [f"c{k}@example.com" for k in range(n)]
        assert all(type(a) is EmailAddress and a.mailbox_hash is None for a in got.cc)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-11-20T12:01:05.1794748-05:00", datetime(2026, 11, 20, 12, 1, 5, 179474, tzinfo=EST)),
        ("2026-11-20T17:01:05Z", datetime(2026, 11, 20, 17, 1, 5, tzinfo=UTC)),
        ("2026-11-20T17:01:05", datetime(2026, 11, 20, 17, 1, 5, tzinfo=UTC)),  # naive: UTC
        ("2026-11-20T17:01:05.12345678Z", datetime(2026, 11, 20, 17, 1, 5, 123456, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_on_every_path(wire: str | None, expected: datetime | None) -> None:
    from postmark_kit.models.email import SendResult

    exact = {"To": "a@x", "SubmittedAt": wire, "MessageID": "m", "ErrorCode": 0, "Message": "OK"}
    got = structure(exact, SendResult)
    assert got.submitted_at == expected
    assert got.submitted_at is None or got.submitted_at.tzinfo is not None
    assert structure({"SubmittedAt": wire}, SendResult).submitted_at == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Subject": 5}, "OutboundMessage: Subject must be a string, got number"),
        ({"To": [{"Email": 5}]}, "OutboundMessage: To[0]: Email must be a string, got number"),
        ({"To": {"Email": "a"}}, "OutboundMessage: To must be an array, got object"),
        ({"ReceivedAt": 1}, "OutboundMessage: ReceivedAt must be a timestamp string, got number"),
        ({"ReceivedAt": "soon"}, "OutboundMessage: ReceivedAt: not a valid timestamp"),
        ({"TrackOpens": "yes"}, "OutboundMessage: TrackOpens must be a boolean, got string"),
        ({"Metadata": {"k": 1}}, "OutboundMessage: Metadata values must be a string, got number"),
        ({"Recipients": [None]}, "OutboundMessage: Recipients[0] must be a string, got null"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_structure_error_naming_its_path(
    change: dict[str, object], message: str
) -> None:
    from postmark_kit.convert import StructureError

    for wire in ({**_wire(1), **change}, {"MessageID": "m", **change}):  # both cattrs paths
        with pytest.raises(StructureError) as info:
            structure(wire, OutboundMessage)
        assert str(info.value) == message


def test_untyped_values_are_checked_for_depth_and_unicode() -> None:
    from postmark_kit.convert import MAX_DEPTH, InvalidUnicodeError, NestingTooDeepError

    ok: object = []
    for _ in range(MAX_DEPTH - 2):
        ok = [ok]
    assert structure({**_wire(1), "Later": ok}, OutboundMessage).extra == {"Later": ok}
    with pytest.raises(NestingTooDeepError):
        structure({**_wire(1), "Later": [ok]}, OutboundMessage)
    with pytest.raises(InvalidUnicodeError):
        structure({**_wire(1), "Subject": "\ud800"}, OutboundMessage)
    with pytest.raises(InvalidUnicodeError):
        structure({**_wire(1), "Attachments": [{"\udfff": 1}]}, OutboundMessage)
