"""gunicorn server hooks for the standalone receiver (``receiver/gunicorn.conf.py``, ``serve``).

Kept in the package so the shipped config file and ``postmark-kit serve``
share them.  gunicorn itself is only needed where they run.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

__all__ = ["post_request"]


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """When the connection closes after this answer, stop reading from the peer first.

    gunicorn closes "gracefully": it lingers up to 2 s reading whatever the
    peer still sends, on the worker's main loop.  A peer trickling a body the
    receiver refused unread (a 401 answered at once) would stall every
    connection of that worker for those 2 s; 16 of them, for half a minute.
    With the read side shut, that read returns at once.  The answer has been
    sent in full by now.
    """
    sock = environ.get("gunicorn.socket") if environ else None
    if sock is None or resp is None or not resp.should_close():
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
