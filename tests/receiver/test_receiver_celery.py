"""POSTMARK_DISPATCH=celery against a real redis-server and a real Celery worker.

The receiver (Flask test client) enqueues; a worker subprocess runs the plugins
of _celery_test_plugins.py, which report every attempt to the test's Redis.
Skipped when redis-server is not installed (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import load_webhook
from tests.receiver._receiver_support import DURABLE

pytest.importorskip("celery", reason="celery is not installed (pip install -e '.[celery]')")
if shutil.which("redis-server") is None:
    pytest.skip(
        "redis-server is not installed (apt-get install redis-server; .ci/run does)",
        allow_module_level=True,
    )

import redis

from postmark_kit.receiver import PostmarkReceiver
from postmark_kit.receiver.celery_dispatch import (
    TASK_NAME,
    dead_letters,
)

pytestmark = pytest.mark.slow  # run by the full suite; skipped by -m 'not slow'

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # on the worker's path: the plugins are tests.receiver._celery_test_plugins
QUEUE = "postmark-test"
MAX_RETRIES = 3
WAIT = 15.0
AUTH = ("postmark", "celery-pass")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A redis-server on loopback in its own directory; stopped (and restarted) by the test."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.args = args
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.workdir),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        conn = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)

        def up() -> bool:
            try:
                return bool(conn.ping())
            except redis.ConnectionError:
                assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
                return False

        try:
            wait_for("redis-server", up, timeout=10)
        finally:
            conn.close()

    def stop(self) -> None:
        """SIGTERM: Redis writes its AOF and exits, as in a clean restart."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="module")
def control_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Where the worker's plugins report (never restarted or filled by a fault test)."""
    server = RedisServer(tmp_path_factory.mktemp("control"), "--appendonly", "no")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(
        tmp_path_factory.mktemp("redis"), *DURABLE, "--enable-debug-command", "yes"
    )
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A durable Redis of the test's own, to restart or fill up."""
    server = RedisServer(tmp_path / "own", *DURABLE)
    server.workdir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    yield conn
    conn.close()


