"""Webhook delivery for the simulator: a background worker POSTing over real HTTP.

Retries non-2xx answers on a compressed schedule so tests see Postmark's retry
behaviour in milliseconds instead of hours.  URLs under a prefix given to
:meth:`WebhookDispatcher.mount` go to a WSGI app in process instead (no socket),
delivered on the thread that waits for webhooks, so a unit test stays on one thread.
"""

from __future__ import annotations

import base64
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
    #: True when it went to a mounted app in process instead of over HTTP.
    in_process: bool = False


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
    ) -> None:
        delivery = Delivery(
            url=url, record_type=str(payload.get("RecordType", "Inbound")), payload=payload
        )
        job = _Job(url, payload, auth, dict(headers or {}), delivery)
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

    def deliver_in_process(self) -> list[Delivery]:
        """POST every pending webhook of a mounted app into it, on this thread, in order.

        Webhooks queued meanwhile (a plugin's callback sent mail) are delivered
        too.  A non-2xx answer is retried at once, as many times as the retry
        schedule has steps.  Returns what was delivered (or given up on).
        """
        done: list[Delivery] = []
        for _ in range(_MAX_ROUNDS):
            with self._lock:
                if not self._inbox:
                    break
                job = self._inbox.pop(0)
                mount = self._mount_for(job.url)
            if mount is None:  # unmounted since: nowhere to go
                continue
            self._deliver_to(mount, job)
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
        retries = len(self.retry_schedule)
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
            job.delivery.status = response.status_code
            response.close()
            if 200 <= response.status_code < 300:
                job.delivery.delivered = True
                return

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
