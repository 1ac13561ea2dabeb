"""The operator's console: login, events, event page, failures and replay; in a real browser too."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from postmark_kit import hookimpl
from postmark_kit.plugins import EventStore
from postmark_kit.receiver import ConfigError, PostmarkReceiver
from postmark_kit.receiver.journal import WebhookJournal
from tests.conftest import load_webhook

CONSOLE_USER, CONSOLE_PASSWORD = "ops", "console-secret-1"
WEBHOOK_AUTH = ("postmark", "hook-secret-1")
PREFIX = "/postmark"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "_static" / "console"


class Flaky:
    """A plugin that fails bounces while ``broken`` (dead-lettered at once: max attempts 1)."""

    plugin_name = "crm-sync"

    def __init__(self) -> None:
        self.broken = True
        self.seen: list[str] = []

    @hookimpl
    def postmark_bounce(self, event: Any) -> None:
        if self.broken:
            raise ConnectionError("CRM answered 502 Bad Gateway")
        self.seen.append(event.email)


def _app(tmp_path: Path, plugin: Flaky, **extra: Any) -> Flask:
    app = Flask("console-host")
    app.config.update(
        POSTMARK_WEBHOOK_USERNAME=WEBHOOK_AUTH[0],
        POSTMARK_WEBHOOK_PASSWORD=WEBHOOK_AUTH[1],
        POSTMARK_DISPATCH="journal",
        POSTMARK_JOURNAL=str(tmp_path / "journal.sqlite3"),
        POSTMARK_JOURNAL_MAX_ATTEMPTS=1,
        POSTMARK_JOURNAL_POLL=0.02,
        POSTMARK_EVENT_STORE=str(tmp_path / "events.sqlite3"),
        POSTMARK_LOAD_ENTRYPOINTS=False,
        POSTMARK_CONSOLE=True,
        POSTMARK_CONSOLE_USERNAME=CONSOLE_USER,
        POSTMARK_CONSOLE_PASSWORD=CONSOLE_PASSWORD,
        **extra,
    )
    PostmarkReceiver(app, plugins=[plugin])
    return app


def _seed(app: Flask) -> None:
    """Bounces (two servers, two tags) and deliveries, each with its own trace id."""
    client = app.test_client()
    for i in range(6):
        bounce = load_webhook("bounce")
        bounce.update(
            Email=f"user{i}@example.com",
            MessageID=f"bounce-msg-{i}",
            Tag="welcome" if i % 2 else "invoice",
            ServerID=23 if i < 3 else 42,
        )
        delivery = load_webhook("delivery")
        delivery.update(Recipient=f"user{i}@example.com", MessageID=f"delivery-msg-{i}")
        for n, body in enumerate((bounce, delivery)):
            answer = client.post(
                f"{PREFIX}/webhook",
                data=json.dumps(body),
                content_type="application/json",
                auth=WEBHOOK_AUTH,
                headers={"X-PM-Webhook-Trace-Id": f"trace-{i}-{n}"},
            )
            assert answer.status_code == 200, answer.get_data(as_text=True)
    journal = WebhookJournal(app.config["POSTMARK_JOURNAL"])
    try:
        _until(lambda: journal.counts()["pending"] == 0, "the worker to run every event")
        assert journal.counts()["dead_letters"] == 6
    finally:
        journal.close()


def _until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.0005  # from half a millisecond up to 5 ms: done about when it holds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.005)


def _login(client: Any) -> Any:
    page = client.get(f"{PREFIX}/console/login")
    assert page.status_code == 200
    return client.post(
        f"{PREFIX}/console/login",
        data={"username": CONSOLE_USER, "password": CONSOLE_PASSWORD},
    )


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def plugin() -> Flaky:
    return Flaky()


@pytest.fixture
def app(tmp_path: Path, plugin: Flaky) -> Iterator[Flask]:
    app = _app(tmp_path, plugin)
    _seed(app)
    yield app
    PostmarkReceiver.shutdown(app)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The seeded console app, once for the tests that only read it (a replay changes it)."""
    app = _app(tmp_path_factory.mktemp("console"), Flaky())
    _seed(app)
    yield app
    PostmarkReceiver.shutdown(app)