@pytest.fixture
def ctl(control_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(control_url, socket_timeout=5, socket_connect_timeout=5)
    yield conn
    conn.close()


def start_worker(
    redis_url: str,
    log_path: Path,
    queue: str = QUEUE,
    *,
    control: str | None = None,
    pool: str = "threads",
    concurrency: int = 2,
    wait: bool = True,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """A real ``celery worker`` process on ``queue``, started (and ready, with ``wait``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMARK_")}
    env.update(
        {
            "POSTMARK_CELERY_BROKER": redis_url,
            "POSTMARK_CELERY_QUEUE": queue,
            "POSTMARK_CELERY_MAX_RETRIES": str(MAX_RETRIES),
            "POSTMARK_CELERY_RETRY_BACKOFF": "0.1",
            "POSTMARK_PLUGINS": ",".join(
                f"tests.receiver._celery_test_plugins:{name}" for name in ("Steady", "Flaky")
            ),
            "POSTMARK_LOAD_ENTRYPOINTS": "false",
            # The callback client is built (never called here): port 9 is discard.
            "POSTMARK_SERVER_TOKEN": "worker-token",
            "POSTMARK_BASE_URL": "http://127.0.0.1:9",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            **({"POSTMARK_TEST_CONTROL": control} if control else {}),
            **settings,
        }
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "postmark_kit.receiver.celery_dispatch:celery_app",
                "worker",
                f"--pool={pool}",
                "-c",
                str(concurrency),
                "-Q",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if wait:
        wait_ready(proc, log_path)
    return proc


def wait_ready(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"celery worker exited:\n{log_path.read_text()[-3000:]}")
        return b" ready." in log_path.read_bytes()

    try:
        wait_for("the celery worker", ready, timeout=timeout)
    except BaseException:
        stop_worker(proc)
        raise


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def worker(
    redis_url: str, control_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    proc = start_worker(
        redis_url,
        tmp_path_factory.mktemp("worker") / "worker.log",
        control=control_url,
        POSTMARK_CELERY_LOCK_TIMEOUT="3",
    )
    try:
        yield
    finally:
        stop_worker(proc)


@pytest.fixture
def receiver(redis_url: str) -> Iterator[Callable[..., Flask]]:
    """A Flask app with the receiver in celery mode; ``overrides`` change its settings."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = Flask("celery-test")
        app.config.update(
            POSTMARK_DISPATCH="celery",
            POSTMARK_CELERY_BROKER=redis_url,
            POSTMARK_CELERY_QUEUE=QUEUE,
            POSTMARK_LOAD_ENTRYPOINTS=False,
            POSTMARK_WEBHOOK_USERNAME=AUTH[0],
            POSTMARK_WEBHOOK_PASSWORD=AUTH[1],
            POSTMARK_SERVER_TOKEN="receiver-token-XYZ",
        )
        app.config.update(overrides)
        PostmarkReceiver().init_app(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        PostmarkReceiver.shutdown(app)


def post(app: Flask, payload: Any, trace_id: str) -> Any:
    return app.test_client().post(
        "/postmark/webhook",
        data=payload if isinstance(payload, bytes) else json.dumps(payload),
        content_type="application/json",
        auth=AUTH,
        headers={"X-PM-Webhook-Trace-Id": trace_id},
    )


def calls(ctl: redis.Redis, plugin: str, key: str) -> list[dict[str, Any]]:
    found = [json.loads(c) for c in ctl.lrange(f"ctl:calls:{plugin}", 0, -1)]
    return [c for c in found if c["key"] == key]


def attempts(ctl: redis.Redis, plugin: str, key: str) -> int:
    return sum(1 for a in ctl.lrange(f"ctl:attempts:{plugin}", 0, -1) if a.decode() == key)


def settle() -> None:
    """Long enough for a wrongly repeated task to have run (the worker is idle here)."""
    time.sleep(0.5)


@pytest.mark.usefixtures("worker")
def test_events_reach_each_plugin_once_with_their_metadata(
    receiver: Callable[..., Flask], r: redis.Redis, ctl: redis.Redis
) -> None:
    app = receiver()
    sent: dict[str, tuple[str, bytes]] = {}
    for kind in ("bounce", "delivery", "open", "click", "inbound"):
        trace = f"{kind}-{uuid.uuid4()}"
        body = json.dumps(load_webhook(kind)).encode()
        resp = post(app, body, trace)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.headers["Postmark-Kit-Key"] == f"trace:{trace}"
        sent[f"trace:{trace}"] = (kind, body)
    for key in sent:
        wait_for(
            f"{key} in both plugins",
            lambda k=key: calls(ctl, "steady", k) and calls(ctl, "flaky", k),
        )
    settle()
    for key, (kind, body) in sent.items():
        for plugin in ("steady", "flaky"):
            (call,) = calls(ctl, plugin, key)
            assert attempts(ctl, plugin, key) == 1
            assert call["kind"] == kind
            assert call["trace_id"] == key.removeprefix("trace:")
            assert call["body"].encode() == body
            assert call["has_client"] is True
            assert call["received_at"]
        assert r.ttl(f"postmark-kit:seen:{key}") > 6 * 24 * 3600


def test_postmark_retry_is_not_enqueued_twice_and_no_token_is(
    receiver: Callable[..., Flask], r: redis.Redis
) -> None:
    idle = f"idle-{uuid.uuid4()}"  # no worker consumes it: the queue shows what was sent
    app = receiver(POSTMARK_CELERY_QUEUE=idle, POSTMARK_DEDUPE_TTL=86400)
    trace = str(uuid.uuid4())
    payload = load_webhook("bounce")
    first = post(app, payload, trace)
    again = post(app, payload, trace)
    other = post(app, payload, str(uuid.uuid4()))
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    queued = r.lrange(idle, 0, -1)
    assert len(queued) == 2
    assert 3600 < r.ttl(f"postmark-kit:seen:trace:{trace}") <= 86400
    for raw in queued:
        message = json.loads(raw)
        assert message["headers"]["task"] == TASK_NAME
        assert b"receiver-token-XYZ" not in raw
    r.delete(idle)


@pytest.mark.usefixtures("worker")
def test_postmark_retry_reaches_the_plugins_once(
    receiver: Callable[..., Flask], r: redis.Redis, ctl: redis.Redis
) -> None:
    app = receiver()
    trace = str(uuid.uuid4())
    payload = load_webhook("delivery")
    assert post(app, payload, trace).status_code == 200
    assert post(app, payload, trace).status_code == 200
    key = f"trace:{trace}"
    wait_for("the delivery", lambda: calls(ctl, "steady", key))
    settle()
    assert attempts(ctl, "steady", key) == 1
    assert attempts(ctl, "flaky", key) == 1


@pytest.mark.usefixtures("worker")
def test_failing_plugin_is_retried_and_the_other_is_not_called_again(
    receiver: Callable[..., Flask], r: redis.Redis, ctl: redis.Redis
) -> None:
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    ctl.set(f"ctl:fail:flaky:{key}", 2)
    assert post(receiver(), load_webhook("bounce"), trace).status_code == 200
    wait_for("flaky's third attempt to succeed", lambda: calls(ctl, "flaky", key))
    settle()
    assert attempts(ctl, "flaky", key) == 3
    assert attempts(ctl, "steady", key) == 1
    assert len(calls(ctl, "steady", key)) == 1
    assert not [
        d for d in dead_letters({"POSTMARK_CELERY_BROKER": r_url(r)}) if d.dedupe_key == key
    ]


def r_url(r: redis.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/0"


@pytest.mark.usefixtures("worker")
def test_plugin_failing_every_time_ends_in_the_dead_letters_and_replays(
    receiver: Callable[..., Flask], r: redis.Redis, ctl: redis.Redis
) -> None:
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    ctl.set(f"ctl:fail:flaky:{key}", 1000)
    body = json.dumps(load_webhook("spam_complaint")).encode()
    assert post(receiver(), body, trace).status_code == 200
    config = {"POSTMARK_CELERY_BROKER": r_url(r), "POSTMARK_CELERY_QUEUE": QUEUE}

    def dead() -> list[Any]:
        return [d for d in dead_letters(config) if d.dedupe_key == key]

    (letter,) = wait_for("the dead letter", dead)
    assert letter.plugin == "flaky"
    assert letter.attempts == MAX_RETRIES + 1
    assert "RuntimeError: flaky told to fail" in letter.error
    assert letter.message["body"].encode() == body
    assert letter.message["trace_id"] == trace
    assert attempts(ctl, "flaky", key) == MAX_RETRIES + 1
    assert attempts(ctl, "steady", key) == 1
    assert calls(ctl, "flaky", key) == []

    # The command line lists it (settings from the environment, as in production).
    from click.testing import CliRunner

    from postmark_kit.cli import main

    env = {"POSTMARK_CELERY_BROKER": r_url(r), "POSTMARK_CELERY_QUEUE": QUEUE}
    listed = CliRunner().invoke(main, ["events", "failed", "--celery"], env=env)
    assert listed.exit_code == 0, listed.output
    assert key in listed.output and "flaky" in listed.output
    assert "RuntimeError: flaky told to fail" in listed.output
    as_json = CliRunner().invoke(main, ["events", "failed", "--celery", "--json"], env=env)
    keys = [json.loads(line)["message"]["dedupe_key"] for line in as_json.output.splitlines()]
    assert key in keys

    # Fixed: a replay reaches the plugin that gave up, and only that one.
    ctl.delete(f"ctl:fail:flaky:{key}")
    replayed = CliRunner().invoke(main, ["events", "replay", "--celery", "--all"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "event(s) for the Celery workers" in replayed.output
    wait_for("the replayed event", lambda: calls(ctl, "flaky", key))
    settle()
    assert attempts(ctl, "steady", key) == 1
    assert len(calls(ctl, "flaky", key)) == 1
    assert dead() == []


def test_broker_down_answers_5xx_and_leaves_the_event_unseen(
    receiver: Callable[..., Flask], r: redis.Redis, redis_url: str
) -> None:
    down = f"redis://127.0.0.1:{_free_port()}/0"
    trace = str(uuid.uuid4())
    seen = f"postmark-kit:seen:trace:{trace}"
    payload = load_webhook("open")

    # Broker down, dedupe store up: refused before any claim, with the reason.
    app = receiver(POSTMARK_CELERY_BROKER=down, POSTMARK_CELERY_REDIS=redis_url)
    started = time.monotonic()
    resp = post(app, payload, trace)
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "the broker Redis is unreachable (ConnectionError)"}
    assert time.monotonic() - started < 10
    assert not r.exists(seen)

    # Everything down: 503 too.
    assert post(receiver(POSTMARK_CELERY_BROKER=down), payload, trace).status_code == 503

    # Postmark's retry, once the broker is back, is accepted and enqueued.
    idle = f"idle-{uuid.uuid4()}"
    assert post(receiver(POSTMARK_CELERY_QUEUE=idle), payload, trace).status_code == 200
    assert r.ttl(seen) > 60  # the short claim was made permanent once queued
    assert r.llen(idle) == 1
    r.delete(idle)


def test_task_of_a_killed_worker_is_delivered_again(
    receiver: Callable[..., Flask],
    r: redis.Redis,
    ctl: redis.Redis,
    redis_url: str,
    control_url: str,
    tmp_path: Path,
) -> None:
    queue = f"crash-{uuid.uuid4()}"
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    block = f"ctl:block:steady:{key}"
    ctl.set(block, 1)
    first = start_worker(
        redis_url,
        tmp_path / "first.log",
        queue,
        control=control_url,
        POSTMARK_CELERY_LOCK_TIMEOUT="2",
    )
    try:
        assert (
            post(receiver(POSTMARK_CELERY_QUEUE=queue), load_webhook("bounce"), trace).status_code
            == 200
        )
        wait_for("steady to start on the event", lambda: attempts(ctl, "steady", key) == 1)
        first.kill()  # SIGKILL mid-task: no ack, no warm shutdown
        first.wait(timeout=10)
    finally:
        stop_worker(first)
    ctl.delete(block)
    assert calls(ctl, "steady", key) == []
    # A second worker takes the unacknowledged task once its visibility timeout passed.
    second = start_worker(
        redis_url,
        tmp_path / "second.log",
        queue,
        control=control_url,
        POSTMARK_CELERY_VISIBILITY_TIMEOUT="1",
        POSTMARK_CELERY_LOCK_TIMEOUT="1",
    )
    try:
        # kombu restores unacknowledged tasks on its own schedule: allow for a busy machine.
        wait_for("the task to be delivered again", lambda: calls(ctl, "steady", key), timeout=90)
        settle()
    finally:
        stop_worker(second)
    assert attempts(ctl, "steady", key) == 2
    assert len(calls(ctl, "steady", key)) == 1
    # flaky had finished before the kill (or had not started): called exactly once.
    assert attempts(ctl, "flaky", key) == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("POSTMARK_CELERY_BROKER", "amqp://user:pw-secret@host//", "redis://"),
        ("POSTMARK_CELERY_REDIS", "http://user:pw-secret@host/", "redis://"),
        ("POSTMARK_CELERY_MAX_RETRIES", "many", "a number"),
        ("POSTMARK_CELERY_RETRY_BACKOFF", "-1", "at least 0"),
        ("POSTMARK_DEDUPE_TTL", "0", "at least 1"),
        ("POSTMARK_CELERY_QUEUE", " ", "not be empty"),
    ],
)
def test_bad_celery_settings_fail_at_startup_without_echoing_urls(
    receiver: Callable[..., Flask], key: str, value: str, message: str
) -> None:
    from postmark_kit.receiver import ConfigError

    with pytest.raises(ConfigError, match=message) as info:
        receiver(**{key: value})
    assert "pw-secret" not in str(info.value)


# -- Redis durability, guard rails, health ---------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("appendonly", "no", "appendonly is 'no'"),
        ("appendfsync", "no", "appendfsync is 'no'"),
        ("maxmemory-policy", "allkeys-lru", "maxmemory-policy is 'allkeys-lru'"),
        ("maxmemory-policy", "volatile-ttl", "maxmemory-policy is 'volatile-ttl'"),
    ],
)
def test_unsafe_redis_is_refused_at_startup_unless_allowed(
    receiver: Callable[..., Flask], own_redis: RedisServer, setting: str, value: str, reason: str
) -> None:
    from postmark_kit.receiver import ConfigError

    conn = redis.Redis.from_url(own_redis.url)
    conn.config_set(setting, value)
    with pytest.raises(ConfigError, match="not safe for POSTMARK_DISPATCH=celery") as info:
        receiver(POSTMARK_CELERY_BROKER=own_redis.url)
    assert reason in str(info.value)
    assert "POSTMARK_CELERY_ALLOW_UNSAFE_REDIS" in str(info.value)
    # The explicit opt-out (a demo, a test): accepted.
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url, POSTMARK_CELERY_ALLOW_UNSAFE_REDIS="true")
    assert post(app, load_webhook("open"), str(uuid.uuid4())).status_code == 200
    conn.close()


