"""Peak memory of in-flight inbound webhooks, as a multiple of their bodies (issue 14).

``python -m bench.inbound_memory [MB ...]``: for each size and set-up, a fresh
process builds the standalone receiver (event store on, no journal worker
thread: the request alone is measured), posts inbound messages with an
attachment of that size through the Flask test client, and reports the peak
during the requests, divided by the bodies' total size:

* ``python``: Python's allocations (``tracemalloc``);
* ``RSS``: the process's resident memory (``VmHWM`` reset before the requests),
  which also counts SQLite's own buffers.

Set-ups: ``journal`` (the standalone default: journaled in the request,
plugins later), ``inline`` (plugins, the event store among them, in the
request), ``inline-bare`` (no event store: a drop-in receiver) and
``journal-worker`` (journal mode with its worker thread: the peak until the
plugins, the event store among them, have run), one request at a time; ``x8``
rows post 8 at once from 8 threads.
``python -m bench`` runs :func:`bench_inbound_memory`: about 2x per body
(:data:`TARGET`), plus, for RSS with the event store in the request, the two
bodies' worth SQLite needs to build one stored row (:func:`rss_limit`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .results import Result

ROOT = Path(__file__).resolve().parent.parent

#: Target: peak per in-flight webhook, as a multiple of its body.
TARGET = 2.2

_CHILD = r"""
import base64, gc, json, os, sys, tempfile, threading, tracemalloc
from postmark_kit.receiver import PostmarkReceiver, create_app

size, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
folder = tempfile.mkdtemp()
content = base64.b64encode(os.urandom(size * 3 // 4)).decode()
def body_of(i):
    payload = {
        "FromFull": {"Email": "sender@example.com", "Name": "Sender", "MailboxHash": ""},
        "From": "sender@example.com",
        "To": "inbound@example.com",
        "ToFull": [{"Email": "inbound@example.com", "Name": "", "MailboxHash": ""}],
        "Subject": "bench", "MessageID": f"22c74902-a0c1-4511-804f-{i:012d}",
        "Date": "Fri, 1 Aug 2014 16:45:32 -04:00", "MessageStream": "inbound",
        "TextBody": "hello", "HtmlBody": "", "Headers": [],
        "Attachments": [{"Name": "a.bin", "Content": content,
                         "ContentType": "application/octet-stream",
                         "ContentLength": size * 3 // 4}],
    }
    return json.dumps(payload).encode()
bodies = [body_of(i) for i in range(n)]
del content
app = create_app({
    "POSTMARK_WEBHOOK_USERNAME": "u", "POSTMARK_WEBHOOK_PASSWORD": "p",
    "POSTMARK_JOURNAL": folder + "/journal.sqlite3",
    "POSTMARK_EVENT_STORE": "" if mode == "inline-bare" else folder + "/events.sqlite3",
    "POSTMARK_LOAD_ENTRYPOINTS": False, "POSTMARK_JOURNAL_WORKER": mode == "journal-worker",
    "POSTMARK_LOG_EVENTS": False, "POSTMARK_DISPATCH": mode.split("-")[0],
    "POSTMARK_MAX_BODY_BYTES": 2 * len(bodies[0]),
})
headers = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode(),
           "Content-Type": "application/json"}
app.test_client().post("/postmark/webhook", data=b'{"RecordType": "Bounce", "ID": 1}',
                       headers=headers)

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)

statuses = []
def post(body):
    statuses.append(app.test_client().post("/postmark/webhook", data=body,
                                           headers=headers).status_code)
threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM back to VmRSS: the peak from here on
rss_start = status_bytes("VmRSS")
tracemalloc.start()
start = tracemalloc.get_traced_memory()[0]
for t in threads:
    t.start()
for t in threads:
    t.join()
if mode == "journal-worker":  # until the worker thread has run the plugins on all of them
    import time
    journal = PostmarkReceiver.state_for(app).dispatcher.journal
    deadline = time.monotonic() + 120
    while journal.counts()["done"] < n and time.monotonic() < deadline:
        time.sleep(0.02)
    if journal.counts()["done"] < n:
        statuses.append("not run by the worker in 120 s")
peak = tracemalloc.get_traced_memory()[1] - start
tracemalloc.stop()
rss_peak = status_bytes("VmHWM") - rss_start
PostmarkReceiver.shutdown(app)
print(json.dumps({"mode": mode, "n": n, "statuses": statuses,
                  "body": sum(len(b) for b in bodies), "peak": peak, "rss_peak": rss_peak}))
"""

MODES = ("journal", "inline", "inline-bare", "journal-worker")


def measure(megabytes: float, mode: str, concurrent: int = 1) -> dict[str, float]:
    """Peaks of ``concurrent`` inbound webhooks of ``megabytes`` each, posted at once."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(int(megabytes * 1_000_000)), mode, str(concurrent)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
        # Large blocks always mmap()ed, so freed ones leave RSS at once (glibc
        # otherwise raises the threshold after a free, and heap reuse hides peaks).
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _row(mode: str, megabytes: float, concurrent: int) -> tuple[str, float, float, bool]:
    r = measure(megabytes, mode, concurrent)
    ok = r["statuses"] == [200] * concurrent  # type: ignore[comparison-overlap]  # all ran
    label = f"{mode} {megabytes:g} MB" + (f" x{concurrent}" if concurrent > 1 else "")
    return label, r["peak"] / r["body"], r["rss_peak"] / r["body"], ok


def rss_limit(mode: str, concurrent: int) -> float:
    """The RSS target per body: about 2x, plus SQLite's two bodies with the store in the request.

    The event store's row is TEXT, which SQLite builds in its own memory (the
    text, then the row: two bodies' worth), one insert at a time: shared by
    the requests in flight, not paid by each.
    """
    return TARGET + (2 / concurrent if mode == "inline" else 0)


def bench_inbound_memory(quick: bool = False) -> list[Result]:
    """``python -m bench`` rows: Python's and the process's peak, per in-flight body."""
    cases = [("journal", 40.0, 1), ("inline", 40.0, 1), ("inline-bare", 40.0, 1)]
    if not quick:
        cases += [("journal", 10.0, 8), ("inline", 10.0, 8), ("journal-worker", 10.0, 8)]
    results = []
    for mode, megabytes, concurrent in cases:
        label, python, rss, ok = _row(mode, megabytes, concurrent)
        ours = f"python {python:.2f}x, RSS {rss:.2f}x"
        note = "" if ok else "a request was not answered 200 (or not run by the worker)"
        if mode == "journal-worker":  # the requests and, meanwhile, the worker's plugins
            results.append(
                Result(f"inbound memory: {label}", ours, "-", None, "reported", None, note)
            )
            continue
        limit = rss_limit(mode, concurrent)
        results.append(
            Result(
                f"inbound memory: {label}",
                ours,
                "-",
                None,
                f"python <= {TARGET}x, RSS <= {limit:.2f}x body",
                ok and python <= TARGET and rss <= limit,
                note,
            )
        )
    return results


def main(argv: list[str]) -> None:
    sizes = [float(a) for a in argv] or [1.0, 10.0, 40.0]
    head = ("set-up", "body MB", "python MB", "x body", "RSS MB", "x body")
    print("{:14} {:>8} {:>9} {:>7} {:>8} {:>7}".format(*head))
    for mode in MODES:
        for size in sizes:
            r = measure(size, mode)
            assert r["statuses"] == [200], r
            print(
                f"{mode:14} {r['body'] / 1e6:8.1f} {r['peak'] / 1e6:9.1f}"
                f" {r['peak'] / r['body']:7.2f}"
                f" {r['rss_peak'] / 1e6:8.1f} {r['rss_peak'] / r['body']:7.2f}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
