"""Receiver throughput: webhooks/s under gunicorn on loopback, ours vs a bare Flask view.

Each app runs in its own gunicorn (same settings: 1 gthread worker, 4 threads);
load comes from a separate process (:mod:`bench.load`).  Every round loads each
app in turn (order rotated); a ratio is the median of the per-round ratios, so
the host's speed drifts cancel.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .results import Result

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ["-k", "gthread", "-w", "1", "--threads", "4", "--keep-alive", "5"]
PATHS = {
    "ours": "/postmark/webhook",
    "ours_journal": "/postmark/webhook",
    "bare": "/postmark/webhook",
    "anymail": "/anymail/postmark/tracking/",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def worker_cpu(port: int) -> float:
    """CPU seconds used so far by the gunicorn worker serving ``port`` (Linux /proc)."""
    pid = _WORKERS.get(port)
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: port -> pid of its gunicorn worker (the arbiter's only child).
_WORKERS: dict[int, int] = {}


@contextlib.contextmanager
def gunicorn(app: str, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            *GUNICORN,
            "--log-level",
            "warning",
            "-b",
            f"127.0.0.1:{port}",
            f"bench.receiver_apps:{app}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"gunicorn {app} exited: {err[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start")
            time.sleep(0.1)
        with contextlib.suppress(OSError, ValueError, IndexError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            _WORKERS[port] = int(children[0])
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _load(port: int, path: str, seconds: float) -> dict[str, Any]:
    from .receiver_apps import PASSWORD, USERNAME

    auth = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", str(port), path, str(seconds), "8", auth],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _rounds(ports: dict[str, int], rounds: int, seconds: float) -> dict[str, list[Any]]:
    from .receiver_apps import PASSWORD, USERNAME

    auth = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    targets = [f"{a}={port}:{PATHS[a]}" for a, port in ports.items()]
    args = ["--rounds", str(rounds), str(seconds), "8", auth, *targets]
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=rounds * len(ports) * (seconds + 10) + 60,
        check=True,
    )
    result: dict[str, list[Any]] = json.loads(out.stdout)
    return result


def bench_receiver(quick: bool = False) -> list[Any]:

    try:
        from postmark_kit.receiver import create_app  # noqa: F401
    except ImportError as exc:
        return [
            Result("receiver", "-", "-", None, "ours/bare >= 0.6", None, f"not yet runnable: {exc}")
        ]
    apps = ["ours", "bare"]
    skipped: dict[str, str] = {}
    try:
        import anymail  # noqa: F401
        import django  # noqa: F401

        apps.append("anymail")
    except ImportError as exc:
        skipped["anymail"] = f"not installed ({exc})"
    try:
        from postmark_kit.receiver import journal  # noqa: F401

        apps.append("ours_journal")
    except ImportError as exc:
        skipped["ours_journal"] = f"no journal yet ({exc})"
    seconds, reps = (0.5, 8) if quick else (0.5, 30)
    rates: dict[str, list[float]] = {a: [] for a in apps}
    errors: dict[str, int] = {a: 0 for a in apps}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-journal-"))
        env = {"BENCH_JOURNAL": str(Path(tmp) / "journal.sqlite3")}
        ports = {}
        for a in list(apps):
            try:
                ports[a] = stack.enter_context(gunicorn(a, env))
            except RuntimeError as exc:
                skipped[a] = str(exc)
                apps.remove(a)
        for a in apps:  # warm-up
            _load(ports[a], PATHS[a], 0.5)
        # One load process runs every round: short slices, apps back to back.
        cpu0 = {a: worker_cpu(ports[a]) for a in apps}
        served: dict[str, int] = {a: 0 for a in apps}
        for a, per_round in _rounds(ports, reps, seconds).items():
            for r in per_round:
                rates[a].append(r["ok"] / r["seconds"])
                errors[a] += int(r["errors"])
                served[a] += int(r["ok"])
        # Worker CPU per webhook: steadier than throughput (the load generator
        # shares the 2 CPUs), shown in the notes.
        cpu_us = {a: (worker_cpu(ports[a]) - cpu0[a]) / max(served[a], 1) * 1e6 for a in apps}
    med = {a: statistics.median(v) for a, v in rates.items() if v}
    rows = []

    def row(name: str, a: str, peer: str, limit: float) -> None:
        target = f"{a}/{peer} >= {limit}".replace("ours_journal", "ours")
        if a not in med or peer not in med:
            why = skipped.get(peer) or skipped.get(a) or "not run"
            rows.append(Result(name, "-", "-", None, target, None, f"skipped: {why}"))
            return
        ratio = statistics.median(x / y for x, y in zip(rates[a], rates[peer], strict=True))
        ok = ratio >= limit and errors[a] == 0 and errors[peer] == 0
        note = f"worker CPU per webhook {cpu_us[a]:.0f} us vs {peer} {cpu_us[peer]:.0f} us"
        if errors[a] or errors[peer]:
            note += f"; errors {a}/{peer}: {errors[a]}/{errors[peer]}"
        rows.append(
            Result(name, f"{med[a]:,.0f}/s", f"{peer} {med[peer]:,.0f}/s", ratio, target, ok, note)
        )

    row("receiver", "ours", "bare", 0.6)
    row("receiver peer", "ours", "anymail", 1.0)
    row("receiver, journal mode", "ours_journal", "bare", 0.4)
    return rows
