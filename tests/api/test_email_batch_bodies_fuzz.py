"""Batch bodies fuzzed: whatever the sizes, the greedy split exactly (Hypothesis, 150 examples).

Slow, like every ``*_fuzz.py``: the inner loop does not even import these
(tests/conftest.py), and test_email_batch_bodies.py keeps the examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmark_kit import Email
from postmark_kit.api.email import _bodies
from tests.api.test_email_batch_bodies import _email, _greedy

pytestmark = pytest.mark.slow


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), max_size=40),
    chunk_size=st.integers(1, 8),
    max_bytes=st.integers(700, 2500),  # every message fits alone (at most ~680 bytes)
    as_tuple=st.booleans(),
)
def test_bodies_equal_the_greedy_split(
    sizes: list[int], chunk_size: int, max_bytes: int, as_tuple: bool
) -> None:
    emails = [_email(i, n) for i, n in enumerate(sizes)]
    expected = _greedy(emails, chunk_size, max_bytes)
    lazy: Iterator[Email] = iter(emails)
    assert list(_bodies(lazy, chunk_size, max_bytes)) == expected
    sequence = tuple(emails) if as_tuple else emails
    got = list(_bodies(sequence, chunk_size, max_bytes, check=False))
    assert got == expected
    assert sum(n for _, n in got) == len(emails)
    for body, n in got:
        assert len(json.loads(body)) == n
