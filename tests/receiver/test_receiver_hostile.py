"""Hostile bodies at the webhook endpoint: never a 5xx, never a plugin call for an invalid body.

Every request goes through the real Flask app (test client, or a real WSGI server on
127.0.0.1 where framing matters: chunked bodies, lying Content-Length) with the
standalone receiver's plugins (log, SQLite store) plus a recording plugin.  Each answer
is checked against the same invariants (:func:`_check`): below 500, JSON, a one-line
``error`` for a 4xx, and the recorder called exactly once for a 200, never otherwise.
``INPUTS`` counts the requests sent; the module prints the total when it is done.
Hypothesis fuzzes the same checks in test_receiver_hostile_fuzz.py (slow).
"""

from __future__ import annotations

import codecs
import http.client
import itertools
import json
import os
import socket
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs
import pytest
from flask import Flask

from postmark_kit.convert import json_name
from postmark_kit.events import EVENT_TYPES, MAX_DEPTH, InboundMessage, UnknownEvent
from postmark_kit.receiver import PostmarkReceiver, create_app
from postmark_kit.testing import payloads
from tests.conftest import load_webhook
from tests.receiver._receiver_support import AUTH, KINDS, WEBHOOK, Recorder, clean_env, serve_wsgi  # noqa: F401

#: Requests sent by this module (the closing note's "inputs tried").
INPUTS = 0
_TRACE = itertools.count()

LIMIT = 64 * 1024  # POSTMARK_MAX_BODY_BYTES of the ``client`` fixture's app


@pytest.fixture(scope="module", autouse=True)
def _report_inputs() -> Iterator[None]:
    yield
    print(f"\ntest_receiver_hostile: {INPUTS} inputs tried")


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    """One recorder for the module's apps; :func:`_send` clears it before each request."""
    return Recorder()


def _app(directory: Path, recorder: Recorder, **config: Any) -> Flask:
    """The standalone receiver (log and store plugins on), inline dispatch, no shell settings."""
    values = {
        "POSTMARK_EVENT_STORE": str(directory / "events.sqlite3"),
        "POSTMARK_DISPATCH": "inline",
        "POSTMARK_JOURNAL": str(directory / "journal.sqlite3"),
        "POSTMARK_WEBHOOK_USERNAME": AUTH[0],
        "POSTMARK_WEBHOOK_PASSWORD": AUTH[1],
        **config,
    }
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith("POSTMARK_"):
                env.delenv(key)
        return create_app(values, plugins=[recorder])


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Iterator[list[Flask]]:
    """Apps built once per module (thousands of requests; building one per test is slow)."""
    made: list[Flask] = []
    yield made
    for app in made:
        PostmarkReceiver.shutdown(app)


def _shared(apps: list[Flask], tmp: pytest.TempPathFactory, recorder: Recorder, **kw: Any) -> Any:
    app = _app(tmp.mktemp("receiver"), recorder, **kw)
    apps.append(app)
    return app


