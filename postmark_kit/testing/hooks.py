"""Webhook delivery for the simulator: a background worker POSTing over real HTTP.

Retries follow Postmark's documented rules (webhooks overview and the inbound
webhook page):

- Inbound: any answer but 200 is retried 10 times (1, 5, 10, 10, 10, 15, 30 min,
  1 h, 2 h, 6 h); a 403 stops the retries at once.
- Other webhooks: 5xx, 408, 429 and connection failures are retried for about an
  hour (1, 5, 10, 10, 10, 15 min); any other answer is final.

The schedule is Postmark's, scaled by ``time_scale`` (default ``1e-5``: the 10.5-hour
inbound schedule takes under half a second) so tests see the behaviour without waiting.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import requests

#: Postmark's retry delays in seconds, inbound webhooks.
INBOUND_RETRY_DELAYS: tuple[float, ...] = (60, 300, 600, 600, 600, 900, 1800, 3600, 7200, 21600)
#: Postmark's retry delays in seconds, every other webhook.
EVENT_RETRY_DELAYS: tuple[float, ...] = (60, 300, 600, 600, 600, 900)
#: Real delays times this in the simulator.
DEFAULT_TIME_SCALE = 1e-5
#: Answers (besides connection failures) that make Postmark retry an event webhook.
RETRIED_STATUSES = frozenset({408, 429})
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = tuple(
    d * DEFAULT_TIME_SCALE for d in EVENT_RETRY_DELAYS
)


@attrs.define
class Delivery:
    """One webhook POST attempt log entry (what tests inspect)."""

    url: str
    record_type: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    delivered: bool = False
    #: True for inbound mail (its own retry rules).
    inbound: bool = False


@attrs.define
class _Job:
    url: str
    payload: dict[str, Any]
    auth: tuple[str, str] | None
    headers: dict[str, str]
    delivery: Delivery
    on_done: Callable[[Delivery], None] | None = None


class WebhookDispatcher:
    """Queue plus one daemon worker; ``join`` waits until everything queued is settled."""

    def __init__(
        self,
        retry_schedule: Sequence[float] | None = None,
        timeout: float = 5.0,
        *,
        time_scale: float = DEFAULT_TIME_SCALE,
        inbound_retry_schedule: Sequence[float] | None = None,
    ):
        """``retry_schedule``: delays between event-webhook attempts (Postmark's, scaled by
        ``time_scale``, by default); ``inbound_retry_schedule`` the same for inbound."""
        self.retry_schedule = tuple(
            retry_schedule
            if retry_schedule is not None
            else (d * time_scale for d in EVENT_RETRY_DELAYS)
        )
        self.inbound_retry_schedule = tuple(
            inbound_retry_schedule
            if inbound_retry_schedule is not None
            else (d * time_scale for d in INBOUND_RETRY_DELAYS)
        )
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0
        self._session = requests.Session()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="fake-postmark-webhooks", daemon=True
        )
        self._thread.start()

    def enqueue(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        inbound: bool = False,
        on_done: Callable[[Delivery], None] | None = None,
    ) -> None:
        """Queue one webhook; ``on_done`` is called (worker thread) once it is settled."""
        delivery = Delivery(
            url=url,
            record_type=str(payload.get("RecordType", "Inbound")),
            payload=payload,
            inbound=inbound,
        )
        with self._lock:
            self.deliveries.append(delivery)
        with self._idle:
            self._pending += 1
        self._queue.put(_Job(url, payload, auth, dict(headers or {}), delivery, on_done))

    def join(self, timeout: float | None = None) -> bool:
        """True once the queue is drained (every job delivered or out of retries)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            except Exception:  # one bad job must not kill the worker
                if job is not None:
                    job.delivery.status = None
            finally:
                if job is not None and job.on_done is not None:
                    with contextlib.suppress(Exception):  # it must not kill the worker
                        job.on_done(job.delivery)
                self._queue.task_done()
                if job is not None:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        headers = {"Content-Type": "application/json", **job.headers}
        headers["X-PM-Webhook-Trace-Id"] = str(uuid.uuid4())
        schedule = self.inbound_retry_schedule if job.delivery.inbound else self.retry_schedule
        delays = (0.0, *schedule)
        for n, delay in enumerate(delays):
            if delay and self._stop.wait(delay):
                return
            job.delivery.attempts += 1
            headers["X-PM-Retries-Remaining"] = str(len(delays) - n - 1)
            try:
                resp = self._session.post(
                    job.url, json=job.payload, auth=job.auth, headers=headers, timeout=self.timeout
                )
            except requests.RequestException:
                job.delivery.status = None
                continue
            status = job.delivery.status = resp.status_code
            if job.delivery.inbound:
                if status == 200:
                    job.delivery.delivered = True
                    return
                if status == 403:  # Postmark stops retrying inbound mail on a 403
                    return
            elif 200 <= status < 300:
                job.delivery.delivered = True
                return
            elif status < 500 and status not in RETRIED_STATUSES:
                return  # other 4xx: dropped on the first attempt