# -- the console through Flask's test client -----------------------------------------


def test_console_is_off_by_default(tmp_path: Path) -> None:
    app = Flask("plain")
    app.config.update(POSTMARK_LOAD_ENTRYPOINTS=False)
    PostmarkReceiver(app)
    assert app.test_client().get(f"{PREFIX}/console/").status_code == 404
    PostmarkReceiver.shutdown(app)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"POSTMARK_CONSOLE": "true"}, "POSTMARK_CONSOLE_USERNAME"),
        ({"POSTMARK_CONSOLE": "true", "POSTMARK_CONSOLE_USERNAME": "a"}, "PASSWORD"),
        (
            {
                "POSTMARK_CONSOLE": "true",
                "POSTMARK_CONSOLE_USERNAME": "ops",
                "POSTMARK_CONSOLE_PASSWORD": "same",
                "POSTMARK_WEBHOOK_USERNAME": "postmark",
                "POSTMARK_WEBHOOK_PASSWORD": "same",
            },
            "must differ",
        ),
    ],
)
def test_console_needs_its_own_credentials(settings: dict[str, str], message: str) -> None:
    app = Flask("bad")
    app.config.update(POSTMARK_LOAD_ENTRYPOINTS=False, **settings)
    with pytest.raises(ConfigError, match=message):
        PostmarkReceiver(app)


def test_login_is_required_and_webhook_credentials_do_not_open_it(seeded: Flask) -> None:
    client = seeded.test_client()
    answer = client.get(f"{PREFIX}/console/events?kind=bounce")
    assert answer.status_code == 302
    assert "/console/login?next=" in answer.headers["Location"]
    # The webhook's Basic credentials are not the console's.
    assert client.get(f"{PREFIX}/console/", auth=WEBHOOK_AUTH).status_code == 302
    wrong = client.post(
        f"{PREFIX}/console/login", data={"username": WEBHOOK_AUTH[0], "password": WEBHOOK_AUTH[1]}
    )
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.get_data(as_text=True)
    # And the console's are not the webhook's.
    hook = client.post(
        f"{PREFIX}/webhook",
        data=json.dumps(load_webhook("open")),
        content_type="application/json",
        auth=(CONSOLE_USER, CONSOLE_PASSWORD),
    )
    assert hook.status_code == 401
    ok = _login(client)
    assert ok.status_code == 303
    page = client.get(f"{PREFIX}/console/")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # An outside ``next`` is not followed.
    again = client.post(
        f"{PREFIX}/console/login",
        data={"username": CONSOLE_USER, "password": CONSOLE_PASSWORD, "next": "//evil.example/"},
    )
    assert again.headers["Location"].endswith(f"{PREFIX}/console/")


def test_events_filters_and_paging(seeded: Flask) -> None:
    client = seeded.test_client()
    _login(client)

    def rows(query: str) -> list[str]:
        html = client.get(f"{PREFIX}/console/events?{query}").get_data(as_text=True)
        return re.findall(r'<a href="[^"]*/console/events/(\d+)">', html)

    assert len(rows("")) == 12
    assert len(rows("kind=bounce")) == 6
    assert len(rows("kind=bounce&tag=welcome")) == 3
    assert len(rows("kind=bounce&server=42")) == 3
    assert len(rows("recipient=USER1%40example.com")) == 2  # case-insensitive
    assert len(rows("message_id=delivery-msg-4")) == 1
    assert len(rows("since=2000-01-01&until=2000-01-02")) == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(rows(f"since={today}&until={today}")) == 12
    ids = rows("")
    assert ids == sorted(ids, key=int, reverse=True)  # newest first
    bad = client.get(f"{PREFIX}/console/events?server=x&since=yesterday").get_data(as_text=True)
    assert "server: not a number" in bad and "since: not a date" in bad