@pytest.fixture(scope="module")
def client(apps: list[Flask], tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Any:
    return _shared(apps, tmp_path_factory, recorder, POSTMARK_MAX_BODY_BYTES=LIMIT).test_client()


@pytest.fixture(scope="module")
def roomy(apps: list[Flask], tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Any:
    """The default 50 MB limit: room for deep nesting and huge strings."""
    return _shared(apps, tmp_path_factory, recorder).test_client()


def _send(
    client: Any,
    recorder: Recorder,
    body: bytes | str,
    *,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    url: str = WEBHOOK,
    **kw: Any,
) -> Any:
    """POST ``body`` as is (a fresh trace id, so no answer is a deduplicated repeat)."""
    global INPUTS
    INPUTS += 1
    recorder.calls.clear()
    sent = {"X-PM-Webhook-Trace-Id": f"hostile-{next(_TRACE)}", **(headers or {})}
    if content_type is not None:
        kw["content_type"] = content_type
    return client.post(url, data=body, auth=AUTH, headers=sent, **kw)


def _check(response: Any, recorder: Recorder, expect: int | None = None) -> Any:
    """The invariants every answer keeps; ``expect`` pins the status too."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert status < 500, text[:300]
    assert "Traceback" not in text and 'File "' not in text
    if status >= 400:
        assert response.mimetype == "application/json", text[:300]
        answer = json.loads(text)
        assert set(answer) == {"error"}, answer
        reason = answer["error"]
        assert isinstance(reason, str) and 0 < len(reason) <= 300 and "\n" not in reason
        assert recorder.calls == [], "a plugin saw an invalid body"
    else:
        assert status == 200 and text == "", text[:300]
        key = response.headers["Postmark-Kit-Key"]
        assert key.isascii() and key.isprintable(), key  # fit for a header, whatever the body held
        # The accepted answer's facts, in the shape the error answers have.
        answer = {"ok": True, "event": response.headers["Postmark-Kit-Event"], "key": unquote(key)}
        _called_once(recorder, answer["event"])
    if expect is not None:
        assert status == expect, text[:300]
    return answer


def _called_once(recorder: Recorder, kind: str) -> None:
    hooks = recorder.hooks()
    expected = ["postmark_event"] if kind == "unknown" else [f"postmark_{kind}", "postmark_event"]
    assert sorted(hooks) == sorted(expected), hooks
    event = recorder.calls[0][1]
    assert all(call[1] is event for call in recorder.calls)
    _assert_well_typed(event, type(event), "event")


# -- what a plugin may rely on: every modelled field has its declared type -----------------------

_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, type(int | None)) and len(args) == 1:
        return args[0]
    return tp


def _assert_well_typed(value: Any, tp: Any, where: str) -> None:
    tp = _strip_optional(tp)
    if value is None or tp is Any:
        return
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and attrs.has(tp):
        assert isinstance(value, tp), where
        hints = _hints(tp)
        for field in attrs.fields(tp):
            if field.name not in ("extra", "raw"):
                _assert_well_typed(getattr(value, field.name), hints[field.name], where)
    elif origin is list:
        assert isinstance(value, list), where
        for item in value:
            assert item is not None, where
            _assert_well_typed(item, typing.get_args(tp)[0], where)
    elif origin is dict:
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert isinstance(key, str), where
            assert item is not None, where
            _assert_well_typed(item, typing.get_args(tp)[1], where)
    elif tp is int:
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif tp in (str, bool, datetime):
        assert isinstance(value, tp), where
    if isinstance(value, str):
        value.encode("utf-8")  # no lone surrogate reaches a plugin


# -- every documented field, by path, with its declared type --------------------------------------

FieldPath = tuple[str | int, ...]


def _event_class(payload: dict[str, Any]) -> type[Any]:
    record_type = payload.get("RecordType")
    return InboundMessage if record_type is None else EVENT_TYPES[record_type]


def _declared(cls: type[Any], path: FieldPath) -> Any:
    """The model type at ``path`` (JSON keys and list indexes); ``Any`` when not modelled."""
    tp: Any = cls
    for step in path:
        tp = _strip_optional(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and attrs.has(tp):
            by_key = {json_name(f): f.name for f in attrs.fields(tp) if f.name != "extra"}
            if step not in by_key:
                return Any
            tp = _hints(tp)[by_key[str(step)]]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return Any
    return _strip_optional(tp)


def _paths(value: Any, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(payload: Any, path: FieldPath, new: Any) -> Any:
    """A copy of ``payload`` with the value at ``path`` replaced."""
    copy = json.loads(json.dumps(payload))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


#: Every documented payload (the copies shipped in postmark_kit.testing.payloads).
DOCUMENTED = sorted(payloads.KINDS)

#: (kind, path, declared type) for every value of every documented payload.
FIELDS = [
    (kind, path, _declared(_event_class(load_webhook(kind)), path))
    for kind in DOCUMENTED
    for path in _paths(load_webhook(kind))
]
REQUIRED_TOP = {
    "bounce": {"ID", "Type", "Email"},
    "spam_complaint": {"ID", "Email"},
    "delivery": {"MessageID", "Recipient", "DeliveredAt"},
    "open": {"MessageID", "Recipient", "ReceivedAt"},
    "click": {"MessageID", "Recipient", "ReceivedAt"},
    "subscription_change": {"Recipient", "SuppressSending", "ChangedAt"},
    "inbound": {"MessageID", "FromFull"},
}

#: One value of each JSON type (the "wrong type" is every one the field does not take).
SAMPLES: dict[str, Any] = {
    "string": "not-a-value",
    "integer": 7,
    "float": 1.5,
    "boolean": True,
    "array": ["x"],
    "object": {"x": "y"},
}


def _accepted(tp: Any) -> set[str]:
    """The JSON types a field of model type ``tp`` takes."""
    if tp is str:
        return {"string"}
    if tp is int:
        return {"integer"}
    if tp is bool:
        return {"boolean"}
    if tp is float:
        return {"integer", "float"}
    if tp is datetime:
        return set()  # a timestamp string; "not-a-value" is not one
    if typing.get_origin(tp) is list:
        return {"array"}
    if typing.get_origin(tp) is dict or (isinstance(tp, type) and attrs.has(tp)):
        return {"object"}
    return set(SAMPLES)


def test_every_documented_field_is_modelled() -> None:
    """The oracle below is only as good as its type lookup: no documented field falls to Any."""
    assert set(KINDS) <= set(DOCUMENTED)
    assert len(FIELDS) > 150
    unmodelled = [(kind, path) for kind, path, tp in FIELDS if tp is Any]
    assert unmodelled == []


#: Every (field, wrong JSON type) pair: 951 requests.
WRONG_TYPES = [
    (kind, path, json_type)
    for kind, path, tp in FIELDS
    for json_type in SAMPLES
    if json_type not in _accepted(tp)
]


def _type_class(tp: Any) -> str:
    """The validator a field's type goes through: str, int, datetime, list, one model class..."""
    return repr(typing.get_origin(tp) or tp)


def _a_wrong_type_per_field() -> list[tuple[str, FieldPath, str]]:
    """Each field once, and each (type class, wrong JSON type) pair at least once: 198 requests.

    Each field's wrong type is the first its type class has not been sent yet;
    pairs no field was given are added at the end.
    """
    classes = {(kind, path): _type_class(tp) for kind, path, tp in FIELDS}
    chosen: dict[tuple[str, FieldPath], str] = {}
    covered: set[tuple[str, str]] = set()
    for kind, path, json_type in WRONG_TYPES:
        pair = (classes[kind, path], json_type)
        if (kind, path) not in chosen and pair not in covered:
            chosen[kind, path] = json_type
            covered.add(pair)
    picked = [(kind, path, json_type) for (kind, path), json_type in chosen.items()]
    for kind, path, json_type in WRONG_TYPES:
        pair = (classes[kind, path], json_type)
        if (kind, path) not in chosen or pair not in covered:
            chosen.setdefault((kind, path), json_type)
            covered.add(pair)
            picked.append((kind, path, json_type))
    return picked


def _send_wrong_types(client: Any, recorder: Recorder, cases: Any) -> int:
    for kind, path, json_type in cases:
        payload = _replace(load_webhook(kind), path, SAMPLES[json_type])
        _check(_send(client, recorder, json.dumps(payload)), recorder, expect=422)
    return len(cases)


def test_every_field_with_a_wrong_type_is_422(client: Any, recorder: Recorder) -> None:
    """Each documented field (nested ones too) with a wrong JSON type, every kind of wrong type.

    The inner loop's representative of the full matrix below (a fifth of its requests).
    """
    cases = _a_wrong_type_per_field()
    classes = {(kind, path): _type_class(tp) for kind, path, tp in FIELDS}
    assert {(kind, path) for kind, path, _ in cases} == set(classes)
    pairs = {(classes[kind, path], json_type) for kind, path, json_type in cases}
    assert pairs == {(classes[kind, path], json_type) for kind, path, json_type in WRONG_TYPES}
    assert len(pairs) > 40
    assert _send_wrong_types(client, recorder, cases) < len(WRONG_TYPES) / 3


@pytest.mark.slow  # 951 requests; test_every_field_with_a_wrong_type_is_422 covers each field
def test_every_field_with_every_wrong_type_is_422(client: Any, recorder: Recorder) -> None:
    """Each documented payload with each field (nested ones too) set to each wrong JSON type."""
    assert _send_wrong_types(client, recorder, WRONG_TYPES) > 600


def test_null_in_any_field(client: Any, recorder: Recorder) -> None:
    """null is "absent": fine for an optional field, 422 for a required one or a list item."""
    for kind, path, _tp in FIELDS:
        response = _send(client, recorder, json.dumps(_replace(load_webhook(kind), path, None)))
        answer = _check(response, recorder)
        if len(path) == 1 and path[0] in REQUIRED_TOP[kind]:
            assert response.status_code == 422, answer
        if isinstance(path[-1], int):  # a null item of ToFull, Headers, Attachments, ...
            assert response.status_code == 422, answer


# -- arbitrary JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "[{}]",
        json.dumps([load_webhook("bounce")]),
        json.dumps([load_webhook(k) for k in KINDS]),
        '"Bounce"',
        "0",
        "true",
        "null",
    ],
)
def test_top_level_non_objects_are_422(client: Any, recorder: Recorder, body: str) -> None:
    answer = _check(_send(client, recorder, body), recorder, expect=422)
    assert answer["error"].startswith("expected a JSON object")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    "template",
    ["{c}", '{{"RecordType": "Bounce", "ID": {c}}}', "[{c}]", '{{"Metadata": {{"a": [{c}]}}}}'],
)
def test_nan_and_infinity_are_not_json(
    client: Any, recorder: Recorder, constant: str, template: str
) -> None:
    body = json.dumps(load_webhook("bounce"))[:-1] + ', "Extra": ' + template.format(c=constant)
    for text in (template.format(c=constant), body + "}"):
        answer = _check(_send(client, recorder, text), recorder, expect=400)
        assert f"{constant.lstrip('-')} is not JSON" in answer["error"]