def test_worker_refuses_an_evicting_redis(own_redis: RedisServer, tmp_path: Path) -> None:
    conn = redis.Redis.from_url(own_redis.url)
    conn.config_set("maxmemory-policy", "volatile-lru")
    log_path = tmp_path / "worker.log"
    proc = start_worker(own_redis.url, log_path, wait=False)
    try:
        assert proc.wait(timeout=60) != 0
    finally:
        stop_worker(proc)
    assert "maxmemory-policy is 'volatile-lru'" in log_path.read_text()
    conn.close()


def test_redis_unreachable_at_startup_is_checked_before_the_first_event(
    receiver: Callable[..., Flask], tmp_path: Path
) -> None:
    server = RedisServer(tmp_path, "--appendonly", "no")
    app = receiver(POSTMARK_CELERY_BROKER=server.url)  # down: init_app succeeds
    health = app.test_client().get("/postmark/health")
    assert health.status_code == 503
    assert health.get_json() == {"ok": False, "error": "the broker Redis is unreachable"}
    server.start()
    try:
        # Up, but without AOF: events are refused, and health says why.
        resp = post(app, load_webhook("open"), str(uuid.uuid4()))
        assert resp.status_code == 503
        assert "durability" in resp.get_json()["error"]
        health = app.test_client().get("/postmark/health")
        assert health.status_code == 503
        assert "appendonly is 'no'" in health.get_json()["error"]
    finally:
        server.stop()


