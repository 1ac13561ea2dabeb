"""Arbitrary Authorization headers and credentials: only the configured ones pass (Hypothesis).

Slow, like every ``*_fuzz.py``: the inner loop does not even import these
(tests/conftest.py); test_receiver_auth.py keeps the header and credential tests.
"""

# Fixtures are imported (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.receiver._receiver_support import AUTH, Recorder, clean_env, make_app, post, store_path  # noqa: F401
from tests.receiver.test_receiver_auth import BOUNCE, _b64, _refused

pytestmark = pytest.mark.slow


@pytest.fixture
def guarded(make_app: Any) -> tuple[Any, Recorder]:
    """One app for every example of a property test (an app per example was most of its time)."""
    recorder = Recorder()
    return make_app(plugins=[recorder]).test_client(), recorder


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
    | st.builds(lambda raw: "Basic " + _b64(raw), st.binary(max_size=40))
)
def test_arbitrary_authorization_headers(guarded: tuple[Any, Recorder], header: str) -> None:
    """Whatever the header holds, only the configured credentials get past: 401, never a 5xx."""
    client, recorder = guarded
    recorder.calls.clear()
    response = post(client, BOUNCE, auth=None, headers={"Authorization": header})
    _refused(response, recorder)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=st.text(max_size=12), password=st.text(max_size=12))
def test_arbitrary_credentials(guarded: tuple[Any, Recorder], user: str, password: str) -> None:
    client, recorder = guarded
    recorder.calls.clear()
    token = _b64(f"{user}:{password}".encode("utf-8", "surrogatepass"))
    response = post(client, BOUNCE, auth=None, headers={"Authorization": f"Basic {token}"})
    if (user, password) == AUTH:
        assert response.status_code == 200
    else:
        _refused(response, recorder)
