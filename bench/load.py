"""Load generator for the receiver benchmark, run in its own process.

``python -m bench.load PORT PATH SECONDS CONNECTIONS AUTH``: posts the documented
webhook payloads (delivery, bounce, open in turn) over keep-alive connections on
127.0.0.1 for a fixed time; prints ``{"ok": n, "errors": n, "seconds": s}``.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from pathlib import Path

#: Copies of the documented payloads (api/webhooks/*.json in the shared facts).
PAYLOADS = Path(__file__).resolve().parent / "webhooks"


def payloads() -> list[bytes]:
    names = ("delivery", "bounce", "open")
    return [json.dumps(json.loads((PAYLOADS / f"{n}.json").read_text())).encode() for n in names]


def main() -> None:
    port, path, seconds, conns, auth = (
        int(sys.argv[1]),
        sys.argv[2],
        float(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    bodies = payloads()
    ok = [0] * conns
    errors = [0] * conns
    deadline = time.perf_counter() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json", "Authorization": auth}
        n = i
        while time.perf_counter() < deadline:
            body = bodies[n % len(bodies)]
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
    print(json.dumps({"ok": sum(ok), "errors": sum(errors), "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
