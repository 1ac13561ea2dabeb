"""Peak memory of one in-flight inbound webhook, as a multiple of its body (issue 14).

``python -m bench.inbound_memory [MB ...]``: for each size, a fresh process
builds the standalone receiver (journal mode, event store on, no worker
thread), posts one inbound message with an attachment of that size through
the Flask test client, and reports the peak of Python allocations during the
request (``tracemalloc``) divided by the body's size.  SQLite's own copy of
the row (it binds blobs as transient) is not traced: add one body for it.
A measurement, not a target checked by the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import base64, gc, json, os, sys, tempfile, tracemalloc
from postmark_kit.receiver import PostmarkReceiver, create_app

size, mode = int(sys.argv[1]), sys.argv[2]
folder = tempfile.mkdtemp()
content = base64.b64encode(os.urandom(size * 3 // 4)).decode()
payload = {
    "FromFull": {"Email": "sender@example.com", "Name": "Sender", "MailboxHash": ""},
    "From": "sender@example.com",
    "To": "inbound@example.com",
    "ToFull": [{"Email": "inbound@example.com", "Name": "", "MailboxHash": ""}],
    "Subject": "bench", "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
    "Date": "Fri, 1 Aug 2014 16:45:32 -04:00", "MessageStream": "inbound",
    "TextBody": "hello", "HtmlBody": "", "Headers": [],
    "Attachments": [{"Name": "a.bin", "Content": content,
                     "ContentType": "application/octet-stream",
                     "ContentLength": size * 3 // 4}],
}
body = json.dumps(payload).encode()
del payload, content
app = create_app({
    "POSTMARK_WEBHOOK_USERNAME": "u", "POSTMARK_WEBHOOK_PASSWORD": "p",
    "POSTMARK_JOURNAL": folder + "/journal.sqlite3",
    "POSTMARK_EVENT_STORE": folder + "/events.sqlite3",
    "POSTMARK_LOAD_ENTRYPOINTS": False, "POSTMARK_JOURNAL_WORKER": False,
    "POSTMARK_LOG_EVENTS": False, "POSTMARK_DISPATCH": mode,
    "POSTMARK_MAX_BODY_BYTES": 2 * len(body),
})
client = app.test_client()
headers = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode(),
           "Content-Type": "application/json"}
client.post("/postmark/webhook", data=b'{"RecordType": "Bounce", "ID": 1}', headers=headers)
def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)

gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM back to VmRSS: the peak from here on
rss_start = status_kb("VmRSS")
tracemalloc.start()
start = tracemalloc.get_traced_memory()[0]
status = client.post("/postmark/webhook", data=body, headers=headers).status_code
peak = tracemalloc.get_traced_memory()[1] - start
tracemalloc.stop()
rss_peak = status_kb("VmHWM") - rss_start
PostmarkReceiver.shutdown(app)
print(json.dumps({"mode": mode, "status": status, "body": len(body), "peak": peak,
                  "rss_peak": rss_peak}))
"""


def measure(megabytes: float, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(int(megabytes * 1_000_000)), mode],
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


def main(argv: list[str]) -> None:
    sizes = [float(a) for a in argv] or [1.0, 10.0, 40.0]
    print(f"{'mode':8} {'body MB':>8} {'peak MB':>8} {'x body':>7} {'RSS MB':>8} {'x body':>7}")
    for mode in ("journal", "inline"):
        for size in sizes:
            r = measure(size, mode)
            assert r["status"] == 200, r
            print(
                f"{mode:8} {r['body'] / 1e6:8.1f} {r['peak'] / 1e6:8.1f}"
                f" {r['peak'] / r['body']:7.2f}"
                f" {r['rss_peak'] / 1e6:8.1f} {r['rss_peak'] / r['body']:7.2f}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