def test_health_pings_broker_and_state_store(
    receiver: Callable[..., Flask], redis_url: str, own_redis: RedisServer
) -> None:
    app = receiver(POSTMARK_CELERY_REDIS=own_redis.url)
    assert app.test_client().get("/postmark/health").status_code == 200
    conn = redis.Redis.from_url(own_redis.url)
    conn.config_set("maxmemory", "1")
    try:
        resp = app.test_client().get("/postmark/health")
        assert resp.status_code == 503
        assert resp.get_json()["error"] == (
            "the state store Redis is out of memory (maxmemory reached)"
        )
    finally:
        conn.config_set("maxmemory", "0")
        conn.close()
    own_redis.stop()
    resp = app.test_client().get("/postmark/health")
    assert resp.status_code == 503
    assert resp.get_json() == {"ok": False, "error": "the state store Redis is unreachable"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"POSTMARK_CELERY_VISIBILITY_TIMEOUT": 60, "POSTMARK_CELERY_TIME_LIMIT": 120},
            "Redis would hand a task that is still running to a second worker",
        ),
        ({"POSTMARK_DEDUPE_TTL": 1}, "Postmark's first retry comes a minute later"),
        (
            {"POSTMARK_DEDUPE_TTL": 3600, "POSTMARK_CELERY_RETRY_BACKOFF": 600},
            "a retry would call them again",
        ),
    ],
)
def test_contradictory_time_settings_are_refused_with_the_reason(
    receiver: Callable[..., Flask], settings: dict[str, Any], message: str
) -> None:
    from postmark_kit.receiver import ConfigError

    with pytest.raises(ConfigError, match=message):
        receiver(**settings)


