"""Plugins loaded by the Celery worker of test_receiver_celery.py (via POSTMARK_PLUGINS).

They run in the worker process, so they report to the test through the test's
Redis: every attempt and every success is appended to a list, and a test makes
a plugin fail for one event by setting ``ctl:fail:<plugin>:<dedupe key>`` to
the number of failures wanted, or hang while ``ctl:block:<plugin>:<dedupe key>``
exists.
"""

from __future__ import annotations

import json
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
        self.conn = redis.Redis.from_url(
            config["POSTMARK_CELERY_BROKER"], socket_timeout=5, socket_connect_timeout=5
        )

    @hookimpl
    def postmark_event(self, event: Any, client: Any, webhook: Any) -> None:
        assert self.conn is not None, "postmark_configure was not called in the worker"
        key = webhook.dedupe_key
        self.conn.rpush(f"ctl:attempts:{self.plugin_name}", key)
        # Hold the event (a worker to kill mid-task) while the test keeps this key.
        deadline = time.monotonic() + 20
        while self.conn.exists(f"ctl:block:{self.plugin_name}:{key}"):
            assert time.monotonic() < deadline, "blocked for too long"
            time.sleep(0.05)
        fail = f"ctl:fail:{self.plugin_name}:{key}"
        if self.conn.exists(fail) and self.conn.decr(fail) >= 0:
            raise RuntimeError(f"{self.plugin_name} told to fail")
        record = {
            "key": key,
            "kind": webhook.kind,
            "trace_id": webhook.trace_id,
            "body": webhook.body.decode("utf-8"),
            "received_at": webhook.received_at.isoformat(),
            "event_type": type(event).__name__,
            "has_client": client is not None,
        }
        self.conn.rpush(f"ctl:calls:{self.plugin_name}", json.dumps(record))


class Steady(_Reporting):
    plugin_name = "steady"


class Flaky(_Reporting):
    plugin_name = "flaky"
