"""Concurrency shared by page walks and batch sends: limits and the client-wide 429 throttle.

Over a real network a walk or a batch send costs ``requests x RTT``; with N
calls in flight on N pooled connections it costs about ``requests x RTT / N``.
Every concurrent run of one client shares its :class:`Throttle`: a 429 pauses
all of them until ``Retry-After`` has passed, and each run halves its
concurrency for the rest of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import ClientValidationError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "POOL_SIZE",
    "Limit",
    "Throttle",
    "check_concurrency",
]

#: Calls in flight per ``stream()`` / ``send_batch()`` unless told otherwise.
DEFAULT_CONCURRENCY = 4
#: The most any run may use.
MAX_CONCURRENCY = 8
#: Connections a client keeps open for reuse: room for 8 threads sharing it,
#: each running a walk or batch at the default concurrency.  More calls at once
#: still work, but the extra connections are closed after use (urllib3 warns
#: "Connection pool is full"), so each such call pays a new handshake.
POOL_SIZE = 8 * DEFAULT_CONCURRENCY


def check_concurrency(concurrency: int) -> int:
    """``concurrency`` if it is an int in 1..MAX_CONCURRENCY, else a ClientValidationError."""
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise ClientValidationError(
            f"concurrency must be an integer from 1 to {MAX_CONCURRENCY}, got {concurrency!r}"
        )
    return concurrency


class Throttle:
    """One per client: the 429s every thread saw, and until when all calls wait.

    Thread-safe.  ``rate_limited`` only grows; a concurrent run compares it
    with the value it started from to know it must slow down.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._resume_at = 0.0
        #: How many 429s the client has seen; also names the latest pause.
        self.rate_limited = 0

    def note_rate_limit(self, delay: float) -> int:
        """A 429 was answered: every call of the client waits ``delay`` seconds from now.

        Returns the pause's number: the thread that waits it out itself need
        not wait for it again (:meth:`pause` with ``covered``).
        """
        with self._lock:
            self.rate_limited += 1
            self._resume_at = self._clock() + max(delay, 0.0)
            return self.rate_limited

    def pause(self, covered: int = 0) -> float:
        """Seconds a call must still wait before it is sent (0.0: go).

        ``covered``: the pause this thread already waited out (0: none).
        """
        with self._lock:
            if covered == self.rate_limited:
                return 0.0
            return max(0.0, self._resume_at - self._clock())


class Limit:
    """The concurrency of one run: starts at N, halves (down to 1) after each new 429."""

    def __init__(self, concurrency: int, throttle: Throttle | None) -> None:
        self.value = check_concurrency(concurrency)
        self._throttle = throttle
        self._seen = throttle.rate_limited if throttle is not None else 0

    def current(self) -> int:
        throttle = self._throttle
        if throttle is not None and throttle.rate_limited != self._seen:
            self._seen = throttle.rate_limited
            self.value = max(1, self.value // 2)
        return self.value
