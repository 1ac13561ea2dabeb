"""Hypothesis fuzzing (150 examples each) of the hostile bodies of test_receiver_hostile.py.

Slow, like every ``*_fuzz.py``: the inner loop does not even import these
(tests/conftest.py); test_receiver_hostile.py tries each case once in it.
"""

# Fixtures are imported from test_receiver_hostile, so using them as test
# parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postmark_kit.events import EVENT_TYPES, MAX_DEPTH
from tests.conftest import load_webhook
from tests.receiver._receiver_support import KINDS, WEBHOOK, Recorder
from tests.receiver.test_receiver_hostile import (  # noqa: F401
    DOCUMENTED,
    FIELDS,
    FieldPath,
    _accepted,
    _check,
    _replace,
    _report_inputs,
    _send,
    apps,
    client,
    recorder,
    roomy,
)

pytestmark = pytest.mark.slow


HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Any code point, lone surrogates included (JSON can escape them; they are not Unicode).
chars = st.characters(exclude_categories=()) | st.characters(categories=["Cs"])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(chars, max_size=20)
)


def _wrong_values(tp: Any) -> st.SearchStrategy[Any]:
    by_type: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(chars, max_size=30),
        "integer": st.integers(),
        "float": st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not f.is_integer()
        ),
        "boolean": st.booleans(),
        "array": st.lists(json_scalars, max_size=3),
        "object": st.dictionaries(st.text(max_size=6), json_scalars, max_size=3),
    }
    options = [s for name, s in by_type.items() if name not in _accepted(tp)]
    if tp is datetime:
        options.remove(by_type["string"])
        options.append(st.sampled_from(["yesterday", "2019-13-45T00:00:00Z", "1573000000", "T"]))
    return st.one_of(options)


@st.composite
def wrong_type_payloads(draw: st.DrawFn) -> tuple[str, FieldPath, Any]:
    kind, path, tp = draw(st.sampled_from(FIELDS))
    return kind, path, _replace(load_webhook(kind), path, draw(_wrong_values(tp)))


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(case=wrong_type_payloads())
def test_wrong_type_anywhere_is_422(
    client: Any, recorder: Recorder, case: tuple[str, FieldPath, Any]
) -> None:
    _kind, _path, payload = case
    _check(_send(client, recorder, json.dumps(payload)), recorder, expect=422)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(
    kind=st.sampled_from(KINDS),
    changes=st.lists(st.tuples(st.sampled_from(FIELDS), json_scalars), min_size=1, max_size=5),
)
def test_several_arbitrary_values_at_once(
    client: Any, recorder: Recorder, kind: str, changes: list[tuple[Any, Any]]
) -> None:
    """Arbitrary values (any type, null) in several fields: a 200 is a well-typed event."""
    payload = load_webhook(kind)
    replaced: list[FieldPath] = []
    for (field_kind, path, _tp), value in changes:
        if field_kind != kind or any(path[: len(done)] == done for done in replaced):
            continue  # another kind's field, or inside a value already replaced
        payload = _replace(payload, path, value)
        replaced.append(path)
    _check(_send(client, recorder, json.dumps(payload)), recorder)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(chars, max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(chars, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(value=json_values)
def test_arbitrary_json_at_top_level(client: Any, recorder: Recorder, value: Any) -> None:
    """Any JSON value (NaN and Infinity too): only an object can be an event."""
    body = json.dumps(value)
    answer = _check(_send(client, recorder, body), recorder)
    if not isinstance(value, dict):
        assert "error" in answer


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(
    record_type=st.sampled_from([*EVENT_TYPES, "Weird", ""]) | st.text(max_size=10),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "ID",
                "Type",
                "Email",
                "MessageID",
                "Recipient",
                "DeliveredAt",
                "ReceivedAt",
                "ChangedAt",
                "SuppressSending",
                "FromFull",
                "Metadata",
                "Geo",
                "Headers",
            ]
        )
        | st.text(max_size=8),
        json_values,
        max_size=6,
    ),
)
def test_arbitrary_objects_with_a_record_type(
    client: Any, recorder: Recorder, record_type: str, fields: dict[str, Any]
) -> None:
    body = json.dumps({"RecordType": record_type, **fields})
    _check(_send(client, recorder, body), recorder)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(
    kind=st.sampled_from(KINDS),
    repeats=st.lists(st.tuples(st.sampled_from(FIELDS), json_scalars), min_size=1, max_size=4),
)
def test_duplicate_keys_anywhere(
    client: Any, recorder: Recorder, kind: str, repeats: list[tuple[Any, Any]]
) -> None:
    """Top-level keys repeated with arbitrary values: the answer matches the last-wins object."""
    payload = load_webhook(kind)
    text = json.dumps(payload)[:-1]
    effective = dict(payload)
    for (_kind, path, _tp), value in repeats:
        text += f", {json.dumps(path[0])}: {json.dumps(value)}"
        effective[str(path[0])] = value
    first = _check(_send(client, recorder, text + "}"), recorder)
    again = _check(_send(client, recorder, json.dumps(effective)), recorder)
    assert ("error" in first) == ("error" in again)


