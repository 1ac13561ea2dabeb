"""A webhook load generator, run as its own process: ``python _webhook_load.py URL ...``.

Sends ``--count`` distinct events (the seven documented payload types in turn,
each with its own ``X-PM-Webhook-Trace-Id`` ``load-<n>``) from ``--senders``
threads, each with its own keep-alive session, plus a Postmark-style retry of
every ``--retry-every``-th event, shuffled in among the rest.  Every answer is
appended to ``--acks`` as ``<n> <status>`` (``<n> error`` when the connection
failed) and flushed at once, so a test killing the receiver mid-run knows
exactly which events were acknowledged.  Prints a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import sys
import threading
import time
from typing import Any

import requests

from postmark_kit.receiver import EVENT_KINDS
from postmark_kit.testing import payloads


def _templates() -> list[dict[str, Any]]:
    """The documented payload of every kind (the copies shipped with the package)."""
    return [payloads.documented(kind) for kind in EVENT_KINDS]


def event_body(templates: list[dict[str, Any]], n: int) -> bytes:
    """Event ``n``: a documented payload made unique (IDs, message ids)."""
    payload = dict(templates[n % len(templates)])
    if "ID" in payload:
        payload["ID"] = 10_000_000 + n
    if "MessageID" in payload:
        payload["MessageID"] = f"00000000-0000-4000-8000-{n:012d}"
    return json.dumps(payload).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--retry-every", type=int, default=0)
    parser.add_argument("--acks", required=True)
    parser.add_argument("--auth", default="postmark:s3cret-pass")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=240.0)
    args = parser.parse_args(argv)

    templates = _templates()
    numbers = list(range(args.start, args.start + args.count))
    retries = numbers[:: args.retry_every] if args.retry_every else []
    random.Random(7).shuffle(retries)
    work: queue.Queue[int] = queue.Queue()
    # Originals in order, their retries spread over the second half of the run.
    half = len(numbers) // 2
    for n in numbers[:half]:
        work.put(n)
    rest = numbers[half:] + retries
    random.Random(11).shuffle(rest)
    for n in rest:
        work.put(n)

    user, _, password = args.auth.partition(":")
    lock = threading.Lock()
    out = open(args.acks, "a", buffering=1)  # noqa: SIM115 - shared by the threads
    counts: dict[str, int] = {}
    stop_at = time.monotonic() + args.deadline

    def sender() -> None:
        session = requests.Session()
        session.auth = (user, password)
        while time.monotonic() < stop_at:
            try:
                n = work.get_nowait()
            except queue.Empty:
                return
            try:
                response = session.post(
                    args.url,
                    data=event_body(templates, n),
                    headers={
                        "Content-Type": "application/json",
                        "X-PM-Webhook-Trace-Id": f"load-{n}",
                    },
                    timeout=args.timeout,
                )
                status = str(response.status_code)
            except requests.RequestException:
                status = "error"
                session.close()
                session = requests.Session()
                session.auth = (user, password)
            with lock:
                out.write(f"{n} {status}\n")
                counts[status] = counts.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    out.close()
    sent = sum(counts.values())
    print(
        json.dumps(
            {
                "sent": sent,
                "statuses": counts,
                "seconds": round(elapsed, 3),
                "per_second": round(sent / elapsed, 1) if elapsed else None,
                "left": work.qsize(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
