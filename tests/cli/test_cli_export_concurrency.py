"""``postmark-kit export`` walks pages concurrently and writes once per page.

Over real HTTP on 127.0.0.1 (the concurrency tests' loopback server): the
server proves overlap with a barrier, and the output file counts its writes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

import postmark_kit.cli as cli_module
from postmark_kit.cli import main
from tests.api.test_concurrency import TOKEN, Context, Loopback, Request
from tests.api.test_pagination import FakeSearch, outbound_dataset


class CountingFile:
    """The export's output file, counting ``write`` calls."""

    def __init__(self, inner: IO[str], writes: list[int]) -> None:
        self._inner = inner
        self._writes = writes

    def write(self, text: str) -> int:
        self._writes.append(text.count("\n"))
        return self._inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_export_walks_concurrently_and_writes_once_per_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, times = outbound_dataset(1_300, seed=21)
    fake = FakeSearch(records, times, "Messages")
    lock = threading.Lock()
    two = threading.Barrier(2, timeout=10)
    overlapped: list[bool] = []

    def handle(method: str, target: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if "offset=0&" not in target + "&" and not overlapped:
            try:  # the first two pages after the first wait for each other
                two.wait()
                overlapped.append(True)
            except threading.BrokenBarrierError:
                overlapped.append(False)
        with lock:
            context = Context()
            data = fake(Request("http://x" + target), context)
        return context.status_code, {}, data

    writes: list[int] = []
    real_open = open

    def counting_open(path: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        fh = real_open(path, mode, *args, **kw)
        return CountingFile(fh, writes) if str(path) == str(out) and "b" not in mode else fh

    monkeypatch.setattr(cli_module, "open", counting_open, raising=False)
    out = tmp_path / "all.jsonl"
    with Loopback(handle) as srv:
        result = CliRunner(env={"POSTMARK_SERVER_TOKEN": TOKEN}).invoke(
            main, ["export", "-o", str(out), "--base-url", srv.url, "--retries", "0"]
        )
        max_in_flight = srv.max_in_flight
        asked = len(srv.requests)
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["MessageID"] for line in out.read_text().splitlines()]
    assert ids == [r["MessageID"] for r in records]
    # Pages were in flight together (the barrier let two through at once) ...
    assert overlapped[:1] == [True] and max_in_flight >= 2
    # ... and the total came from the first page: 3 pages of 500, no extra call.
    assert asked == 3
    # One write per page (500, 500, 300 lines), not one per line.
    assert writes == [500, 500, 300]