@pytest.mark.slow  # fuzzing, 60 examples (test_deep_nesting_is_a_4xx stays in the inner loop)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    depth=st.integers(1, 200_000),
    shape=st.sampled_from(["[", '{"k":', '[{"k":']),
    wrap=st.booleans(),
)
def test_any_nesting_depth(
    roomy: Any, recorder: Recorder, depth: int, shape: str, wrap: bool
) -> None:
    closer = "".join({"[": "]", "{": "}"}[c] for c in shape if c in "[{")[::-1]
    nested = shape * depth + "0" + closer * depth
    body = '{"RecordType": "Weird", "X": ' + nested + "}" if wrap else nested
    answer = _check(_send(roomy, recorder, body), recorder)
    if depth * shape.count("{") + depth * shape.count("[") + wrap > MAX_DEPTH:
        assert "error" in answer


@pytest.mark.slow  # fuzzing with strings up to 1 MB, 40 examples
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(char=chars, size=st.integers(0, 1_000_000), field=st.sampled_from(FIELDS))
def test_huge_string_in_any_field(
    roomy: Any, recorder: Recorder, char: str, size: int, field: tuple[str, FieldPath, Any]
) -> None:
    kind, path, tp = field
    payload = _replace(load_webhook(kind), path, char * size)
    answer = _check(_send(roomy, recorder, json.dumps(payload)), recorder)
    if tp is not str and tp is not datetime:
        assert "error" in answer
    elif tp is str and path != ("RecordType",) and not 0xD800 <= ord(char) <= 0xDFFF:
        assert answer["ok"] is True


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(garbage=st.binary(min_size=1, max_size=64), at=st.integers(0, 10_000))
def test_random_bytes_spliced_into_a_valid_body(
    client: Any, recorder: Recorder, garbage: bytes, at: int
) -> None:
    body = json.dumps(load_webhook("bounce")).encode()
    at %= len(body) + 1
    _check(_send(client, recorder, body[:at] + garbage + body[at:]), recorder)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(data=st.binary(max_size=512))
def test_random_bytes(client: Any, recorder: Recorder, data: bytes) -> None:
    _check(_send(client, recorder, data), recorder)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(
    content_type=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).filter(
        lambda t: t.strip() == t
    ),
    form=st.booleans(),
)
def test_arbitrary_content_types(
    client: Any, recorder: Recorder, content_type: str, form: bool
) -> None:
    """Any Content-Type: 200 only for application/json or application/*+json."""
    body = "a=1&b=2" if form else json.dumps(load_webhook("bounce"))
    response = _send(client, recorder, body, content_type=content_type)
    _check(response, recorder)
    mimetype = response.request.mimetype
    is_json = mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )
    if not is_json:
        assert response.status_code == 415
    elif not form:
        assert response.status_code == 200


path_chars = st.characters(exclude_characters="/", exclude_categories=("Cs",))


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(
    kind=st.sampled_from(KINDS)
    | st.text(path_chars, max_size=30).filter(lambda k: k not in ("", ".", ".."))
    | st.builds(lambda c, n: c * n, path_chars.filter(lambda c: c != "."), st.integers(1, 5000)),
    payload_kind=st.sampled_from(DOCUMENTED),
)
def test_per_type_endpoints(client: Any, recorder: Recorder, kind: str, payload_kind: str) -> None:
    """``/webhook/<kind>``: any kind name is a short 404, a mismatched event a 422."""
    url = f"{WEBHOOK}/{quote(kind, safe='')}"
    body = json.dumps(load_webhook(payload_kind))
    response = _send(client, recorder, body, url=url)
    answer = _check(response, recorder)
    if kind not in KINDS:
        assert response.status_code == 404 and answer["error"].startswith("no webhook endpoint")
    else:
        assert response.status_code == (200 if kind == payload_kind else 422), answer


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=400
)


@pytest.mark.slow  # fuzzing, 150 examples (test_receiver_hostile.py tries each case once)
@HYPOTHESIS
@given(trace=header_text, retries=header_text)
def test_arbitrary_postmark_headers(
    client: Any, recorder: Recorder, trace: str, retries: str
) -> None:
    """X-PM-Webhook-Trace-Id and X-PM-Retries-Remaining hold whatever the sender put there."""
    headers = {"X-PM-Webhook-Trace-Id": trace, "X-PM-Retries-Remaining": retries}
    response = _send(client, recorder, json.dumps(load_webhook("bounce")), headers=headers)
    answer = _check(response, recorder, expect=200)
    webhook = recorder.calls[0][3]
    sent = response.request.headers["X-PM-Webhook-Trace-Id"]  # as it arrived (trimmed)
    if sent:
        assert answer["key"] == "trace:" + sent[:256] and webhook.trace_id == sent[:256]
    else:
        assert answer["key"] == f"bounce:{load_webhook('bounce')['ID']}"
    assert webhook.retries_remaining is None or isinstance(webhook.retries_remaining, int)
