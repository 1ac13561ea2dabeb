"""Batch size hints fuzzed: ``_size_hints`` adds up ``_size_hint`` (Hypothesis, 200 examples).

Slow, like every ``*_fuzz.py``: the inner loop does not even import these
(tests/conftest.py), and test_email_batch_checks.py keeps the examples.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmark_kit import Attachment, Email, TemplatedEmail
from postmark_kit.api.email import _size_hint, _size_hints
from tests.api.test_email_batch_checks import _templated

pytestmark = pytest.mark.slow


_texts = st.one_of(st.none(), st.text(max_size=30))


@st.composite
def _messages(draw: st.DrawFn) -> Email | TemplatedEmail:
    attachments = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.builds(Attachment, name=st.just("a"), content=_texts, content_type=st.none()),
                max_size=3,
            ),
        )
    )
    if draw(st.booleans()):
        return _templated(template_alias="t", attachments=attachments)
    return Email(
        html_body=draw(_texts), text_body=draw(_texts), attachments=attachments, from_email="s"
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_messages(), max_size=8))
def test_size_hints_add_up_the_per_message_hints(messages) -> None:
    assert _size_hints(messages) == sum(map(_size_hint, messages))
