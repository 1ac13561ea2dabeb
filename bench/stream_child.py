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
    for _ in client.outbound.stream(max_items=n):
        seen += 1
    print(json.dumps({"seen": seen, "peak_mb": peak_rss_kb() / 1024}))


def peak_rss_kb() -> int:
    """This process's peak RSS.  ru_maxrss survives fork+exec (it would report the
    parent's peak when that was larger), so Linux's per-address-space VmHWM comes first."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
