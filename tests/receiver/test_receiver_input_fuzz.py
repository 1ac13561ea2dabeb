"""Arbitrary values in the fields a model reads: never a 500 (Hypothesis, 150 examples).

Slow, like every ``*_fuzz.py``: the inner loop does not even import these
(tests/conftest.py); test_receiver_hostile.py checks each field in it.
"""

# Fixtures are imported (a conftest.py here would shadow tests/conftest.py),
# so using them as test parameters "redefines" the imported names.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import load_webhook
from tests.receiver._receiver_support import Recorder, clean_env, make_app, post, store_path  # noqa: F401
from tests.receiver.test_receiver_input import (  # noqa: F401
    client,
    recorder,
    shared_app,
    shared_recorder,
)

pytestmark = pytest.mark.slow


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(
        ["bounce", "delivery", "open", "click", "spam_complaint", "subscription_change", "inbound"]
    ),
    replacements=st.dictionaries(
        st.sampled_from(
            [
                "ID",
                "Type",
                "TypeCode",
                "Email",
                "BouncedAt",
                "MessageID",
                "Recipient",
                "DeliveredAt",
                "ReceivedAt",
                "Geo",
                "Client",
                "Metadata",
                "FromFull",
                "ToFull",
                "Headers",
                "Attachments",
                "SuppressSending",
                "ChangedAt",
                "FirstOpen",
                "RecordType",
                "ServerID",
            ]
        ),
        json_values,
        max_size=4,
    ),
)
def test_wrong_values_in_any_field_are_never_a_500(
    client: Any, recorder: Recorder, name: str, replacements: dict[str, Any]
) -> None:
    """Arbitrary values in the fields a model reads: 200 (valid) or a 4xx; never a 5xx."""
    recorder.calls.clear()
    response = post(client, {**load_webhook(name), **replacements})
    assert response.status_code in (200, 400, 413, 422), response.get_data(as_text=True)
    if response.status_code != 200:
        assert recorder.calls == []