def test_event_page_shows_fields_raw_json_and_deliveries(seeded: Flask) -> None:
    client = seeded.test_client()
    _login(client)
    store = EventStore(seeded.config["POSTMARK_EVENT_STORE"], create=False)
    (bounce,) = store.query(message_id="bounce-msg-2")
    store.close()
    html = client.get(f"{PREFIX}/console/events/{bounce.id}").get_data(as_text=True)
    assert "BounceEvent" in html and "user2@example.com" in html
    assert "&#34;MessageID&#34;: &#34;bounce-msg-2&#34;" in html  # the raw JSON, escaped
    assert "crm-sync" in html and "CRM answered 502 Bad Gateway" in html
    assert client.get(f"{PREFIX}/console/events/999999").status_code == 404
    # From a dead letter (journal ids) to the stored event.
    journal = WebhookJournal(seeded.config["POSTMARK_JOURNAL"])
    (letter,) = [d for d in journal.dead_letters() if d.dedupe_key == bounce.dedupe_key]
    journal.close()
    hop = client.get(f"{PREFIX}/console/journal/{letter.event_id}")
    assert hop.status_code == 302 and hop.headers["Location"].endswith(f"/events/{bounce.id}")
    assert client.get(f"{PREFIX}/console/journal/999999").status_code == 404


def test_replay_needs_csrf_and_reaches_the_fixed_plugin(app: Flask, plugin: Flaky) -> None:
    client = app.test_client()
    _login(client)
    failures = client.get(f"{PREFIX}/console/failures").get_data(as_text=True)
    assert "crm-sync" in failures and "Replay all 6 for crm-sync" in failures
    confirm = client.get(f"{PREFIX}/console/failures/replay?plugin=crm-sync")
    token = _csrf(confirm.get_data(as_text=True))
    refused = client.post(f"{PREFIX}/console/failures/replay", data={"plugin": "crm-sync"})
    assert refused.status_code == 400
    journal = WebhookJournal(app.config["POSTMARK_JOURNAL"])
    try:
        assert journal.counts()["dead_letters"] == 6  # nothing replayed without the token
        plugin.broken = False
        done = client.post(
            f"{PREFIX}/console/failures/replay", data={"plugin": "crm-sync", "csrf_token": token}
        )
        assert done.status_code == 303 and "replayed=6" in done.headers["Location"]
        _until(
            lambda: len(plugin.seen) == 6 and journal.counts()["dead_letters"] == 0,
            "the replayed events to succeed",
        )
    finally:
        journal.close()
    assert sorted(plugin.seen) == [f"user{i}@example.com" for i in range(6)]
    assert "No dead letters" in client.get(f"{PREFIX}/console/failures").get_data(as_text=True)


def test_replay_to_a_plugin_not_loaded_is_refused(tmp_path: Path, plugin: Flaky) -> None:
    app = _app(tmp_path, plugin)
    _seed(app)
    PostmarkReceiver.shutdown(app)
    # The same files, a receiver without crm-sync: replaying would not reach it.
    other = Flask("other")
    other.config.update(app.config)
    PostmarkReceiver(other)
    try:
        client = other.test_client()
        _login(client)
        page = client.get(f"{PREFIX}/console/failures/replay?plugin=crm-sync")
        html = page.get_data(as_text=True)
        assert "not loaded in this receiver" in html
        answer = client.post(
            f"{PREFIX}/console/failures/replay",
            data={"plugin": "crm-sync", "csrf_token": _csrf(html)},
        )
        assert answer.status_code == 409
        journal = WebhookJournal(other.config["POSTMARK_JOURNAL"])
        assert journal.counts()["dead_letters"] == 6
        journal.close()
    finally:
        PostmarkReceiver.shutdown(other)


def test_overview_counts(seeded: Flask) -> None:
    client = seeded.test_client()
    _login(client)
    html = client.get(f"{PREFIX}/console/?period=hour").get_data(as_text=True)
    assert '<svg id="chart"' in html
    assert html.count('class="bar kind-bounce"') >= 1
    assert re.search(r'id="dead-letters"[^>]*>6<', html)
    assert re.search(r'id="stored">12<', html)
    # crm-sync: every delivery... it handles bounces only, all six dead.
    assert re.search(r"<td>crm-sync</td><td class=\"num\">0</td>", html)


