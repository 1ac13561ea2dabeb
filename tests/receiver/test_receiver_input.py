"""Bad bodies get a 4xx with a one-line reason; no plugin ever sees them.

Arbitrary values in every field are fuzzed in test_receiver_input_fuzz.py.
"""

# Fixtures are imported from _receiver_support (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import load_webhook
from tests.receiver._receiver_support import (  # noqa: F401
    Recorder,
    clean_env,
    post,
    recorder,
    shared_app,
    shared_recorder,
)

BOUNCE = load_webhook("bounce")


@pytest.fixture
def client(shared_app: Any, recorder: Recorder) -> Any:
    return shared_app({"POSTMARK_MAX_BODY_BYTES": 4096}, recorded=True).test_client()


def _check(response: Any, status: int, reason: str, recorder: Recorder) -> None:
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert text.count("\n") == 1 and "Traceback" not in text
    assert reason in response.get_json()["error"]
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ("not json", 400, "not valid JSON"),
        ("", 400, "not valid JSON"),
        ('{"RecordType": "Bounce",', 400, "not valid JSON"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        ('{"ID": NaN}', 400, "not valid JSON"),
        ("[]", 422, "expected a JSON object, got array"),
        ('"Bounce"', 422, "expected a JSON object, got string"),
        ("null", 422, "expected a JSON object, got null"),
        ("{}", 422, "missing RecordType"),
        ('{"RecordType": "Delivery"}', 422, "missing required field MessageID"),
        ("[" * 5000 + "]" * 5000, 413, "limit"),
    ],
)
def test_bad_bodies(client: Any, recorder: Recorder, body: Any, status: int, reason: str) -> None:
    _check(post(client, body), status, reason, recorder)


def test_deep_nesting_under_the_limit(shared_app: Any, recorder: Recorder) -> None:
    client = shared_app(recorded=True).test_client()
    _check(post(client, "[" * 100_000 + "]" * 100_000), 400, "nested too deeply", recorder)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("ID", "4323372036854775807", "ID must be an integer, got string"),
        ("ID", True, "ID must be an integer, got boolean"),
        ("Email", ["john@example.com"], "Email must be a string, got array"),
        ("BouncedAt", 1573000000, "BouncedAt must be a timestamp string, got number"),
        ("Metadata", "a=b", "Metadata must be an object"),
        ("TypeCode", "1", "TypeCode must be an integer"),
        ("Type", None, "missing required field Type"),
    ],
)
def test_wrong_field_types_are_422(
    client: Any, recorder: Recorder, field: str, value: Any, reason: str
) -> None:
    _check(post(client, {**BOUNCE, field: value}), 422, reason, recorder)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
def test_wrong_content_type_is_415(client: Any, recorder: Recorder, content_type: str) -> None:
    response = post(client, BOUNCE, content_type=content_type)
    _check(response, 415, "expected Content-Type application/json", recorder)


def test_json_with_charset_is_fine(client: Any, recorder: Recorder) -> None:
    response = post(client, BOUNCE, content_type="application/json; charset=utf-8")
    assert response.status_code == 200 and len(recorder.calls) == 2


def test_over_the_size_limit_is_413(client: Any, recorder: Recorder) -> None:
    payload = {**BOUNCE, "Content": "x" * 5000}
    _check(post(client, payload), 413, "over the 4096-byte limit", recorder)


def test_size_limit_without_content_length(client: Any, recorder: Recorder) -> None:
    """A chunked body (no Content-Length) is cut at the limit too."""
    body = json.dumps({**BOUNCE, "Content": "x" * 5000}).encode()
    response = client.post(
        "/postmark/webhook",
        input_stream=__import__("io").BytesIO(body),
        content_type="application/json",
        auth=("postmark", "s3cret-pass"),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    _check(response, 413, "limit", recorder)


def test_get_is_405(client: Any, recorder: Recorder) -> None:
    _check(client.get("/postmark/webhook"), 405, "not allowed", recorder)


def test_standalone_app_answers_json_outside_the_webhook_too(
    client: Any, recorder: Recorder
) -> None:
    _check(client.get("/nothing/here"), 404, "not found", recorder)
    _check(post(client, BOUNCE, url="/postmark/webhook/bounce/x"), 404, "not found", recorder)


def test_unknown_per_type_endpoint_is_404(client: Any, recorder: Recorder) -> None:
    _check(
        post(client, BOUNCE, url="/postmark/webhook/bounces"), 404, "no webhook endpoint", recorder
    )


def test_health(client: Any) -> None:
    answer = client.get("/postmark/health")
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True, "mode": "inline"}