def test_short_dedupe_ttl_is_warned_about(
    receiver: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    receiver(POSTMARK_DEDUPE_TTL=86400 // 4, POSTMARK_CELERY_VISIBILITY_TIMEOUT=600)
    assert "shorter than Postmark's retry window" in caplog.text


# -- faults: stalls, memory, restarts, dropped connections ------------------------


def test_claim_of_a_refused_request_never_makes_its_retry_a_duplicate(
    receiver: Callable[..., Flask], r: redis.Redis, redis_url: str
) -> None:
    idle = f"idle-{uuid.uuid4()}"
    app = receiver(POSTMARK_CELERY_QUEUE=idle, POSTMARK_CELERY_REDIS_TIMEOUT=0.3)
    trace = str(uuid.uuid4())
    seen = f"postmark-kit:seen:trace:{trace}"
    payload = load_webhook("bounce")
    # The receiver's connection is open already (as in production): the claim is sent.
    assert post(app, payload, str(uuid.uuid4())).status_code == 200
    staller = redis.Redis.from_url(redis_url, socket_timeout=10)
    # Longer than any claim wait (also the 5 s this mode waited before it had a setting).
    stall = threading.Thread(target=staller.execute_command, args=("DEBUG", "SLEEP", "5.5"))
    stall.start()
    time.sleep(0.1)
    refused = post(app, payload, trace)
    stall.join()
    staller.close()
    assert refused.status_code == 503
    # The stalled claim ran once Redis woke up, after the 503: it must not make
    # Postmark's retry a "duplicate" with no task.
    retry = post(app, payload, trace)
    assert retry.headers.get("Postmark-Kit-Duplicate") != "true"
    if retry.status_code == 503:
        wait_for("the stale claim to lapse", lambda: not r.exists(seen), timeout=5)
        retry = post(app, payload, trace)
    assert retry.status_code == 200
    assert retry.headers.get("Postmark-Kit-Duplicate") != "true"
    assert r.llen(idle) == 2
    r.delete(idle)
    assert refused.get_json() == {"error": "the dedupe store Redis did not answer in time"}


def test_memory_full_is_named_and_workers_survive_it(
    receiver: Callable[..., Flask], own_redis: RedisServer, control_url: str, tmp_path: Path
) -> None:
    conn = redis.Redis.from_url(own_redis.url)
    ctl = redis.Redis.from_url(control_url)
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url)
    conn.config_set("maxmemory", "1")
    trace = str(uuid.uuid4())
    resp = post(app, load_webhook("delivery"), trace)
    assert resp.status_code == 503
    assert "out of memory" in resp.get_json()["error"]
    # A worker started while memory is full waits instead of dying.
    log_path = tmp_path / "worker.log"
    proc = start_worker(own_redis.url, log_path, control=control_url, wait=False)
    try:
        time.sleep(4)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        conn.config_set("maxmemory", "0")
        wait_ready(proc, log_path, timeout=60)
        assert post(app, load_webhook("delivery"), trace).status_code == 200
        key = f"trace:{trace}"
        wait_for("the event", lambda: calls(ctl, "steady", key) and calls(ctl, "flaky", key))
    finally:
        stop_worker(proc)
        conn.close()
        ctl.close()
    assert "Unrecoverable" not in log_path.read_text()


@pytest.fixture
def fault_worker(
    own_redis: RedisServer, control_url: str, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A prefork worker (pool processes that can be killed) on the test's own Redis."""
    proc = start_worker(
        own_redis.url,
        tmp_path / "fault-worker.log",
        control=control_url,
        pool="prefork",
        POSTMARK_CELERY_MAX_RETRIES="1",
        POSTMARK_CELERY_VISIBILITY_TIMEOUT="10",
        POSTMARK_CELERY_LOCK_TIMEOUT="3",
    )
    yield proc
    stop_worker(proc)


def test_redis_restart_in_flight_neither_loses_nor_repeats(
    receiver: Callable[..., Flask], own_redis: RedisServer, fault_worker: Any, ctl: redis.Redis
) -> None:
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url)
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    for plugin in ("steady", "flaky"):
        ctl.set(f"ctl:block:{plugin}:{key}", 1)
    assert post(app, load_webhook("bounce"), trace).status_code == 200
    first = wait_for(
        "a plugin to start",
        lambda: [p for p in ("steady", "flaky") if attempts(ctl, p, key) == 1],
    )[0]
    own_redis.stop()
    # The plugin returns while Redis is down: its success cannot be recorded yet.
    ctl.delete(f"ctl:block:{first}:{key}")
    wait_for("the plugin to return", lambda: calls(ctl, first, key))
    time.sleep(1.0)
    own_redis.start()  # the same AOF: every queued task is still there
    for plugin in ("steady", "flaky"):
        ctl.delete(f"ctl:block:{plugin}:{key}")
    wait_for(
        "both plugins", lambda: calls(ctl, "steady", key) and calls(ctl, "flaky", key), timeout=30
    )
    time.sleep(2)
    assert len(calls(ctl, "steady", key)) == 1
    assert len(calls(ctl, "flaky", key)) == 1
    assert attempts(ctl, first, key) == 1


def test_task_whose_pool_process_dies_is_dead_lettered_after_max_attempts(
    receiver: Callable[..., Flask], own_redis: RedisServer, fault_worker: Any, ctl: redis.Redis
) -> None:
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url)
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    ctl.set(f"ctl:kill:flaky:{key}", 1)
    assert post(app, load_webhook("open"), trace).status_code == 200
    config = {"POSTMARK_CELERY_BROKER": own_redis.url}
    (letter,) = wait_for("the dead letter", lambda: dead_letters(config), timeout=60)
    assert letter.plugin == "flaky"
    assert letter.attempts == 2  # POSTMARK_CELERY_MAX_RETRIES=1
    assert "worker process died" in letter.error
    time.sleep(1)
    assert attempts(ctl, "flaky", key) == 2
    assert len(calls(ctl, "steady", key)) == 1


