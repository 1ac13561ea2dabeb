"""Plugins loaded by the Celery worker of test_receiver_celery.py (via POSTMARK_PLUGINS).

They run in the worker process, so they report to the test through a control
Redis (``POSTMARK_TEST_CONTROL``, never restarted or filled by a fault test):
every attempt and every success is appended to a list.  A test makes a plugin

* fail for one event: ``ctl:fail:<plugin>:<dedupe key>`` = number of failures;
* hang at attempt N: ``ctl:block:<plugin>:<dedupe key>`` = N, while it exists;
* die with its process (as in an OOM kill): ``ctl:kill:<plugin>:<dedupe key>``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import redis

from postmark_kit import hookimpl


class _Reporting:
    plugin_name = "unset"

    def __init__(self) -> None:
        self.conn: redis.Redis | None = None

    @hookimpl
    def postmark_configure(self, config: dict[str, Any], client: Any) -> None:
        url = config.get("POSTMARK_TEST_CONTROL") or config["POSTMARK_CELERY_BROKER"]
        self.conn = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    @hookimpl
    def postmark_event(self, event: Any, client: Any, webhook: Any) -> None:
        assert self.conn is not None, "postmark_configure was not called in the worker"
        key = webhook.dedupe_key
        name = self.plugin_name
        self.conn.rpush(f"ctl:attempts:{name}", key)
        if self.conn.exists(f"ctl:kill:{name}:{key}"):
            os.kill(os.getpid(), signal.SIGKILL)
        # Hold the event (a worker to kill mid-task) while the test keeps this key.
        block = f"ctl:block:{name}:{key}"
        if self.conn.exists(block):  # counting attempts reads the whole list: only here
            mine = self.conn.lrange(f"ctl:attempts:{name}", 0, -1)
            attempt = sum(1 for a in mine if a.decode() == key)
            deadline = time.monotonic() + 30
            while (value := self.conn.get(block)) is not None and int(value) == attempt:
                assert time.monotonic() < deadline, "blocked for too long"
                time.sleep(0.05)
        fail = f"ctl:fail:{name}:{key}"
        if self.conn.exists(fail) and self.conn.decr(fail) >= 0:
            raise RuntimeError(f"{name} told to fail")
        record = {
            "key": key,
            "kind": webhook.kind,
            "trace_id": webhook.trace_id,
            "body": webhook.body.decode("utf-8"),
            "received_at": webhook.received_at.isoformat(),
            "event_type": type(event).__name__,
            "has_client": client is not None,
        }
        self.conn.rpush(f"ctl:calls:{name}", json.dumps(record))


class Steady(_Reporting):
    plugin_name = "steady"


class Flaky(_Reporting):
    plugin_name = "flaky"