def test_overflowing_number_is_not_a_crash(client: Any, recorder: Recorder) -> None:
    """1e400 is valid JSON no float can hold: refused like NaN, never an inf for plugins."""
    text = json.dumps({**load_webhook("bounce"), "ID": 0}).replace('"ID": 0', '"ID": 1e400')
    _check(_send(client, recorder, text), recorder, expect=400)
    weird = _send(client, recorder, '{"RecordType": "Weird", "X": -1e400}')
    _check(weird, recorder, expect=400)
    assert "number out of range: -1e400" in weird.get_json()["error"]


def test_duplicate_keys_the_last_one_counts(client: Any, recorder: Recorder) -> None:
    """Python's rule (last wins), applied before any check: a plugin sees what was checked."""
    delivery = load_webhook("delivery")
    body = '{"RecordType": "Bounce", ' + json.dumps(delivery)[1:]
    answer = _check(_send(client, recorder, body), recorder, expect=200)
    assert answer["event"] == "delivery"
    # A valid first value does not smuggle in an invalid last one.
    good_then_bad = json.dumps(delivery)[:-1] + ', "Recipient": 5}'
    _check(_send(client, recorder, good_then_bad), recorder, expect=422)
    bad_then_good = '{"Recipient": 5, ' + json.dumps(delivery)[1:]
    _check(_send(client, recorder, bad_then_good), recorder, expect=200)
    assert recorder.calls[0][1].recipient == delivery["Recipient"]