def test_dead_letter_write_failing_is_not_lost_and_keeps_the_plugin(
    receiver: Callable[..., Flask], own_redis: RedisServer, fault_worker: Any, ctl: redis.Redis
) -> None:
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url)
    conn = redis.Redis.from_url(own_redis.url)
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    ctl.set(f"ctl:fail:flaky:{key}", 1000)
    ctl.set(f"ctl:block:flaky:{key}", 2)  # hold the last attempt
    assert post(app, load_webhook("bounce"), trace).status_code == 200
    wait_for("the last attempt", lambda: attempts(ctl, "flaky", key) == 2, timeout=30)
    conn.config_set("maxmemory", "1")  # no write succeeds: the dead letter cannot be written
    ctl.delete(f"ctl:block:flaky:{key}")
    time.sleep(2)
    conn.config_set("maxmemory", "0")
    config = {"POSTMARK_CELERY_BROKER": own_redis.url}
    (letter,) = wait_for("the dead letter", lambda: dead_letters(config), timeout=40)
    assert letter.plugin == "flaky"
    assert letter.attempts == 2
    assert "RuntimeError: flaky told to fail" in letter.error
    conn.close()


def _resp(*args: bytes) -> bytes:
    """A Redis command in the wire protocol (RESP)."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_task_taken_as_redis_shuts_down_is_not_lost(
    receiver: Callable[..., Flask],
    own_redis: RedisServer,
    control_url: str,
    ctl: redis.Redis,
    tmp_path: Path,
) -> None:
    """Redis hands a task to a waiting worker and exits before sending it (SIGTERM, SHUTDOWN).

    Redis writes replies after the event loop's commands, and a shutdown in the
    same iteration never sends them, while the AOF keeps the pop: with a plain
    ``BRPOP`` the task then exists nowhere.  ``LPUSH`` and ``SHUTDOWN`` in one
    write make that moment certain.
    """
    queue = f"popped-{uuid.uuid4().hex[:8]}"
    app = receiver(POSTMARK_CELERY_BROKER=own_redis.url, POSTMARK_CELERY_QUEUE=queue)
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    assert post(app, load_webhook("bounce"), trace).status_code == 200
    conn = redis.Redis.from_url(own_redis.url)
    raw = conn.rpop(queue)  # the acknowledged task, taken back to be pushed at that moment
    conn.close()
    assert raw is not None
    proc = start_worker(
        own_redis.url,
        tmp_path / "worker.log",
        queue,
        control=control_url,
        concurrency=1,
        POSTMARK_CELERY_VISIBILITY_TIMEOUT="4",
    )
    try:
        time.sleep(1.5)  # the worker waits on the empty queue
        with socket.create_connection(("127.0.0.1", own_redis.port), timeout=5) as s:
            s.sendall(_resp(b"LPUSH", queue.encode(), raw) + _resp(b"SHUTDOWN"))
            while s.recv(4096):
                pass
        own_redis.stop()
        own_redis.start()  # the same AOF
        wait_for(
            "the event in both plugins",
            lambda: calls(ctl, "steady", key) and calls(ctl, "flaky", key),
            timeout=30,
        )
        time.sleep(2)
    finally:
        stop_worker(proc)
    assert attempts(ctl, "steady", key) == 1
    assert attempts(ctl, "flaky", key) == 1


def test_redis_without_blmove_gets_kombus_brpop(
    receiver: Callable[..., Flask], control_url: str, ctl: redis.Redis, tmp_path: Path
) -> None:
    """Before Redis 6.2 (or with BLMOVE renamed) workers take tasks as kombu does."""
    server = RedisServer(tmp_path / "old", *DURABLE, "--rename-command", "BLMOVE", "")
    server.workdir.mkdir()
    server.start()
    log_path = tmp_path / "worker.log"
    proc = start_worker(server.url, log_path, control=control_url)
    try:
        trace = str(uuid.uuid4())
        key = f"trace:{trace}"
        app = receiver(POSTMARK_CELERY_BROKER=server.url)
        assert post(app, load_webhook("delivery"), trace).status_code == 200
        wait_for("the event", lambda: calls(ctl, "steady", key) and calls(ctl, "flaky", key))
    finally:
        stop_worker(proc)
        server.stop()
    assert "the broker refused BLMOVE" in log_path.read_text()


@pytest.mark.usefixtures("worker")
def test_dropped_connection_never_runs_a_plugin_twice_at_once(
    receiver: Callable[..., Flask], r: redis.Redis, ctl: redis.Redis
) -> None:
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    ctl.set(f"ctl:block:steady:{key}", 1)
    ctl.set(f"ctl:block:flaky:{key}", 1)
    assert post(receiver(), load_webhook("click"), trace).status_code == 200
    wait_for(
        "a plugin to start", lambda: attempts(ctl, "steady", key) or attempts(ctl, "flaky", key)
    )
    # Every client of the broker loses its connection: kombu puts the running task back.
    r.client_kill_filter(_type="normal", skipme=True)
    time.sleep(2)
    ctl.delete(f"ctl:block:steady:{key}", f"ctl:block:flaky:{key}")
    wait_for("both plugins", lambda: calls(ctl, "steady", key) and calls(ctl, "flaky", key))
    time.sleep(3)
    assert attempts(ctl, "steady", key) == 1
    assert attempts(ctl, "flaky", key) == 1


# -- replay -------------------------------------------------------------------------


def _letter(plugin: str, trace: str, kind: str = "bounce") -> str:
    message = {
        "v": 1,
        "dedupe_key": f"trace:{trace}",
        "kind": kind,
        "received_at": "2026-11-30T10:00:00+00:00",
        "trace_id": trace,
        "body": json.dumps(load_webhook(kind)),
    }
    record = {
        "plugin": plugin,
        "hook": "postmark_event",
        "error": "RuntimeError: down",
        "attempts": 4,
        "failed_at": "2026-11-30T10:00:00+00:00",
        "message": message,
    }
    return json.dumps(record)


@pytest.mark.usefixtures("worker")
def test_replay_reaches_only_the_failed_plugin_and_keeps_unknown_ones(
    r: redis.Redis, ctl: redis.Redis, redis_url: str
) -> None:
    from postmark_kit.receiver.celery_dispatch import replay_dead_letters

    config = {"POSTMARK_CELERY_BROKER": redis_url, "POSTMARK_CELERY_QUEUE": QUEUE}
    known, ghost = str(uuid.uuid4()), str(uuid.uuid4())
    # No done-set for either event (expired): only the plugin named may run.
    r.rpush("postmark-kit:dead", _letter("flaky", known), _letter("ghost", ghost))
    assert replay_dead_letters(config) >= 2
    wait_for("flaky", lambda: calls(ctl, "flaky", f"trace:{known}"))
    kept = wait_for(
        "the ghost letter back",
        lambda: [d for d in dead_letters(config) if d.dedupe_key == f"trace:{ghost}"],
    )
    time.sleep(1)
    assert kept[0].plugin == "ghost"
    assert "no plugin named 'ghost'" in kept[0].error
    assert attempts(ctl, "steady", f"trace:{known}") == 0
    assert attempts(ctl, "steady", f"trace:{ghost}") == 0
    assert attempts(ctl, "flaky", f"trace:{ghost}") == 0
    r.delete("postmark-kit:dead")


def test_two_replays_at_once_queue_each_event_once(r: redis.Redis, redis_url: str) -> None:
    from postmark_kit.receiver.celery_dispatch import replay_dead_letters

    prefix = f"concurrent-{uuid.uuid4().hex[:8]}"
    idle = f"idle-{uuid.uuid4()}"
    config = {
        "POSTMARK_CELERY_BROKER": redis_url,
        "POSTMARK_CELERY_QUEUE": idle,
        "POSTMARK_CELERY_KEY_PREFIX": prefix,
    }
    traces = [str(uuid.uuid4()) for _ in range(150)]
    r.rpush(f"{prefix}:dead", *(_letter("flaky", t) for t in traces))
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(replay_dead_letters(config)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(traces)
    assert r.llen(idle) == len(traces)
    assert r.llen(f"{prefix}:dead") == 0
    r.delete(idle)


# -- proof under load ------------------------------------------------------------------

LOAD_EVENTS = 5_000
LOAD_KINDS = ("bounce", "delivery", "open", "click", "spam_complaint", "subscription_change")


def test_load_with_a_redis_restart_loses_nothing_and_repeats_nothing(
    receiver: Callable[..., Flask],
    own_redis: RedisServer,
    control_url: str,
    ctl: redis.Redis,
    tmp_path: Path,
) -> None:
    """5,000 webhooks, two workers, Redis restarted (SIGTERM, AOF) in the middle."""
    run = uuid.uuid4().hex[:8]
    queue = f"load-{run}"
    ctl.delete("ctl:calls:steady", "ctl:calls:flaky", "ctl:attempts:steady", "ctl:attempts:flaky")
    workers = [
        start_worker(
            own_redis.url,
            tmp_path / f"load-{n}.log",
            queue,
            control=control_url,
            concurrency=4,
            POSTMARK_CELERY_VISIBILITY_TIMEOUT="30",
            POSTMARK_CELERY_LOCK_TIMEOUT="5",
        )
        for n in range(2)
    ]
    try:
        app = receiver(
            POSTMARK_CELERY_BROKER=own_redis.url,
            POSTMARK_CELERY_QUEUE=queue,
            POSTMARK_CELERY_REDIS_TIMEOUT=1,
        )
        bodies = [json.dumps(load_webhook(kind)).encode() for kind in LOAD_KINDS]
        acked = 0
        refused = 0
        lock = threading.Lock()
        halfway = threading.Event()
        restarted = threading.Event()
        started = time.monotonic()

        def send(numbers: range) -> None:
            nonlocal acked, refused
            client = app.test_client()
            for n in numbers:
                deadline = time.monotonic() + 120
                while True:  # as Postmark does: a 5xx is sent again, later
                    resp = client.post(
                        "/postmark/webhook",
                        data=bodies[n % len(bodies)],
                        content_type="application/json",
                        auth=AUTH,
                        headers={"X-PM-Webhook-Trace-Id": f"{run}-{n}"},
                    )
                    if resp.status_code == 200:
                        assert resp.headers.get("Postmark-Kit-Duplicate") != "true", n
                        break
                    assert resp.status_code == 503, resp.get_data(as_text=True)
                    with lock:
                        refused += 1
                    assert time.monotonic() < deadline, f"event {n} never accepted"
                    time.sleep(0.2)
                with lock:
                    acked += 1
                    if acked == LOAD_EVENTS // 2:
                        halfway.set()

        def restart() -> None:
            halfway.wait(timeout=300)
            own_redis.stop()  # SIGTERM: the AOF is written, as in a planned restart
            time.sleep(1.0)
            own_redis.start()
            restarted.set()

        senders = [
            threading.Thread(target=send, args=(range(i, LOAD_EVENTS, 4),)) for i in range(4)
        ]
        senders.append(threading.Thread(target=restart))
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        acked_after = time.monotonic() - started
        assert acked == LOAD_EVENTS and restarted.is_set()

        def handled() -> bool:
            return all(ctl.llen(f"ctl:calls:{p}") >= LOAD_EVENTS for p in ("steady", "flaky"))

        try:
            wait_for("every event in both plugins", handled, timeout=180)
        except AssertionError:
            counts = {p: ctl.llen(f"ctl:calls:{p}") for p in ("steady", "flaky")}
            seen = {json.loads(c)["key"] for c in ctl.lrange("ctl:calls:steady", 0, -1)}
            missing = sorted({f"trace:{run}-{n}" for n in range(LOAD_EVENTS)} - seen)[:5]
            state = redis.Redis.from_url(own_redis.url)
            where = {
                "queue": state.llen(queue),
                "unacked": state.hlen("unacked"),
                "dead": state.llen("postmark-kit:dead"),
                "missing": missing,
                "missing_keys": [sorted(k.decode() for k in state.keys(f"*{m}*")) for m in missing],
            }
            state.close()
            raise AssertionError(f"handled so far: {counts}; {where}") from None
        done_after = time.monotonic() - started
        time.sleep(3)  # a repeat would show up now
    finally:
        for proc in workers:
            stop_worker(proc)
    expected = {f"trace:{run}-{n}" for n in range(LOAD_EVENTS)}
    for plugin in ("steady", "flaky"):
        keys = [json.loads(c)["key"] for c in ctl.lrange(f"ctl:calls:{plugin}", 0, -1)]
        mine = [k for k in keys if k in expected]
        lost = expected - set(mine)
        duplicated = len(mine) - len(set(mine))
        print(
            f"\n{plugin}: {len(set(mine))} handled, lost {len(lost)}, duplicated {duplicated}; "
            f"{refused} answers were 503 around the restart; all acknowledged in "
            f"{acked_after:.1f}s, all handled in {done_after:.1f}s"
        )
        assert not lost
        assert duplicated == 0


def test_retry_that_cannot_be_queued_is_not_acknowledged(
    receiver: Callable[..., Flask],
    own_redis: RedisServer,
    redis_url: str,
    control_url: str,
    ctl: redis.Redis,
    tmp_path: Path,
) -> None:
    """The broker goes down as a failed plugin's retry is queued: the retry waits for it."""
    proc = start_worker(
        own_redis.url,
        tmp_path / "worker.log",
        control=control_url,
        POSTMARK_CELERY_REDIS=redis_url,  # the state store stays up
    )
    try:
        app = receiver(POSTMARK_CELERY_BROKER=own_redis.url, POSTMARK_CELERY_REDIS=redis_url)
        trace = str(uuid.uuid4())
        key = f"trace:{trace}"
        ctl.set(f"ctl:fail:flaky:{key}", 1)
        ctl.set(f"ctl:block:flaky:{key}", 1)
        assert post(app, load_webhook("bounce"), trace).status_code == 200
        wait_for("flaky's first attempt", lambda: attempts(ctl, "flaky", key) == 1)
        own_redis.stop()
        ctl.delete(f"ctl:block:flaky:{key}")  # it fails now, and its retry cannot be queued
        time.sleep(1.5)
        own_redis.start()
        wait_for("flaky's retry to succeed", lambda: calls(ctl, "flaky", key), timeout=40)
    finally:
        stop_worker(proc)
    assert attempts(ctl, "flaky", key) == 2
    assert len(calls(ctl, "steady", key)) == 1
