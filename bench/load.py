"""Load generator for the receiver benchmark, run in its own process.

``python -m bench.load PORT PATH SECONDS CONNECTIONS AUTH``: posts the documented
webhook payloads (delivery, bounce, open in turn) over keep-alive connections on
127.0.0.1 for a fixed time; prints ``{"ok": n, "errors": n, "seconds": s}``.
Like Postmark, every request carries ``X-PM-Webhook-Trace-Id`` (unique per
request here, so a durable receiver journals every one instead of dropping
repeats) and ``X-PM-Retries-Remaining``.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import uuid

from postmark_kit.testing.payloads import documented


def payloads() -> list[bytes]:
    """The documented payloads shipped in ``postmark_kit.testing.payloads``."""
    names = ("delivery", "bounce", "open")
    return [json.dumps(documented(n)).encode() for n in names]


def run_slice(
    port: int, path: str, seconds: float, conns: int, auth: str, bodies: list[bytes]
) -> dict[str, float]:
    """``conns`` keep-alive connections posting to one app for ``seconds``."""
    ok = [0] * conns
    errors = [0] * conns
    deadline = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:12]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {
            "Content-Type": "application/json",
            "Authorization": auth,
            "X-PM-Retries-Remaining": "10",
        }
        n = i
        while time.perf_counter() < deadline:
            body = bodies[n % len(bodies)]
            headers["X-PM-Webhook-Trace-Id"] = f"{run}-{i}-{n}"
            n += 1
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            if 200 <= resp.status < 300:
                ok[i] += 1
            else:
                errors[i] += 1
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"ok": sum(ok), "errors": sum(errors), "seconds": time.perf_counter() - t0}


def main() -> None:
    """``PORT PATH SECONDS CONNS AUTH`` (one app), or ``--rounds N SECONDS CONNS AUTH
    NAME=PORT:PATH...``: N rounds, each app loaded for SECONDS in turn (order
    rotated per round); prints the per-round results of every app."""
    bodies = payloads()
    if sys.argv[1] != "--rounds":
        port, path, seconds, conns, auth = sys.argv[1:6]
        print(json.dumps(run_slice(int(port), path, float(seconds), int(conns), auth, bodies)))
        return
    rounds, seconds, conns = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    auth = sys.argv[5]
    targets = []
    for spec in sys.argv[6:]:
        name, _, rest = spec.partition("=")
        port, _, path = rest.partition(":")
        targets.append((name, int(port), path))
    out: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in targets}
    for r in range(rounds):
        shift = r % len(targets)
        for name, port, path in targets[shift:] + targets[:shift]:
            out[name].append(run_slice(port, path, seconds, conns, auth, bodies))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
