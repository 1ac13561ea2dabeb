"""The latency scenario's canned server, in a process of its own.

``python -m bench.latency_server LATENCY`` serves the 100,000-message mailbox
and batch answers with ``LATENCY`` seconds before each answer (twice that
more before a new connection's first one), prints its URL, and stops when its
standard input closes.  In the clients' process, its threads took the GIL
from whichever client was being timed (most from the one with the most
connections in flight): here no contender shares a CPU budget with it.
"""

from __future__ import annotations

import sys

from .__main__ import latency_route
from .server import CannedServer


def main() -> None:
    latency = float(sys.argv[1])
    with CannedServer(
        {}, default=latency_route, latency=latency, connect_latency=2 * latency
    ) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or exits)


if __name__ == "__main__":
    main()