# -- nesting, size, encoding ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 990, 5_000, 100_000])
@pytest.mark.parametrize("where", ["top", "extra", "metadata", "unknown"])
def test_deep_nesting_is_a_4xx(roomy: Any, recorder: Recorder, depth: int, where: str) -> None:
    """Nested lists and objects (100k deep too): 400 or 422, never a RecursionError's 500."""
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        nested = opener * depth + "1" + closer * depth
        body = {
            "top": nested,
            "extra": json.dumps(load_webhook("bounce"))[:-1] + f', "X": {nested}}}',
            "metadata": json.dumps(load_webhook("bounce"))[:-1] + f', "Metadata": {nested}}}',
            "unknown": '{"RecordType": "Weird", "X": ' + nested + "}",
        }[where]
        response = _send(roomy, recorder, body)
        answer = _check(response, recorder)
        if depth >= 5_000:  # past what the decoder recurses into
            assert response.status_code == 400 and answer["error"] == "JSON nested too deeply"
        elif depth <= 500:  # decoded, then refused by parse_event
            assert response.status_code == 422, answer
        else:
            assert "error" in answer


def test_nesting_up_to_the_limit_is_fine(client: Any, recorder: Recorder) -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    body = '{"RecordType": "Weird", "X": ' + nested + "}"
    _check(_send(client, recorder, body), recorder, expect=200)


