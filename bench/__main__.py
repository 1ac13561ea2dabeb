"""``python -m bench``: every benchmark, ours vs a baseline in the same run, as ratios.

Exits 1 when a target is missed.  Options: ``--quick`` (fewer repetitions),
``--only NAME`` (substring of benchmark names).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests

from . import data
from .results import Result, print_table
from .server import CannedServer, response_bytes

TOKEN = "bench-token"  # noqa: S105 - a fake token for a local server
MESSAGE_ID = "07311c54-0687-4ab9-b034-b54b5bad88ba"
NY = ZoneInfo("America/New_York")
STREAM_TOTAL = 100_000


class Samples:
    """Per-round timings of several contenders, measured in the same rounds.

    The host's speed drifts by 2x or more within seconds, so a ratio of two
    separately taken medians is noise.  Each round times every contender back
    to back (order rotated round to round) and a ratio is the median of the
    per-round ratios: drift cancels within a round, outliers drop out.
    """

    def __init__(self, rounds: dict[str, list[float]]) -> None:
        self.rounds = rounds

    def __getitem__(self, name: str) -> float:
        """Median seconds per call."""
        return statistics.median(self.rounds[name])

    def __contains__(self, name: str) -> bool:
        return name in self.rounds

    def ratio(self, a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(self.rounds[a], self.rounds[b], strict=True))


def interleaved(contenders: dict[str, Callable[[], Any]], calls: int, reps: int) -> Samples:
    """Seconds per call of each contender in ``reps`` rounds of ``calls`` calls each."""
    for fn in contenders.values():  # warm-up: connections, generated hooks, caches
        for _ in range(max(2, calls)):
            fn()
    names = list(contenders)
    rounds: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(reps):
        shift = rep % len(names)
        order = names[shift:] + names[:shift]
        if (rep // len(names)) % 2:
            order.reverse()
        for name in order:
            fn = contenders[name]
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            rounds[name].append((time.perf_counter() - t0) / calls)
    return Samples(rounds)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


# --------------------------------------------------------------------------- server


def stream_route(method: str, target: str) -> bytes | None:
    """The 100,000-message mailbox behind ``outbound.stream``: honours count, offset, todate."""
    parts = urlsplit(target)
    if method != "GET" or parts.path != "/messages/outbound":
        return None
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    count, offset = int(q.get("count", "100")), int(q.get("offset", "0"))
    start = 0
    if "todate" in q:
        to = datetime.fromisoformat(q["todate"]).replace(tzinfo=NY)
        start = max(0, math.ceil((data.BASE_TIME - to).total_seconds()))
    total = STREAM_TOTAL - start
    if offset + count > 10_000:
        return response_bytes(b'{"ErrorCode":300,"Message":"window"}', "422 Unprocessable Entity")
    return response_bytes(
        data.outbound_page(start + offset, count, STREAM_TOTAL)
        if total
        else b'{"TotalCount":0,"Messages":[]}'
    )


def make_server() -> CannedServer:
    routes = {
        ("GET", f"/messages/outbound/{MESSAGE_ID}/details"): response_bytes(data.details()),
        ("GET", "/messages/outbound"): response_bytes(data.outbound_page(0, 500, 10_000)),
        ("POST", "/email/batch"): response_bytes(data.batch_results(500)),
    }
    return CannedServer(routes)


def server_ceiling(url: str, seconds: float = 1.0) -> float:
    """Requests/s of the canned server alone, driven by a minimal raw-socket client."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    req = (f"GET /messages/outbound/{MESSAGE_ID}/details HTTP/1.1\r\nHost: {host}\r\n\r\n").encode()
    with socket.create_connection((host, port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        expected = len(response_bytes(data.details()))
        n = 0
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < deadline:
            s.sendall(req)
            got = 0
            while got < expected:
                got += len(s.recv(65536))
            n += 1
        return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- client benchmarks


def peers(url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Installed peer clients pointed at ``url``; reasons for the ones that are not."""
    out: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    try:
        from postmarker.core import PostmarkClient

        out["postmarker"] = PostmarkClient(server_token=TOKEN, root_api_url=url + "/")
    except Exception as exc:
        skipped["postmarker"] = f"{type(exc).__name__}: {exc}"
    try:
        import postmark.sync

        out["postmark-python"] = postmark.sync.ServerClient(TOKEN, base_url=url, retries=0)
    except Exception as exc:
        skipped["postmark-python"] = f"{type(exc).__name__}: {exc}"
    return out, skipped


def bench_client(url: str, reps: int, results: list[Result], only: str) -> None:
    from postmark_kit import ServerClient

    client = ServerClient(TOKEN, base_url=url, retries=0)
    raw = requests.Session()
    headers = {"X-Postmark-Server-Token": TOKEN, "Accept": "application/json"}
    peer, skipped = peers(url)
    details_url = f"{url}/messages/outbound/{MESSAGE_ID}/details"
    page_url = f"{url}/messages/outbound"

    small: dict[str, Callable[[], Any]] = {
        "ours": lambda: client.outbound.get(MESSAGE_ID),
        "raw": lambda: raw.get(details_url, headers=headers, timeout=10).json(),
    }
    page: dict[str, Callable[[], Any]] = {
        "ours": lambda: client.outbound.list(count=500),
        "raw": lambda: raw.get(
            page_url, params={"count": "500", "offset": "0"}, headers=headers, timeout=10
        ).json(),
    }
    if "postmarker" in peer:
        pm = peer["postmarker"]
        small["postmarker"] = lambda: pm.messages.outbound.get(MESSAGE_ID)
        outbound = pm.messages.outbound

        def postmarker_page() -> Any:
            # One page as postmarker's own ``all()`` builds each page: call + model bags.
            data = outbound.call("GET", "/messages/outbound", count=500, offset=0)
            return outbound._init_many(data["Messages"])

        page["postmarker"] = postmarker_page
    if "postmark-python" in peer:
        pp = peer["postmark-python"]
        small["postmark-python"] = lambda: pp.outbound.get(MESSAGE_ID)
        page["postmark-python"] = lambda: pp.outbound.list(count=500, offset=0)

    if "small" in only or not only:
        t = interleaved(small, calls=4, reps=40 * reps)
        results.append(cmp("small call", t, "ours", "raw", 1.05, "ours/raw <= 1.05"))
        results.extend(
            peer_rows("peers, small call", t, skipped, {"postmarker": 1.0, "postmark-python": 0.6})
        )
    if "page" in only or not only:
        # Sanity: every contender really got 500 items.
        assert len(client.outbound.list(count=500).items) == 500
        t = interleaved(page, calls=1, reps=20 * reps)
        results.append(cmp("500-item page", t, "ours", "raw", 1.5, "ours/raw <= 1.5"))
        results.extend(
            peer_rows(
                "peers, 500-item page", t, skipped, {"postmarker": 1.0, "postmark-python": 0.25}
            )
        )


def cmp(name: str, t: Samples, a: str, b: str, limit: float, target: str) -> Result:
    ratio = t.ratio(a, b)
    return Result(name, ms(t[a]), f"{b} {ms(t[b])}", ratio, target, ratio <= limit)


def peer_rows(
    name: str, t: Samples, skipped: dict[str, str], limits: dict[str, float]
) -> list[Result]:
    rows = []
    for peer_name, limit in limits.items():
        target = f"ours/{peer_name} <= {limit}"
        if peer_name in t:
            rows.append(cmp(f"{name} vs {peer_name}", t, "ours", peer_name, limit, target))
        else:
            rows.append(
                Result(
                    f"{name} vs {peer_name}",
                    "-",
                    "-",
                    None,
                    target,
                    None,
                    f"skipped: {skipped.get(peer_name, 'not installed')}",
                )
            )
    return rows


def bench_batch(url: str, server: CannedServer, reps: int, results: list[Result]) -> None:
    from postmark_kit import ServerClient
    from postmark_kit.convert import unstructure
    from postmark_kit.models.email import Email

    emails = [
        Email(
            from_email="sender@example.com",
            to=f"receiver{i}@example.com",
            subject=f"Hello {i}",
            text_body="Hello, this is a benchmark message.\n" * 4,
            html_body="<p>Hello, this is a benchmark message.</p>" * 4,
            tag="bench",
            metadata={"n": str(i)},
            message_stream="outbound",
        )
        for i in range(10_000)
    ]
    # The baseline: the same messages as plain dicts, already cut into 500s (built
    # outside the timing), each chunk POSTed with requests' json=. It pays what
    # every client must (JSON encoding of the messages, decoding of the answers),
    # none of the rest (models to dicts, validation, size limits, typed results).
    chunks = [[unstructure(e) for e in emails[i : i + 500]] for i in range(0, 10_000, 500)]
    headers = {"X-Postmark-Server-Token": TOKEN, "Accept": "application/json"}
    counts: list[tuple[int, int]] = []

    def ours() -> None:
        client = ServerClient(TOKEN, base_url=url, retries=0)
        server.reset_counts()
        out = client.email.send_batch(emails, concurrency=1)
        counts.append((server.requests, server.connections))
        assert len(out) == 10_000
        client.close()

    def raw() -> None:
        with requests.Session() as s:
            for chunk in chunks:
                s.post(url + "/email/batch", json=chunk, headers=headers, timeout=60).json()

    t = interleaved({"ours": ours, "raw": raw}, calls=1, reps=10 * reps)
    r = cmp("batch send 10,000", t, "ours", "raw", 1.2, "ratio <= 1.2; 20 req / 1 conn")
    bad = [c for c in counts if c != (20, 1)]
    r.note = f"requests/connections per run: {counts[-1][0]}/{counts[-1][1]}"
    if bad:
        r.ok = False
        r.note += f" (mismatch: {bad[0]})"
    results.append(r)


def bench_stream(url: str, results: list[Result]) -> None:
    def run(n: int) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.stream_child", url, str(n)],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return json.loads(out.stdout)

    small, big = run(1_000), run(STREAM_TOTAL)
    growth = big["peak_mb"] - small["peak_mb"]
    ok = big["seen"] == STREAM_TOTAL and small["seen"] == 1_000 and growth <= 30
    results.append(
        Result(
            "streaming memory",
            f"{big['seen']:,} msgs: {big['peak_mb']:.1f} MB",
            f"{small['seen']:,} msgs: {small['peak_mb']:.1f} MB",
            None,
            "peak RSS growth <= 30 MB",
            ok,
            f"growth {growth:+.1f} MB",
        )
    )


@functools.lru_cache(maxsize=256)
def latency_route(method: str, target: str) -> bytes | None:
    """The 100,000-message mailbox, plus batch results sized to each batch.

    Cached: building a page must cost the server nothing after the warm-up
    round (it runs in its own process: ``bench/latency_server.py``).
    """
    if method == "POST" and target == "/email/batch":
        return BATCH_500
    return stream_route(method, target)


BATCH_500 = response_bytes(data.batch_results(500))
LATENCY = 0.020
EXPORT = 20_000
#: Targets at 20 ms per request (issue 20): ours / postmarker.
LATENCY_TARGETS = {"export": 0.33, "batch": 0.35}


@contextlib.contextmanager
def latency_server(latency: float) -> Iterator[str]:
    """The latency scenario's server in a child process (same for every contender); its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_server", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"latency server did not start: {url!r}")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_latency(reps: int, results: list[Result], latency: float = LATENCY) -> None:
    """What users with a real network see: ``latency`` per request, plus a 2-RTT handshake
    per new connection, ours (4 pages / chunks in flight) vs postmarker, postmark-python and
    plain sequential ``requests``.

    Export: every message of a 20,000-message search, 500 a page (past the
    10,000 window: ours narrows the date filter itself; the others stop at
    the window, so they are called twice with ``todate`` moved, as their users
    would).  Batch: 10,000 emails in batches of 500.  The floor is
    ``requests x RTT / N`` (docs/performance.md).
    """
    from postmark_kit import Email, ServerClient
    from postmark_kit.convert import unstructure

    ms_label = f"{latency * 1000:.0f} ms"
    with latency_server(latency) as url:
        peer, skipped = peers(url)
        ours_client = ServerClient(TOKEN, base_url=url, retries=0)
        emails = [
            Email(
                from_email="sender@example.com",
                to=f"receiver{i}@example.com",
                subject=f"Hello {i}",
                text_body="Hello, this is a benchmark message.\n" * 4,
                tag="bench",
                message_stream="outbound",
            )
            for i in range(10_000)
        ]
        dicts = [unstructure(e) for e in emails]
        chunks = [dicts[i : i + 500] for i in range(0, 10_000, 500)]
        raw = requests.Session()
        headers = {"X-Postmark-Server-Token": TOKEN, "Accept": "application/json"}

        def ours_export() -> None:
            n = sum(1 for _ in ours_client.outbound.stream(max_items=EXPORT))
            assert n == EXPORT, n

        def ours_batch() -> None:
            assert len(ours_client.email.send_batch(emails)) == 10_000

        def raw_export() -> None:
            # What a hand-written loop does: pages one after another, the
            # second window's todate taken from the first one's oldest message.
            got, todate = 0, None
            for _window in range(2):
                oldest = ""
                for offset in range(0, 10_000, 500):
                    params = {"count": "500", "offset": str(offset)}
                    if todate:
                        params["todate"] = todate
                    page = raw.get(
                        url + "/messages/outbound", params=params, headers=headers, timeout=30
                    ).json()
                    got += len(page["Messages"])
                    oldest = page["Messages"][-1]["ReceivedAt"]
                moment = datetime.fromisoformat(oldest).astimezone(NY).replace(tzinfo=None)
                todate = moment.isoformat(timespec="seconds")
            assert got >= EXPORT - 1

        def raw_batch() -> None:
            for chunk in chunks:
                r = raw.post(url + "/email/batch", json=chunk, headers=headers, timeout=60)
                assert len(r.json()) == 500

        pool = ThreadPoolExecutor(4)
        sessions = threading.local()

        def raw_page(offset: int, todate: str | None) -> list[Any]:
            session = getattr(sessions, "session", None)
            if session is None:
                session = sessions.session = requests.Session()
            params = {"count": "500", "offset": str(offset)}
            if todate:
                params["todate"] = todate
            page = session.get(
                url + "/messages/outbound", params=params, headers=headers, timeout=30
            )
            messages: list[Any] = page.json()["Messages"]
            return messages

        def raw4_export() -> None:
            # The floor of any client that decodes JSON: 4 connections, plain
            # dicts, no typed models, no deduplication, each window's 20 pages
            # all in flight at once (the second window's todate from the first).
            got, todate = 0, None
            for _window in range(2):
                offsets = range(0, 10_000, 500)
                pages = list(pool.map(raw_page, offsets, [todate] * len(offsets)))
                got += sum(len(p) for p in pages)
                oldest = pages[-1][-1]["ReceivedAt"]
                moment = datetime.fromisoformat(oldest).astimezone(NY).replace(tzinfo=None)
                todate = moment.isoformat(timespec="seconds")
            assert got >= EXPORT - 1

        export: dict[str, Callable[[], Any]] = {
            "ours": ours_export,
            "raw": raw_export,
            "raw4": raw4_export,
        }
        batch: dict[str, Callable[[], Any]] = {"ours": ours_batch, "raw": raw_batch}
        if "postmarker" in peer:
            pm = peer["postmarker"]

            def postmarker_export() -> None:
                first = pm.messages.outbound.all(count=10_000)
                oldest = min(datetime.fromisoformat(m.ReceivedAt) for m in first)
                todate = oldest.astimezone(NY).replace(tzinfo=None).isoformat(timespec="seconds")
                second = pm.messages.outbound.all(count=10_000, todate=todate)
                assert len(first) + len(second) >= EXPORT - 1

            def postmarker_batch() -> None:
                assert len(pm.emails.send_batch(*dicts)) == 10_000

            export["postmarker"] = postmarker_export
            batch["postmarker"] = postmarker_batch
        if "postmark-python" in peer:
            pp = peer["postmark-python"]

            def postmark_python_export() -> None:
                got, to_date = 0, None
                for _window in range(2):
                    oldest = None
                    for offset in range(0, 10_000, 500):
                        page = pp.outbound.list(count=500, offset=offset, to_date=to_date)
                        got += len(page.items)
                        oldest = page.items[-1].received_at
                    assert oldest is not None
                    to_date = oldest.astimezone(NY).replace(tzinfo=None, microsecond=0)
                assert got >= EXPORT - 1

            def postmark_python_batch() -> None:
                sent = sum(len(pp.outbound.send_batch(chunk)) for chunk in chunks)
                assert sent == 10_000

            export["postmark-python"] = postmark_python_export
            batch["postmark-python"] = postmark_python_batch
        # Warm-up: the server's page cache, and every contender's connections.
        for group in (export, batch):
            for run in group.values():
                run()
        for workload, label, group, n_requests in (
            ("export", f"export {EXPORT:,}", export, EXPORT // 500 + 1),
            ("batch", "batch send 10,000", batch, 20),
        ):
            t = interleaved(group, calls=1, reps=max(2, reps))
            floor = n_requests * latency / 4
            note = f"{n_requests} requests; floor at 4 connections ~{floor:.2f} s"
            limit = LATENCY_TARGETS[workload] if latency == LATENCY else None
            for other in ("postmarker", "postmark-python", "raw"):
                name = f"latency {ms_label}: {label} vs {other}"
                if other not in t:
                    reason = skipped.get(other, "not installed")
                    results.append(
                        Result(name, f"{t['ours']:.2f} s", "-", None, "reported", None, reason)
                    )
                    continue
                ratio = t.ratio("ours", other)
                baseline = f"{other} {t[other]:.2f} s"
                if other == "postmarker" and limit is not None:
                    target, ok = f"ours/postmarker <= {limit}", ratio <= limit
                else:
                    target, ok = "reported", None
                shown = "sequential requests" if other == "raw" else other
                results.append(
                    Result(
                        name,
                        f"{t['ours']:.2f} s",
                        baseline.replace("raw", shown),
                        ratio,
                        target,
                        ok,
                        note,
                    )
                )
            if workload == "export" and "postmarker" in t:
                results.append(
                    Result(
                        f"latency {ms_label}: export {EXPORT:,}, plain requests x4 vs postmarker",
                        f"{t['raw4']:.2f} s",
                        f"postmarker {t['postmarker']:.2f} s",
                        t.ratio("raw4", "postmarker"),
                        "reported",
                        None,
                        "dicts only, no models: the floor for the export target",
                    )
                )
        pool.shutdown()
        ours_client.close()
        raw.close()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", default="", help="run benchmarks whose group contains this")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=LATENCY * 1000,
        help="per-request latency of the latency scenario (targets apply at 20)",
    )
    args = parser.parse_args(argv)
    reps = 1 if args.quick else 4
    only = args.only
    print(f"python {platform.python_version()} on {platform.platform()}, nproc={os.cpu_count()}")
    results: list[Result] = []
    with make_server() as server:
        print(
            f"canned server ceiling (raw socket, small response): "
            f"{server_ceiling(server.url):,.0f} req/s"
        )
        # The batch runs first, before the peer clients (pydantic and all) are
        # imported: 10,000 typed results feed the cyclic GC, whose full
        # collections walk the whole heap, and the peers' modules would make
        # each one dearer (about +0.1 on the ratio; see docs/performance.md).
        batch: list[Result] = []
        if not only or "batch" in only:
            bench_batch(server.url, server, reps, batch)
        if not only or "small" in only or "page" in only:
            bench_client(server.url, reps, results, only)
        results.extend(batch)
    if not only or "stream" in only:
        with CannedServer({}, default=stream_route) as sserver:
            bench_stream(sserver.url, results)
    if not only or "latency" in only:
        bench_latency(1 if args.quick else 2, results, args.latency_ms / 1000)
    if not only or "receiver" in only:
        from .receiver import bench_receiver

        results.extend(bench_receiver(quick=args.quick))
    if not only or "inbound" in only or "memory" in only:
        from .inbound_memory import bench_inbound_memory

        results.extend(bench_inbound_memory(quick=args.quick))
    if not only or "console" in only:
        from .console import bench_console

        results.extend(bench_console(quick=args.quick))
    print()
    print_table(results)
    failed = [r for r in results if r.ok is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
