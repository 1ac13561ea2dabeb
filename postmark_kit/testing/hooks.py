"""Webhook delivery for the simulator: a background worker POSTing over real HTTP.

Retries follow Postmark's documented rules (webhooks overview and the inbound
webhook page):

- Inbound: any answer but 200 is retried 10 times (1, 5, 10, 10, 10, 15, 30 min,
  1 h, 2 h, 6 h); a 403 stops the retries at once.
- Other webhooks: 5xx, 408, 429 and connection failures are retried for about an
  hour (1, 5, 10, 10, 10, 15 min); any other answer is final.

The schedule is Postmark's, scaled by ``time_scale`` (default ``1e-5``: the 10.5-hour
inbound schedule takes under half a second) so tests see the behaviour without
waiting.  URLs under a prefix given to
:meth:`WebhookDispatcher.mount` go to a WSGI app in process instead (no socket),
delivered on the thread that waits for webhooks, so a unit test stays on one thread.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
import requests
from werkzeug.test import Client

#: A WSGI application (a Flask app is one).
WSGIApp = Callable[..., Any]
#: In-process rounds per wait: a plugin reacting to a webhook may cause another one.
_MAX_ROUNDS = 1000

#: Postmark's retry delays in seconds, inbound webhooks.
INBOUND_RETRY_DELAYS: tuple[float, ...] = (60, 300, 600, 600, 600, 900, 1800, 3600, 7200, 21600)
#: Postmark's retry delays in seconds, every other webhook.
EVENT_RETRY_DELAYS: tuple[float, ...] = (60, 300, 600, 600, 600, 900)
#: Real delays times this in the simulator.
DEFAULT_TIME_SCALE = 1e-5
#: Answers (besides connection failures) that make Postmark retry an event webhook.
RETRIED_STATUSES = frozenset({408, 429})
#: The event-webhook schedule the simulator uses by default (scaled).
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
    #: True when it went to a mounted app in process instead of over HTTP.
    in_process: bool = False
    #: True for inbound mail (its own retry rules).
    inbound: bool = False


@attrs.define
class _Mount:
    app: WSGIApp
    environ: dict[str, Any]


def _under(url: str, prefix: str) -> bool:
    """``url`` is ``prefix`` or below it (``http://a.test`` does not cover ``http://a.test2``).

    Credentials in the URL (``http://user:pass@host/``, as inbound hook URLs carry
    them) do not count.
    """
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return url == prefix or url.startswith(prefix + "/") or url.startswith(prefix + "?")


@attrs.define
class _Job:
    url: str
    payload: dict[str, Any]
    auth: tuple[str, str] | None
    headers: dict[str, str]
    delivery: Delivery
    on_done: Callable[[Delivery], None] | None = None

    def settle(self, status: int | None) -> bool:
        """Record an attempt's answer; True when it is final (no retry), Postmark's rules."""
        self.delivery.status = status
        if status is None:  # no answer: retried
            return False
        if self.delivery.inbound:
            self.delivery.delivered = status == 200
            return status in (200, 403)  # a 403 stops inbound retries at once
        self.delivery.delivered = 200 <= status < 300
        return status < 500 and status not in RETRIED_STATUSES

    def done(self) -> None:
        if self.on_done is not None:
            with contextlib.suppress(Exception):  # a callback must not kill the worker
                self.on_done(self.delivery)


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
        """``retry_schedule``: delays between event-webhook attempts (by default Postmark's,
        times ``time_scale``); ``inbound_retry_schedule`` the same for inbound mail."""
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
        self._mounts: dict[str, _Mount] = {}
        self._inbox: list[_Job] = []
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
        """Queue one webhook; ``on_done`` is called once it is settled (delivered or not)."""
        delivery = Delivery(
            url=url,
            record_type=str(payload.get("RecordType", "Inbound")),
            payload=payload,
            inbound=inbound,
        )
        job = _Job(url, payload, auth, dict(headers or {}), delivery, on_done)
        with self._lock:
            self.deliveries.append(delivery)
            if self._mount_for(url) is not None:
                delivery.in_process = True
                self._inbox.append(job)
                return
        with self._idle:
            self._pending += 1
        self._queue.put(job)

    def join(self, timeout: float | None = None) -> bool:
        """True once everything queued is settled (delivered or out of retries).

        Webhooks for mounted apps are delivered first, here, on the calling thread.
        """
        self.deliver_in_process()
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # -- in process ---------------------------------------------------------

    def mount(
        self,
        prefix: str,
        app: WSGIApp,
        *,
        environ: Mapping[str, Any] | None = None,
    ) -> None:
        """Deliver webhooks whose URL starts with ``prefix`` to ``app`` in process.

        ``prefix`` is a scheme and host (``http://myapp.test``) with an optional
        path; ``environ`` adds WSGI environ keys (``REMOTE_ADDR``, by default
        127.0.0.1).  Nothing is sent until :meth:`deliver_in_process` (or
        :meth:`join`) runs; an app that raises makes that call raise.
        """
        parts = urlsplit(prefix)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"mount prefix must be an http(s) URL, got {prefix!r}")
        with self._lock:
            self._mounts[prefix.rstrip("/")] = _Mount(app, dict(environ or {}))

    def unmount(self, prefix: str) -> list[Delivery]:
        """Stop delivering to the app at ``prefix``; returns its webhooks never delivered."""
        prefix = prefix.rstrip("/")
        with self._lock:
            self._mounts.pop(prefix, None)
            dropped = [j for j in self._inbox if _under(j.url, prefix)]
            self._inbox = [j for j in self._inbox if not _under(j.url, prefix)]
        return [j.delivery for j in dropped]

    def deliver_in_process(self, prefix: str | None = None) -> list[Delivery]:
        """POST every pending webhook of a mounted app into it, on this thread, in order.

        ``prefix`` limits it to the app mounted there.  Webhooks queued
        meanwhile (a plugin's callback sent mail) are delivered too.  A non-2xx
        answer is retried at once, as many times as the retry schedule has
        steps.  Returns what was delivered (or given up on).
        """
        done: list[Delivery] = []
        wanted = prefix.rstrip("/") if prefix is not None else None
        for _ in range(_MAX_ROUNDS):
            with self._lock:
                index = next(
                    (
                        i
                        for i, j in enumerate(self._inbox)
                        if wanted is None or _under(j.url, wanted)
                    ),
                    None,
                )
                if index is None:
                    break
                job = self._inbox.pop(index)
                mount = self._mount_for(job.url)
            if mount is None:  # unmounted since: nowhere to go
                continue
            try:
                self._deliver_to(mount, job)
            finally:
                job.done()
            done.append(job.delivery)
        return done

    def _mount_for(self, url: str) -> _Mount | None:
        # under self._lock; the longest matching prefix wins
        matches = [p for p in self._mounts if _under(url, p)]
        return self._mounts[max(matches, key=len)] if matches else None

    def _deliver_to(self, mount: _Mount, job: _Job) -> None:
        parts = urlsplit(job.url)
        headers = {"Content-Type": "application/json", **job.headers}
        headers["X-PM-Webhook-Trace-Id"] = str(uuid.uuid4())
        auth = job.auth
        if auth is None and parts.username is not None:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        host = parts.hostname or "localhost"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        body = json.dumps(job.payload).encode()
        client = Client(mount.app)
        retries = len(self._schedule(job))
        for attempt in range(retries + 1):
            headers["X-PM-Retries-Remaining"] = str(retries - attempt)
            job.delivery.attempts += 1
            response = client.post(
                parts.path or "/",
                base_url=f"{parts.scheme}://{host}",
                query_string=parts.query,
                data=body,
                headers=headers,
                environ_base={"REMOTE_ADDR": "127.0.0.1", **mount.environ},
            )
            response.close()
            if job.settle(response.status_code):
                return

    def _schedule(self, job: _Job) -> tuple[float, ...]:
        return self.inbound_retry_schedule if job.delivery.inbound else self.retry_schedule

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
                if job is not None:
                    job.done()
                self._queue.task_done()
                if job is not None:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        headers = {"Content-Type": "application/json", **job.headers}
        headers["X-PM-Webhook-Trace-Id"] = str(uuid.uuid4())
        delays = (0.0, *self._schedule(job))
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
                job.settle(None)
                continue
            if job.settle(resp.status_code):
                return
