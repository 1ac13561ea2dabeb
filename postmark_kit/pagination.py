"""Pages and lazy streams over Postmark's count/offset endpoints.

Postmark pages with ``count`` (<= 500) and ``offset``, and for message and
bounce searches refuses ``count + offset > 10,000``.  :func:`paginate` walks
any paginated endpoint lazily, one page in memory at a time.  When the endpoint
takes a date filter, it walks *past* the 10,000 window: results come newest
first, so once the window is used up it narrows ``todate`` to the oldest
timestamp seen, restarts at offset 0 and skips the records it already yielded
at that boundary timestamp.

With ``concurrency=N`` (N > 1) up to N pages are fetched ahead on N pooled
connections, and items still come out in order.  The first page is fetched
alone; the window's upper bound is then frozen (``todate`` set to the newest
record's second), so mail arriving during the walk cannot shift offsets under
pages fetched out of order.  The window's last page, which gives the next
window's bound, is fetched first, so the next window starts before this one
is drained.  The walk itself (what is fetched, what is skipped) is the
sequential one: a page fetched ahead is used only when the walk asks for
exactly it, otherwise it is fetched then and there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import attrs

from .concurrency import Limit, Throttle, check_concurrency
from .errors import ClientValidationError

__all__ = [
    "MAX_COUNT",
    "MAX_WINDOW",
    "Page",
    "PageStream",
    "check_window",
    "earlier_to_date",
    "format_date",
    "paginate",
]

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


def earlier_to_date(
    given: date | datetime | None, narrowed: datetime | None
) -> date | datetime | None:
    """The ``todate`` to send: the walk's ``narrowed`` bound unless the caller's is earlier."""
    if narrowed is None or given is None:
        return narrowed if narrowed is not None else given
    mine = narrowed.astimezone(POSTMARK_TZ) if narrowed.tzinfo else narrowed
    if isinstance(given, datetime):
        theirs = given.astimezone(POSTMARK_TZ) if given.tzinfo else given
        return given if theirs.replace(tzinfo=None) < mine.replace(tzinfo=None) else narrowed
    # A bare date means through that whole day.
    return given if given < mine.date() else narrowed


#: fetch(count, offset, to_date) -> Page
Fetch = Callable[[int, int, datetime | None], Page[T]]


def _newest_bound(
    page: Page[T], timestamp: Callable[[T], datetime | None], approximate: timedelta | None
) -> datetime | None:
    """The frozen upper bound of a walk: one second past the newest record of its first page."""
    times = [t for t in map(timestamp, page.items) if t is not None]
    if not times:
        return None
    return max(times).replace(microsecond=0) + (approximate or timedelta()) + timedelta(seconds=1)


def _next_bound(
    page: Page[T],
    timestamp: Callable[[T], datetime | None],
    approximate: timedelta | None,
    to_date: datetime | None,
) -> datetime | None:
    """The ``todate`` of the window after the one ``page`` ends, as the walk will compute it."""
    times = [t for t in map(timestamp, page.items) if t is not None]
    if not times:
        return None
    if approximate is not None:
        times.sort()
        narrowed = times[len(times) // 2].replace(microsecond=0) + approximate
        return None if to_date is not None and narrowed >= to_date else narrowed
    return times[-1].replace(microsecond=0) + timedelta(seconds=1)


class _Window:
    """The pages of one window the prefetcher plans to fetch (offset 0 already fetched)."""

    def __init__(self, to_date: datetime | None, offsets: list[tuple[int, int]], full: bool):
        self.to_date = to_date
        #: (offset, count) still to submit, in walk order; a full window's last goes first.
        self.todo = deque(offsets)
        if full and len(offsets) > 1:
            self.todo.appendleft(self.todo.pop())
        self.last: Future[Any] | None = None
        self.full = full and bool(offsets)
        self.last_offset = offsets[-1][0] if offsets else None


class _Prefetcher(Generic[T]):
    """Fetches the pages a walk will ask for, up to N at a time, on worker threads.

    ``get`` is called by the walk for each page in order; it answers from a
    page fetched ahead when one matches exactly, else fetches directly.
    """

    def __init__(
        self,
        fetch: Fetch[T],
        concurrency: int,
        throttle: Throttle | None,
        *,
        page_size: int,
        max_window: int | None,
        max_items: int | None,
        timestamp: Callable[[T], datetime | None] | None,
        dated: bool,
        approximate: timedelta | None,
    ) -> None:
        self._fetch = fetch
        self._limit = Limit(concurrency, throttle)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="postmark-kit-page")
        self._page_size = page_size
        self._max_window = max_window
        self._budget = None if max_items is None else max_items + page_size
        self._requested = 0
        self._timestamp = timestamp
        self._dated = dated
        self._approximate = approximate
        #: (offset, to_date) -> (count, future): fetched ahead, not yet asked for.
        self._ahead: dict[tuple[int, datetime | None], tuple[int, Future[Page[T]]]] = {}
        self._windows: deque[_Window] = deque()
        #: The next window's first page, fetched once the last page gave its bound.
        self._next_first: tuple[datetime, Future[Page[T]]] | None = None
        self._first_call = True
        #: TotalCount of the page the walk got last.
        self._total = 0

    def close(self) -> None:
        for _count, future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def freeze(self, page: Page[T], to_date: datetime | None) -> datetime | None:
        """The bound the walk holds its first window to (``None``: leave it open)."""
        if not self._dated or self._timestamp is None:
            return to_date
        bound = _newest_bound(page, self._timestamp, self._approximate)
        if bound is None or (to_date is not None and bound >= to_date):
            return to_date
        return bound

    def get(self, count: int, offset: int, to_date: datetime | None) -> Page[T]:
        first_call, self._first_call = self._first_call, False
        entry = self._ahead.pop((offset, to_date), None)
        self._drop_stale(offset, to_date)
        if entry is not None and entry[0] >= count:
            future = entry[1]
            while not future.done():
                pending = [f for _c, f in self._ahead.values() if not f.done()] + [future]
                wait(pending, return_when=FIRST_COMPLETED)
                self._fill()
            page = future.result()
            if len(page.items) > count:
                page = Page(total=page.total, items=page.items[:count])
            if offset and page.total != self._total:
                # Mail came into the frozen window (in its newest second)
                # between this page's fetch and the previous one's: offsets
                # moved, so this page may not join the previous one.  Asked
                # for now, it can only repeat records (dropped by the walk).
                self._requested += count
                page = self._fetch(count, offset, to_date)
        else:
            if entry is not None:
                entry[1].cancel()
            self._requested += count
            page = self._fetch(count, offset, to_date)
        self._total = page.total
        if self._next_first is not None and self._next_first[0] == to_date and offset == 0:
            self._next_first = None
        if offset == 0 and not any(w.to_date == to_date for w in self._windows):
            # A window's first page: plan the rest of it.
            bound = self.freeze(page, to_date) if first_call else to_date
            self._plan(bound, page)
        self._fill()
        return page

    def _drop_stale(self, offset: int, to_date: datetime | None) -> None:
        """Forget windows before the one asked for, and its pages before ``offset``."""
        while self._windows and self._windows[0].to_date != to_date:
            if not any(w.to_date == to_date for w in self._windows):
                break
            self._windows.popleft()
        live = {w.to_date for w in self._windows}
        if self._next_first is not None:
            live.add(self._next_first[0])
        for k in list(self._ahead):
            k_offset, k_to = k
            if k_to not in live or (k_to == to_date and k_offset < offset):
                self._ahead.pop(k)[1].cancel()

    def _plan(self, to_date: datetime | None, first: Page[T]) -> None:
        ps, mw = self._page_size, self._max_window
        end = first.total if mw is None else min(first.total, mw)
        offsets = []
        o = len(first.items)
        if len(first.items) >= ps:
            while o < end:
                offsets.append((o, ps if mw is None else min(ps, mw - o)))
                o += ps
        full = self._dated and mw is not None and first.total > mw and o >= mw
        self._windows.append(_Window(to_date, offsets, full))

    def _submit(self, count: int, offset: int, to_date: datetime | None) -> Future[Page[T]]:
        self._requested += count
        future = self._pool.submit(self._fetch, count, offset, to_date)
        self._ahead[(offset, to_date)] = (count, future)
        return future

    def _in_budget(self) -> bool:
        return self._budget is None or self._requested < self._budget

    def _fill(self) -> None:
        while len(self._ahead) < self._limit.current() and self._in_budget():
            if not self._submit_one():
                return

    def _submit_one(self) -> bool:
        for window in self._windows:
            if window.todo:
                offset, count = window.todo.popleft()
                future = self._submit(count, offset, window.to_date)
                if offset == window.last_offset:
                    window.last = future
                return True
        if not self._windows:
            return False
        tail = self._windows[-1]
        if self._next_first is not None:
            first_bound, future = self._next_first
            if not future.done() or future.exception() is not None:
                return False
            self._next_first = None
            self._plan(first_bound, future.result())
            return True
        last = tail.last
        if (
            not tail.full
            or last is None
            or not last.done()
            or last.exception() is not None
            or self._timestamp is None
        ):
            return False
        bound = _next_bound(last.result(), self._timestamp, self._approximate, tail.to_date)
        tail.full = False  # its successor is on its way
        if bound is None:
            return False
        count = (
            self._page_size if self._max_window is None else min(self._page_size, self._max_window)
        )
        self._next_first = (bound, self._submit(count, 0, bound))
        return True


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
    concurrency: int = 1,
    throttle: Throttle | None = None,
) -> PageStream[T]:
    """Yield every item ``fetch`` can reach, lazily.

    With ``timestamp`` and ``key`` given (endpoints with a date filter), the
    walk continues past ``max_window`` by narrowing ``to_date``.

    ``approximate`` is for timestamps that only follow Postmark's order
    roughly (inbound mail's sender-set ``Date`` header, which can be forged or
    late): the narrowing then goes to the median timestamp of the window's
    last page plus this margin, so one outlier can't cut the walk short, and
    every record of the previous two windows is skipped when it comes back.

    ``concurrency`` > 1 fetches up to that many pages ahead (see the module
    docstring); ``throttle`` is the client's, so a 429 slows this walk down.
    """
    check_concurrency(concurrency)
    stream: PageStream[T] = PageStream()
    stream._pages = _pages(
        fetch,
        page_size=page_size,
        max_items=max_items,
        max_window=max_window,
        timestamp=timestamp,
        key=key,
        to_date=to_date,
        approximate=approximate,
        concurrency=concurrency,
        throttle=throttle,
        stream=stream,
    )
    return stream


class PageStream(Iterator[T]):
    """The items of a walk, lazily; also page by page (:meth:`pages`).

    ``total`` is the ``TotalCount`` of the first page (``None`` until it is
    fetched): the number of matches when the walk started, with no extra call.
    """

    def __init__(self) -> None:
        self.total: int | None = None
        self._pages: Iterator[list[T]] = iter(())
        self._current: Iterator[T] = iter(())

    def __iter__(self) -> PageStream[T]:
        return self

    def __next__(self) -> T:
        while True:
            for item in self._current:
                return item
            self._current = iter(next(self._pages))

    def pages(self) -> Iterator[list[T]]:
        """The rest of the walk as one list per page fetched (its new items, in order)."""
        rest = list(self._current)
        if rest:
            yield rest
        yield from self._pages

    def close(self) -> None:
        """Stop the walk: pages fetched ahead are dropped, their threads let go."""
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()


def _pages(
    fetch: Fetch[T],
    *,
    page_size: int,
    max_items: int | None,
    max_window: int | None,
    timestamp: Callable[[T], datetime | None] | None,
    key: Callable[[T], Hashable] | None,
    to_date: datetime | None,
    approximate: timedelta | None,
    concurrency: int,
    throttle: Throttle | None,
    stream: PageStream[T],
) -> Iterator[list[T]]:
    check_window(page_size, 0, max_window=None)
    if max_items is not None and max_items <= 0:
        return
    ahead: _Prefetcher[T] | None = None
    if concurrency > 1 and (max_items is None or max_items > page_size):
        ahead = _Prefetcher(
            fetch,
            concurrency,
            throttle,
            page_size=page_size,
            max_window=max_window,
            max_items=max_items,
            timestamp=timestamp,
            dated=timestamp is not None and key is not None,
            approximate=approximate,
        )
        fetch = ahead.get
    try:
        yield from _walk(
            fetch,
            ahead,
            page_size,
            max_items,
            max_window,
            timestamp,
            key,
            to_date,
            approximate,
            stream,
        )
    finally:
        if ahead is not None:
            ahead.close()


def _walk(
    fetch: Fetch[T],
    ahead: _Prefetcher[T] | None,
    page_size: int,
    max_items: int | None,
    max_window: int | None,
    timestamp: Callable[[T], datetime | None] | None,
    key: Callable[[T], Hashable] | None,
    to_date: datetime | None,
    approximate: timedelta | None,
    stream: PageStream[T],
) -> Iterator[list[T]]:
    """The walk itself, one page after another (``fetch`` may answer from pages fetched ahead).

    Yields the new items of each page (a page of duplicates yields nothing).
    """
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
        if stream.total is None:
            stream.total = page.total
        if not page.items:
            return
        if ahead is not None and offset == 0 and yielded == 0 and not skip:
            # Pages after this one are fetched out of order: hold the window
            # to what exists now, so new mail cannot shift their offsets.
            to_date = ahead.freeze(page, to_date)
        new_in_page = 0
        batch: list[T] = []
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
            batch.append(item)
            yielded += 1
            if max_items is not None and yielded >= max_items:
                yield batch
                return
        if batch:
            yield batch
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
