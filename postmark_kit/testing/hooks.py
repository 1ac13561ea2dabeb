"""Webhook delivery for the simulator: a background worker POSTing over real HTTP.

Retries non-2xx answers on a compressed schedule so tests see Postmark's retry
behaviour in milliseconds instead of hours.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import attrs
import requests

DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (0.05, 0.05, 0.1, 0.2)


@attrs.define
class Delivery:
    """One webhook POST attempt log entry (what tests inspect)."""

    url: str
    record_type: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    delivered: bool = False


@attrs.define
class _Job:
    url: str
    payload: dict[str, Any]
    auth: tuple[str, str] | None
    headers: dict[str, str]
    delivery: Delivery


class WebhookDispatcher:
    """Queue plus one daemon worker; ``join`` waits until everything queued is settled."""

    def __init__(
        self, retry_schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE, timeout: float = 5.0
    ):
        self.retry_schedule = tuple(retry_schedule)
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
    ) -> None:
        delivery = Delivery(
            url=url, record_type=str(payload.get("RecordType", "Inbound")), payload=payload
        )
        with self._lock:
            self.deliveries.append(delivery)
        with self._idle:
            self._pending += 1
        self._queue.put(_Job(url, payload, auth, dict(headers or {}), delivery))

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
                self._queue.task_done()
                if job is not None:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        headers = {"Content-Type": "application/json", **job.headers}
        headers["X-PM-Webhook-Trace-Id"] = str(uuid.uuid4())
        delays = (0.0, *self.retry_schedule)
        for delay in delays:
            if delay and self._stop.wait(delay):
                return
            job.delivery.attempts += 1
            try:
                resp = self._session.post(
                    job.url, json=job.payload, auth=job.auth, headers=headers, timeout=self.timeout
                )
            except requests.RequestException:
                job.delivery.status = None
                continue
            job.delivery.status = resp.status_code
            if 200 <= resp.status_code < 300:
                job.delivery.delivered = True
                return
