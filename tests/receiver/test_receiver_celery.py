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
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import load_webhook

pytestmark = pytest.mark.slow  # run by the full suite; skipped by -m 'not slow'

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


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    conn = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def up() -> bool:
        try:
            return bool(conn.ping())
        except redis.ConnectionError:
            assert proc.poll() is None, "redis-server exited"
            return False

    try:
        wait_for("redis-server", up, timeout=10)
        yield url
    finally:
        conn.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    yield conn
    conn.close()


def start_worker(
    redis_url: str, log_path: Path, queue: str = QUEUE, **settings: str
) -> subprocess.Popen[bytes]:
    """A real ``celery worker`` process on ``queue``, started and ready."""
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
                "--pool=threads",
                "-c",
                "2",
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

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"celery worker exited:\n{log_path.read_text()[-3000:]}")
        return b" ready." in log_path.read_bytes()

    try:
        wait_for("the celery worker", ready, timeout=30)
    except BaseException:
        stop_worker(proc)
        raise
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    proc = start_worker(redis_url, tmp_path_factory.mktemp("worker") / "worker.log")
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


def calls(r: redis.Redis, plugin: str, key: str) -> list[dict[str, Any]]:
    found = [json.loads(c) for c in r.lrange(f"ctl:calls:{plugin}", 0, -1)]
    return [c for c in found if c["key"] == key]


def attempts(r: redis.Redis, plugin: str, key: str) -> int:
    return sum(1 for a in r.lrange(f"ctl:attempts:{plugin}", 0, -1) if a.decode() == key)


def settle() -> None:
    """Long enough for a wrongly repeated task to have run (the worker is idle here)."""
    time.sleep(0.5)


@pytest.mark.usefixtures("worker")
def test_events_reach_each_plugin_once_with_their_metadata(
    receiver: Callable[..., Flask], r: redis.Redis
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
            f"{key} in both plugins", lambda k=key: calls(r, "steady", k) and calls(r, "flaky", k)
        )
    settle()
    for key, (kind, body) in sent.items():
        for plugin in ("steady", "flaky"):
            (call,) = calls(r, plugin, key)
            assert attempts(r, plugin, key) == 1
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
    app = receiver(POSTMARK_CELERY_QUEUE=idle, POSTMARK_DEDUPE_TTL=60)
    trace = str(uuid.uuid4())
    payload = load_webhook("bounce")
    first = post(app, payload, trace)
    again = post(app, payload, trace)
    other = post(app, payload, str(uuid.uuid4()))
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    queued = r.lrange(idle, 0, -1)
    assert len(queued) == 2
    assert 0 < r.ttl(f"postmark-kit:seen:trace:{trace}") <= 60
    for raw in queued:
        message = json.loads(raw)
        assert message["headers"]["task"] == TASK_NAME
        assert b"receiver-token-XYZ" not in raw
    r.delete(idle)


@pytest.mark.usefixtures("worker")
def test_postmark_retry_reaches_the_plugins_once(
    receiver: Callable[..., Flask], r: redis.Redis
) -> None:
    app = receiver()
    trace = str(uuid.uuid4())
    payload = load_webhook("delivery")
    assert post(app, payload, trace).status_code == 200
    assert post(app, payload, trace).status_code == 200
    key = f"trace:{trace}"
    wait_for("the delivery", lambda: calls(r, "steady", key))
    settle()
    assert attempts(r, "steady", key) == 1
    assert attempts(r, "flaky", key) == 1


@pytest.mark.usefixtures("worker")
def test_failing_plugin_is_retried_and_the_other_is_not_called_again(
    receiver: Callable[..., Flask], r: redis.Redis
) -> None:
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    r.set(f"ctl:fail:flaky:{key}", 2)
    assert post(receiver(), load_webhook("bounce"), trace).status_code == 200
    wait_for("flaky's third attempt to succeed", lambda: calls(r, "flaky", key))
    settle()
    assert attempts(r, "flaky", key) == 3
    assert attempts(r, "steady", key) == 1
    assert len(calls(r, "steady", key)) == 1
    assert not [
        d for d in dead_letters({"POSTMARK_CELERY_BROKER": r_url(r)}) if d.dedupe_key == key
    ]


def r_url(r: redis.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/0"


@pytest.mark.usefixtures("worker")
def test_plugin_failing_every_time_ends_in_the_dead_letters_and_replays(
    receiver: Callable[..., Flask], r: redis.Redis
) -> None:
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    r.set(f"ctl:fail:flaky:{key}", 1000)
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
    assert attempts(r, "flaky", key) == MAX_RETRIES + 1
    assert attempts(r, "steady", key) == 1
    assert calls(r, "flaky", key) == []

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
    r.delete(f"ctl:fail:flaky:{key}")
    replayed = CliRunner().invoke(main, ["events", "replay", "--celery", "--all"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "event(s) for the Celery workers" in replayed.output
    wait_for("the replayed event", lambda: calls(r, "flaky", key))
    settle()
    assert attempts(r, "steady", key) == 1
    assert len(calls(r, "flaky", key)) == 1
    assert dead() == []


def test_broker_down_answers_5xx_and_leaves_the_event_unseen(
    receiver: Callable[..., Flask], r: redis.Redis, redis_url: str
) -> None:
    down = f"redis://127.0.0.1:{_free_port()}/0"
    trace = str(uuid.uuid4())
    seen = f"postmark-kit:seen:trace:{trace}"
    payload = load_webhook("open")

    # Broker down, dedupe store up: the claim is taken, then dropped again.
    app = receiver(POSTMARK_CELERY_BROKER=down, POSTMARK_CELERY_REDIS=redis_url)
    started = time.monotonic()
    resp = post(app, payload, trace)
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "the event could not be queued"}
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
    receiver: Callable[..., Flask], r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    queue = f"crash-{uuid.uuid4()}"
    trace = str(uuid.uuid4())
    key = f"trace:{trace}"
    block = f"ctl:block:steady:{key}"
    r.set(block, 1)
    first = start_worker(redis_url, tmp_path / "first.log", queue)
    try:
        assert (
            post(receiver(POSTMARK_CELERY_QUEUE=queue), load_webhook("bounce"), trace).status_code
            == 200
        )
        wait_for("steady to start on the event", lambda: attempts(r, "steady", key) == 1)
        first.kill()  # SIGKILL mid-task: no ack, no warm shutdown
        first.wait(timeout=10)
    finally:
        stop_worker(first)
    r.delete(block)
    assert calls(r, "steady", key) == []
    # A second worker takes the unacknowledged task once its visibility timeout passed.
    second = start_worker(
        redis_url, tmp_path / "second.log", queue, POSTMARK_CELERY_VISIBILITY_TIMEOUT="1"
    )
    try:
        # kombu restores unacknowledged tasks on its own schedule: allow for a busy machine.
        wait_for("the task to be delivered again", lambda: calls(r, "steady", key), timeout=90)
        settle()
    finally:
        stop_worker(second)
    assert attempts(r, "steady", key) == 2
    assert len(calls(r, "steady", key)) == 1
    # flaky had finished before the kill (or had not started): called exactly once.
    assert attempts(r, "flaky", key) == 1


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
