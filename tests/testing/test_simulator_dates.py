"""The simulator reads a date without an offset as Postmark does: in US Eastern time."""

from __future__ import annotations

from datetime import datetime, timedelta

from postmark_kit import Email, ServerClient
from postmark_kit.pagination import POSTMARK_TZ
from postmark_kit.testing import FakePostmark


def test_naive_dates_are_us_eastern_and_a_concurrent_walk_gets_everything() -> None:
    with FakePostmark() as fake, ServerClient(fake.server_token, base_url=fake.base_url) as c:
        emails = [
            Email(from_email=fake.sender_email, to=f"u{i}@example.com", subject="s", text_body="t")
            for i in range(200)
        ]
        c.email.send_batch(emails)
        eastern_now = datetime.now(POSTMARK_TZ).replace(tzinfo=None, microsecond=0)
        later = eastern_now + timedelta(minutes=1)
        earlier = eastern_now - timedelta(hours=1)
        assert c.outbound.list(count=1, to_date=later).total == 200
        assert c.outbound.list(count=1, to_date=earlier).total == 0
        assert c.outbound.list(count=1, from_date=earlier).total == 200
        # The concurrent walk freezes its window at a naive Eastern time after its first
        # page: all 200 come back, over 4 pages fetched 4 at a time.
        walk = c.outbound.stream(concurrency=4, page_size=50)
        assert len({m.message_id for m in walk}) == 200
