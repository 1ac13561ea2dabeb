"""Child process of the streaming-memory benchmark: iterate N messages, report peak RSS."""

from __future__ import annotations

import json
import resource
import sys

from postmark_kit import ServerClient


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    client = ServerClient("bench-token", base_url=url, retries=0)
    seen = 0
    for _ in client.outbound.stream(max_messages=n):
        seen += 1
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seen": seen, "peak_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main()