@pytest.mark.slow  # big payloads: 20 MB and 1 MB strings
def test_huge_strings(roomy: Any, recorder: Recorder) -> None:
    """Megabytes in one string: accepted where a string goes (the plugin gets it whole)."""
    client = roomy
    huge = "x" * (20 * 1024 * 1024)
    bounce = load_webhook("bounce")
    _check(_send(client, recorder, json.dumps({**bounce, "Content": huge})), recorder, expect=200)
    assert recorder.calls[0][1].content == huge
    _check(_send(client, recorder, json.dumps({**bounce, "ID": huge})), recorder, expect=422)
    _check(_send(client, recorder, json.dumps({huge: 1, **bounce})), recorder, expect=200)
    unknown = json.dumps({"RecordType": "ü" * 1_000_000})
    _check(_send(client, recorder, unknown), recorder, expect=200)
    headers = {"X-PM-Webhook-Trace-Id": "t" * 60_000, "X-PM-Retries-Remaining": "9" * 5000}
    answer = _check(_send(client, recorder, json.dumps(bounce), headers=headers), recorder)
    assert answer["key"] == "trace:" + "t" * 256
    assert recorder.calls[0][3].retries_remaining is None


INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",  # a continuation byte alone
    b"\xc0\xaf",  # overlong "/"
    b"\xe0\x80\xaf",  # overlong, three bytes
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded as UTF-8
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # truncated sequence
    b"\xf8\x88\x80\x80\x80",  # five-byte form
]


@pytest.mark.parametrize("bad", INVALID_UTF8)
def test_invalid_utf8_is_400(client: Any, recorder: Recorder, bad: bytes) -> None:
    body = json.dumps(load_webhook("bounce")).encode()
    inside_a_string = body.replace(b"john@example.com", b"john" + bad + b"@example.com")
    for data in (inside_a_string, bad + body, body + bad):
        answer = _check(_send(client, recorder, data), recorder, expect=400)
        assert answer["error"] == "body is not UTF-8" or "not valid JSON" in answer["error"]


@pytest.mark.parametrize(
    "escape", ["\\ud800", "\\udfff", "\\udc00\\ud800", "x\\ud83d", "\\ud83dx\\ude00"]
)
@pytest.mark.parametrize("where", ["Email", "Subject", "Metadata-key", "extra-key", "RecordType"])
def test_lone_surrogate_escapes_are_422(
    client: Any, recorder: Recorder, escape: str, where: str
) -> None:
    """\\ud800 is valid JSON syntax but not Unicode: no plugin or store could write it."""
    bounce = load_webhook("bounce")
    marker = "@@MARK@@"
    if where == "Metadata-key":
        payload = {**bounce, "Metadata": {marker: "v"}}
    elif where == "extra-key":
        payload = {**bounce, marker: 1}
    elif where == "RecordType":
        payload = {"RecordType": marker, "ID": 1}
    else:
        payload = {**bounce, where: marker}
    body = json.dumps(payload).replace(marker, escape)
    answer = _check(_send(client, recorder, body), recorder, expect=422)
    assert answer["error"] == "a string is not valid Unicode"


