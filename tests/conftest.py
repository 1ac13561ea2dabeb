"""Shared fixtures: mocked Postmark, documented example responses, the webhook payloads."""

from __future__ import annotations

import ast
import gc
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests_mock as requests_mock_module

from postmark_kit import AccountClient, RetryPolicy, ServerClient
from postmark_kit.testing import payloads

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Postmark's API catalog: every operation, its path, token and example (tests/data/README.md).
CATALOG = Path(__file__).resolve().parent / "data" / "endpoints.yaml"
API = "https://api.postmarkapp.com"
SERVER_TOKEN = "server-token-0123"
ACCOUNT_TOKEN = "account-token-4567"


#: Free space a tmpfs needs before the suite puts its temporary files there.
RAM_TEMP_MIN_FREE = 2 * 1024**3


def pytest_configure(config: pytest.Config) -> None:
    """Temporary folders in RAM (``/dev/shm``) on Linux when it is roomy and nothing chose one.

    Most receiver tests write SQLite files (journal, event store) in ``tmp_path``;
    on a disk, their fsyncs were half the wall time of the inner loop.  A
    ``--basetemp``, ``TMPDIR`` or ``PYTEST_DEBUG_TEMPROOT`` of yours wins.
    """
    chosen = (os.environ.get(name) for name in ("TMPDIR", "PYTEST_DEBUG_TEMPROOT"))
    if config.option.basetemp or any(chosen):
        return
    shm = "/dev/shm"
    try:
        free = os.statvfs(shm)
    except OSError:
        return
    if os.access(shm, os.W_OK) and free.f_bavail * free.f_frsize >= RAM_TEMP_MIN_FREE:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = shm


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """No cyclic garbage collection while collecting; then freeze what collection built.

    Collection imports every test module and builds every test item: almost
    nothing it creates is garbage, yet the growing heap set off about 20 full
    collections (2 s of the inner loop's CPU).  Afterwards, what it built lives
    to the end: frozen, no later full collection walks it again (that saved
    another 3 to 4 s).  Garbage is collected first, and what the tests create
    is collected as usual.  This is the test process only: library code
    changes no interpreter-wide state (``tests/test_code_rules.py``).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        gc.collect()
        gc.freeze()
        if was_enabled:
            gc.enable()


def _inner_loop(config: pytest.Config) -> bool:
    """Whether this run is the inner loop: ``-m "not slow"``."""
    return " ".join(str(config.option.markexpr).split()) == "not slow"


#: A module's own line marking all of it slow (``tests/test_inner_loop.py``).
_SLOW_MODULE = re.compile(r"^pytestmark = pytest\.mark\.slow\b", re.MULTILINE)


def _slow_as_a_whole(path: Path) -> bool:
    """Whether the module at ``path`` says ``pytestmark = pytest.mark.slow`` at top level."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not _SLOW_MODULE.search(source):
        return False
    try:
        tree = ast.parse(source)  # the line, not text inside a string that looks like it
    except SyntaxError:
        return False  # collected as usual: the error is reported
    return any(
        isinstance(node, ast.Assign) and ast.unparse(node) == "pytestmark = pytest.mark.slow"
        for node in tree.body
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The inner loop does not import the modules that are slow as a whole.

    That selection would deselect every test of theirs anyway, and importing
    them costs the loop: assertion rewriting, and what they import (Celery,
    Redis, gunicorn helpers; Hypothesis alone, in the ``*_fuzz.py`` files,
    about a second).  Any other selection collects them as usual.
    """
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if not _inner_loop(config):
        return None
    return _slow_as_a_whole(collection_path) or None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """No Hypothesis test ran: leave Hypothesis' pytest plugin out of the summary.

    Its terminal summary imports Hypothesis whatever ran (over a second under
    assertion rewriting) to report statistics and failing examples, which only
    a Hypothesis test makes.  An xdist controller never imports Hypothesis
    itself: there only the inner loop, which runs none, drops the plugin.
    """
    manager = session.config.pluginmanager
    plugin = manager.get_plugin("hypothesispytest")
    if plugin is None or "hypothesis" in sys.modules:
        return
    if manager.has_plugin("dsession") and not _inner_loop(session.config):
        return
    manager.unregister(plugin)


def load_response(operation_id: str) -> Any:
    """Postmark's documented example response for an operation of endpoints.yaml."""
    return json.loads((FIXTURES / "responses" / f"{operation_id}.json").read_text())


def load_webhook(name: str) -> Any:
    """Postmark's documented webhook payload (bounce, delivery, open, click, ...).

    The shipped copies (``postmark_kit/testing/payloads/*.json``), as users get them.
    """
    return payloads.documented(name)


@pytest.fixture
def mock_api() -> Iterator[requests_mock_module.Mocker]:
    """requests-mock, refusing any request that was not registered."""
    with requests_mock_module.Mocker() as m:
        yield m


@pytest.fixture
def no_sleep_retries() -> RetryPolicy:
    return RetryPolicy(max_retries=3, sleep=lambda _s: None)


@pytest.fixture
def server_client(no_sleep_retries: RetryPolicy) -> Iterator[ServerClient]:
    with ServerClient(SERVER_TOKEN, base_url=API, retries=no_sleep_retries) as client:
        yield client


@pytest.fixture
def account_client(no_sleep_retries: RetryPolicy) -> Iterator[AccountClient]:
    with AccountClient(ACCOUNT_TOKEN, base_url=API, retries=no_sleep_retries) as client:
        yield client


#: The folder of every test's default receiver files (``_defaults_folder``).
_DEFAULTS_FOLDER = pytest.StashKey[Path]()
#: The variables set for the running test, removed after it.
_SET_FOR_TEST = pytest.StashKey[list[str]]()


def _defaults_folder(config: pytest.Config) -> Path:
    """One temporary folder per run for the receiver files the tests do not choose."""
    folder = config.stash.get(_DEFAULTS_FOLDER, None)
    if folder is None:
        root = os.environ.get("PYTEST_DEBUG_TEMPROOT") or None  # else TMPDIR or /tmp
        folder = Path(tempfile.mkdtemp(prefix="postmark-kit-tests-", dir=root))
        config.stash[_DEFAULTS_FOLDER] = folder
    return folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_DEFAULTS_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def receiver_defaults_dir(pytestconfig: pytest.Config) -> Path:
    """One folder for every test's default receiver files (see ``test_file``)."""
    return _defaults_folder(pytestconfig)


_TEST_FILES = itertools.count()


def test_file(folder: Path, name: str) -> str:
    """A path in ``folder`` that no other test of the session uses.

    The per-test settings below need a file per test, not a folder: ``tmp_path``
    costs a few milliseconds, and paying it for every test was seconds a run.
    """
    return str(folder / f"t{next(_TEST_FILES)}-{name}")


test_file.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


#: The standalone receiver's file settings, and the file name each gets per test.
_RECEIVER_FILES = (("POSTMARK_JOURNAL", "journal"), ("POSTMARK_EVENT_STORE", "events"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The standalone receiver's SQLite files (journal, store) go to a temporary folder.

    Their defaults are relative to the working directory: a test building
    ``create_app()`` must never leave files in the checkout.  Set here, before
    the test's fixtures, and removed after them (``pytest_runtest_teardown``):
    an autouse fixture doing this for every test was about a fifth of pytest's
    own cost per test.  A test's ``monkeypatch`` of these variables is undone
    before they are removed.
    """
    folder = _defaults_folder(item.config)
    added = []
    for key, name in _RECEIVER_FILES:
        if key not in os.environ:
            os.environ[key] = test_file(folder, f"default-{name}.sqlite3")
            added.append(key)
    item.stash[_SET_FOR_TEST] = added


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    for key in item.stash.get(_SET_FOR_TEST, ()):
        os.environ.pop(key, None)
