"""Pages and lazy streams over Postmark's count/offset endpoints.

Postmark pages with ``count`` (<= 500) and ``offset``, and for message and
bounce searches refuses ``count + offset > 10,000``.  :func:`paginate` walks
any paginated endpoint lazily, one page in memory at a time.  When the endpoint
takes a date filter, it walks *past* the 10,000 window: results come newest
first, so once the window is used up it narrows ``todate`` to the oldest
timestamp seen, restarts at offset 0 and skips the records it already yielded
at that boundary timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

import attrs

from .errors import ClientValidationError

__all__ = ["MAX_COUNT", "MAX_WINDOW", "Page", "check_window", "format_date", "paginate"]

T = TypeVar("T")

MAX_COUNT = 500
MAX_WINDOW = 10_000

#: Postmark evaluates date filters in US Eastern time.
POSTMARK_TZ = ZoneInfo("America/New_York")


@attrs.define(frozen=True)
class Page(Generic[T]):
    """One page of a paginated list: ``total`` matches, ``items`` on this page."""

    total: int
    items: list[T]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def check_window(count: int, offset: int, *, max_window: int | None = MAX_WINDOW) -> None:
    """Refuse, before sending, a page Postmark would refuse."""
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ClientValidationError(f"count must be between 1 and {MAX_COUNT}, got {count!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ClientValidationError(f"offset must be >= 0, got {offset!r}")
    if max_window is not None and count + offset > max_window:
        raise ClientValidationError(
            f"count + offset must not exceed {max_window} (got {count + offset}); "
            "narrow the search with from_date/to_date, or use stream(), which does so for you"
        )


def format_date(value: date | datetime | str, *, with_time: bool = True) -> str:
    """A ``fromdate``/``todate`` value as Postmark reads it.

    ``date`` -> ``YYYY-MM-DD``; ``datetime`` -> ``YYYY-MM-DDTHH:MM:SS`` in
    Postmark's time zone (aware values are converted; naive ones sent as given).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(POSTMARK_TZ)
        if not with_time:
            return value.date().isoformat()
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    return value.isoformat()


#: fetch(count, offset, to_date) -> Page
Fetch = Callable[[int, int, datetime | None], Page[T]]


def paginate(
    fetch: Fetch[T],
    *,
    page_size: int = MAX_COUNT,
    max_items: int | None = None,
    max_window: int | None = MAX_WINDOW,
    timestamp: Callable[[T], datetime | None] | None = None,
    key: Callable[[T], Hashable] | None = None,
    to_date: datetime | None = None,
    approximate: timedelta | None = None,
) -> Iterator[T]:
    """Yield every item ``fetch`` can reach, lazily.

    With ``timestamp`` and ``key`` given (endpoints with a date filter), the
    walk continues past ``max_window`` by narrowing ``to_date``.

    ``approximate`` is for timestamps that only follow Postmark's order
    roughly (inbound mail's sender-set ``Date`` header, which can be forged or
    late): the narrowing then goes to the median timestamp of the window's
    last page plus this margin, so one outlier can't cut the walk short, and
    every record of the previous two windows is skipped when it comes back.
    """
    check_window(page_size, 0, max_window=None)
    if max_items is not None and max_items <= 0:
        return
    yielded = 0
    offset = 0
    # Keys yielded in the two oldest seconds seen so far: after narrowing
    # todate to one second past the oldest, these come back and are skipped.
    oldest: datetime | None = None
    oldest_keys: set[Hashable] = set()
    previous_keys: set[Hashable] = set()
    skip: set[Hashable] = set()
    # Keys of the previous page: mail that arrives while the walk runs pushes
    # records to later offsets, so the next page starts with some already seen.
    previous_page: set[Hashable] = set()
    # approximate: every key of this window, and the last page's timestamps.
    window_keys: set[Hashable] = set()
    last_window_keys: set[Hashable] = set()
    new_in_window = 0
    page_times: list[datetime] = []
    while True:
        count = page_size
        if max_window is not None:
            count = min(count, max_window - offset)
        if max_items is not None:
            count = max(1, min(count, max_items - yielded + len(skip)))
        page = fetch(count, offset, to_date)
        if not page.items:
            return
        new_in_page = 0
        this_page: set[Hashable] = set()
        if approximate is not None and timestamp is not None:
            page_times = [t for t in map(timestamp, page.items) if t is not None]
        for item in page.items:
            if timestamp is not None and key is not None:
                k = key(item)
                if k in skip or k in previous_page or k in this_page:
                    continue
                this_page.add(k)
                if approximate is not None:
                    window_keys.add(k)
                ts = timestamp(item)
                if ts is not None:
                    second = ts.replace(microsecond=0)
                    if second != oldest:
                        oldest = second
                        previous_keys, oldest_keys = oldest_keys, set()
                    oldest_keys.add(k)
            new_in_page += 1
            new_in_window += 1
            yield item
            yielded += 1
            if max_items is not None and yielded >= max_items:
                return
        previous_page = this_page
        offset += len(page.items)
        if offset >= page.total:
            return
        if max_window is not None and offset >= max_window:
            if approximate is not None and timestamp is not None and key is not None:
                if not page_times or new_in_window == 0:
                    return
                page_times.sort()
                narrowed = page_times[len(page_times) // 2].replace(microsecond=0) + approximate
                if to_date is not None and narrowed >= to_date:
                    return  # no narrower window to ask for: Postmark offers no way further
                # The last two windows: more than a window of mail in the margin
                # would otherwise bring the one before back too.
                to_date, skip = narrowed, window_keys | last_window_keys
                last_window_keys = window_keys
                window_keys, new_in_window, previous_page, offset = set(), 0, set(), 0
                continue
            if timestamp is None or key is None or oldest is None or new_in_page == 0:
                # No date to narrow by, or one second holds more than a whole
                # window: Postmark offers no way further.
                return
            to_date = oldest + timedelta(seconds=1)
            skip = oldest_keys | previous_keys
            offset = 0