def test_surrogate_pairs_are_fine(client: Any, recorder: Recorder) -> None:
    body = json.dumps({**load_webhook("bounce"), "Subject": "\U0001f600"})  # escaped as a pair
    assert "\\ud83d\\ude00" in body
    _check(_send(client, recorder, body), recorder, expect=200)
    assert recorder.calls[0][1].subject == "\U0001f600"


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]
)
def test_boms_and_other_encodings_are_400(client: Any, recorder: Recorder, encoding: str) -> None:
    """JSON on the wire is UTF-8 without a BOM (RFC 8259); anything else is refused, not guessed."""
    data = json.dumps(load_webhook("bounce")).encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        data = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + data
    for content_type in ("application/json", f"application/json; charset={encoding}"):
        _check(_send(client, recorder, data, content_type=content_type), recorder, expect=400)


# -- content types --------------------------------------------------------------------------------

CONTENT_TYPES = {
    "application/json": 200,
    "APPLICATION/JSON": 200,
    "application/json; charset=utf-8": 200,
    "application/json;charset=UTF-8; boundary=x": 200,
    "application/vnd.postmark+json": 200,
    "application/problem+json": 200,
    "text/json": 415,
    "text/plain": 415,
    "text/html; charset=utf-8": 415,
    "application/x-www-form-urlencoded": 415,
    "multipart/form-data; boundary=----x": 415,
    "application/jsonx": 415,
    "application/json-patch": 415,
    "json": 415,
    "application/": 415,
    "/json": 415,
    ";;;": 415,
    "application/xml": 415,
    "application/octet-stream": 415,
    "": 415,
}


@pytest.mark.parametrize(("content_type", "status"), CONTENT_TYPES.items())
def test_content_types(client: Any, recorder: Recorder, content_type: str, status: int) -> None:
    body = json.dumps(load_webhook("bounce"))
    _check(_send(client, recorder, body, content_type=content_type), recorder, expect=status)


def test_no_content_type_header_at_all(client: Any, recorder: Recorder) -> None:
    body = json.dumps(load_webhook("bounce"))
    response = _send(client, recorder, body, content_type=None)
    assert "CONTENT_TYPE" not in response.request.environ
    answer = _check(response, recorder, expect=415)
    assert answer["error"].endswith("got none")


# -- size limits ----------------------------------------------------------------------------------


def test_content_length_over_the_limit_is_413(client: Any, recorder: Recorder) -> None:
    body = json.dumps({**load_webhook("bounce"), "Content": "x" * LIMIT})
    answer = _check(_send(client, recorder, body), recorder, expect=413)
    assert answer["error"] == f"body over the {LIMIT}-byte limit"


def test_body_exactly_at_the_limit_passes(client: Any, recorder: Recorder) -> None:
    body = json.dumps(load_webhook("bounce"))
    body = body[:-1] + ', "Pad": "' + "x" * (LIMIT - len(body) - 11) + '"}'
    assert len(body) == LIMIT
    _check(_send(client, recorder, body), recorder, expect=200)
    _check(_send(client, recorder, body[:-1] + " }"), recorder, expect=413)


# -- a real WSGI server: framing the test client cannot produce ----------------------------------


@pytest.fixture(scope="module")
def live(
    apps: list[Flask], tmp_path_factory: pytest.TempPathFactory, recorder: Recorder
) -> Iterator[int]:
    """The receiver under werkzeug's threaded server on 127.0.0.1; stopped after the module."""
    app = _shared(apps, tmp_path_factory, recorder, POSTMARK_MAX_BODY_BYTES=4096)
    with serve_wsgi(app) as port:
        yield port


@contextmanager
def _connection(port: int) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        yield sock
    finally:
        sock.close()


def _raw(
    port: int, recorder: Recorder, headers: str, *parts: bytes, half_close: bool = False
) -> tuple[int, str]:
    """Send a hand-framed request; the status and body of the answer."""
    global INPUTS
    INPUTS += 1
    recorder.calls.clear()
    import base64

    token = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    head = (
        "POST /postmark/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
        f"X-PM-Webhook-Trace-Id: raw-{next(_TRACE)}\r\n{headers}\r\n"
    )
    with _connection(port) as sock:
        sock.sendall(head.encode())
        for part in parts:
            sock.sendall(part)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode()