# -- a real browser ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
)


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{PREFIX}/console"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: Any, name: str) -> None:
    """Save a screenshot for docs/console.md (only when POSTMARK_CONSOLE_SCREENSHOTS is set)."""
    if os.environ.get("POSTMARK_CONSOLE_SCREENSHOTS"):
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(DOCS_IMAGES / f"{name}.png"))


@pytest.mark.slow  # a browser (headless Chromium)
def test_console_in_headless_chromium(live: str, browser: Any, plugin: Flaky) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def wait(check: Any) -> Any:
        # A click returns before the next page is in: wait for what it should show.
        return WebDriverWait(browser, 15).until(lambda d: check(d))

    # Log in: the first page redirects to the form and back.
    browser.get(f"{live}/events")
    assert "Log in" in browser.title
    browser.find_element(By.ID, "username").send_keys(CONSOLE_USER)
    browser.find_element(By.ID, "password").send_keys(CONSOLE_PASSWORD)
    _shot(browser, "login")
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait(lambda d: d.title.startswith("Events"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")) == 12

    # Filter the events list.
    Select(browser.find_element(By.ID, "kind")).select_by_value("bounce")
    browser.find_element(By.ID, "tag").send_keys("welcome")
    browser.find_element(By.ID, "apply").click()
    wait(lambda d: "kind=bounce" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    assert len(rows) == 3
    assert all("bounce" in r.text and "welcome" in r.text for r in rows)
    assert "kind=bounce" in browser.current_url
    _shot(browser, "events")

    # Open an event.
    rows[0].find_element(By.TAG_NAME, "a").click()
    wait(lambda d: d.title.startswith("Event "))
    fields = browser.find_element(By.ID, "fields").text
    assert "BounceEvent" in fields and "welcome" in fields
    assert '"RecordType": "Bounce"' in browser.find_element(By.ID, "raw").text
    deliveries = browser.find_element(By.ID, "deliveries").text
    assert "crm-sync" in deliveries and "dead" in deliveries and "502 Bad Gateway" in deliveries
    _shot(browser, "event")

    # The overview chart is drawn: bars in the SVG, with a real size.
    browser.get(f"{live}/?period=hour")
    chart = browser.find_element(By.ID, "chart")
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert {b.get_attribute("class") for b in bars} >= {"bar kind-bounce", "bar kind-delivery"}
    assert all(float(b.get_attribute("height")) > 0 for b in bars)
    assert browser.find_element(By.ID, "dead-letters").text == "6"
    _shot(browser, "overview")

    # Replay one dead letter, confirm, and see it leave the failures page.
    browser.get(f"{live}/failures")
    assert "crm-sync" in browser.find_element(By.ID, "plugin-crm-sync").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.dead tbody tr")) == 6
    _shot(browser, "failures")
    first = browser.find_element(By.CSS_SELECTOR, "table.dead tbody tr")
    event_id = first.find_element(By.TAG_NAME, "td").text
    first.find_element(By.LINK_TEXT, "Replay…").click()
    confirm = wait(lambda d: d.find_elements(By.ID, "confirm"))
    assert confirm[0].is_displayed()
    _shot(browser, "replay")
    plugin.broken = False
    browser.find_element(By.ID, "do-replay").click()
    replayed = wait(lambda d: d.find_elements(By.ID, "replayed"))
    assert "Queued 1 event again" in replayed[0].text

    def gone() -> bool:
        browser.get(f"{live}/failures")
        cells = browser.find_elements(By.CSS_SELECTOR, "table.dead tbody tr td:first-child")
        return event_id not in [c.text for c in cells] and len(cells) == 5

    _until(gone, "the replayed dead letter to leave the failures page")
    _until(lambda: len(plugin.seen) == 1, "the fixed plugin to take the replayed event")


# -- postmark-kit console -------------------------------------------------------------


@pytest.mark.slow  # a CLI subprocess (postmark-kit console)
def test_console_command_serves_the_files_on_loopback(app: Flask) -> None:
    import subprocess
    import sys

    import requests

    command = [
        sys.executable,
        "-u",
        "-c",
        "from postmark_kit.cli import main; main()",
        "console",
        "--store",
        app.config["POSTMARK_EVENT_STORE"],
        "--journal",
        app.config["POSTMARK_JOURNAL"],
        "--port",
        "0",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMARK_")}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        address = re.search(r"(http://127\.0\.0\.1:\d+/console/)", first)
        password = re.search(r"log in as operator with password (\S+)", second)
        assert address and password, (first, second)
        with requests.Session() as http:
            login = http.post(
                address.group(1) + "login",
                data={"username": "operator", "password": password.group(1)},
                timeout=10,
            )
            assert login.status_code == 200 and "Overview" in login.text
            assert re.search(r'id="dead-letters"[^>]*>6<', login.text)
            events = http.get(address.group(1) + "events?kind=delivery", timeout=10)
            assert len(re.findall(r"/console/events/\d+\"", events.text)) == 6
            assert (
                http.post(
                    address.group(1) + "login",
                    data={"username": "operator", "password": "x"},
                    timeout=10,
                ).status_code
                == 401
            )
    finally:
        proc.terminate()
        proc.wait(10)


def test_console_command_refuses_missing_files(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from postmark_kit.cli import main

    result = CliRunner().invoke(main, ["console", "--store", str(tmp_path / "none.sqlite3")])
    assert result.exit_code == 2
    assert "no event store at" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["console"], env={"POSTMARK_EVENT_STORE": "", "POSTMARK_JOURNAL": ""}
    )
    assert result.exit_code == 2 and "--store and/or --journal" in result.output


def test_a_store_from_an_older_version_is_upgraded(tmp_path: Path) -> None:
    """Stores written before tag/server_id and the hourly counts get them on open."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    path = tmp_path / "old.sqlite3"
    bounce = load_webhook("bounce")
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, dedupe_key TEXT NOT NULL,"
            " kind TEXT NOT NULL, record_type TEXT, message_id TEXT, recipient TEXT,"
            " trace_id TEXT, received_at TEXT NOT NULL, raw TEXT NOT NULL)"
        )
        now = datetime.now(UTC)
        db.execute(
            "INSERT INTO events (dedupe_key, kind, record_type, message_id, recipient,"
            " received_at, raw) VALUES ('k1', 'bounce', 'Bounce', 'm1', 'a@example.com', ?, ?)",
            (now.isoformat(), json.dumps(bounce)),
        )
    store = EventStore(path, create=False)
    try:
        (row,) = store.query(tag=bounce["Tag"], server_id=bounce["ServerID"])
        assert (row.tag, row.server_id) == (bounce["Tag"], bounce["ServerID"])
        counts = store.kind_counts(now - timedelta(days=1), now + timedelta(hours=1))
        assert sum(counts["bounce"]) == 1
    finally:
        store.close()


def test_console_works_beside_flask_wtf_csrf(tmp_path: Path, plugin: Flaky) -> None:
    """The host app's CSRFProtect leaves the console's forms alone: they carry their own token."""
    flask_wtf = pytest.importorskip("flask_wtf.csrf")
    app = Flask("wtf-host")
    app.config["SECRET_KEY"] = "host-secret"
    flask_wtf.CSRFProtect(app)
    app.config.update(
        POSTMARK_LOAD_ENTRYPOINTS=False,
        POSTMARK_CONSOLE=True,
        POSTMARK_CONSOLE_USERNAME=CONSOLE_USER,
        POSTMARK_CONSOLE_PASSWORD=CONSOLE_PASSWORD,
        POSTMARK_EVENT_STORE=str(tmp_path / "events.sqlite3"),
    )
    PostmarkReceiver(app, plugins=[plugin])
    try:
        client = app.test_client()
        assert _login(client).status_code == 303
        page = client.get(f"{PREFIX}/console/events")
        assert page.status_code == 200
        logout = client.post(
            f"{PREFIX}/console/logout", data={"csrf_token": _csrf(page.get_data(as_text=True))}
        )
        assert logout.status_code == 303
        assert client.get(f"{PREFIX}/console/events").status_code == 302  # logged out
    finally:
        PostmarkReceiver.shutdown(app)