def _live_check(
    status: int, text: str, recorder: Recorder, expect: int, reason: str | None = None
) -> None:
    assert status == expect, text
    assert "Traceback" not in text
    if status >= 400:
        assert recorder.calls == []
        assert reason is None or reason in json.loads(text)["error"]
    else:
        assert text == ""  # accepted: the facts are in headers
        _called_once(recorder, "bounce")  # every live test that succeeds posts a bounce
    recorder.calls.clear()


def _chunks(data: bytes, size: int = 1000) -> list[bytes]:
    out = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
        for i in range(0, len(data), size)
    ]
    return [*out, b"0\r\n\r\n"]


BOUNCE_BYTES = json.dumps(load_webhook("bounce")).encode()


def test_live_chunked_body_over_the_limit_is_413(live: int, recorder: Recorder) -> None:
    """No Content-Length to trust: the body is read up to the limit and refused there."""
    big = json.dumps({**load_webhook("bounce"), "Content": "x" * 20_000}).encode()
    status, text = _raw(live, recorder, "Transfer-Encoding: chunked\r\n", *_chunks(big))
    _live_check(status, text, recorder, 413, "over the 4096-byte limit")
    # The same framing under the limit is an ordinary event.
    status, text = _raw(
        live, recorder, "Transfer-Encoding: chunked\r\n", *_chunks(BOUNCE_BYTES, 100)
    )
    _live_check(status, text, recorder, 200)


def test_live_declared_huge_content_length_is_refused_unread(live: int, recorder: Recorder) -> None:
    """A terabyte announced, nothing sent: the 413 comes at once (the socket timeout is 10 s)."""
    status, text = _raw(live, recorder, f"Content-Length: {10**12}\r\n")
    _live_check(status, text, recorder, 413, "limit")


@pytest.mark.parametrize(
    ("headers", "parts", "reason"),
    [
        ("Transfer-Encoding: chunked\r\n", [b"zz\r\nabc\r\n0\r\n\r\n"], "could not be read"),
        ("Transfer-Encoding: chunked\r\n", [b"5\r\nabcdefgh\r\n0\r\n\r\n"], "could not be read"),
        ("Transfer-Encoding: chunked\r\n", [b"5\r\nab"], None),  # cut short
        ("Transfer-Encoding: chunked\r\n", [b"f" * 40 + b"\r\nabc"], "limit"),
        ("Content-Length: 1000\r\n", [BOUNCE_BYTES[:10]], "not valid JSON"),  # cut short
        ("Content-Length: abc\r\n", [BOUNCE_BYTES], None),
        ("Content-Length: -5\r\n", [BOUNCE_BYTES], None),
        ("Content-Length: 10\r\n", [BOUNCE_BYTES], "not valid JSON"),  # fewer than sent
        ("Transfer-Encoding: gzip\r\n", [BOUNCE_BYTES], None),
    ],
)
def test_live_broken_framing_is_a_4xx(
    live: int, recorder: Recorder, headers: str, parts: list[bytes], reason: str | None
) -> None:
    status, text = _raw(live, recorder, headers, *parts, half_close=True)
    _live_check(status, text, recorder, 413 if reason == "limit" else 400, reason)
    # The server is still serving.
    status, text = _raw(live, recorder, f"Content-Length: {len(BOUNCE_BYTES)}\r\n", BOUNCE_BYTES)
    _live_check(status, text, recorder, 200)


# -- per-type endpoints and Postmark's headers ---------------------------------------------------


def test_unknown_event_is_passed_on_once(client: Any, recorder: Recorder) -> None:
    """A RecordType this version does not know still reaches postmark_event, exactly once."""
    answer = _check(_send(client, recorder, '{"RecordType": "Weird"}'), recorder, expect=200)
    assert answer["event"] == "unknown"
    assert isinstance(recorder.calls[0][1], UnknownEvent)
