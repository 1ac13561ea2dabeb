"""Prometheus metrics for the receiver at ``<prefix>/metrics`` (``POSTMARK_METRICS=true``).

Needs the ``prometheus_client`` library (``pip install 'postmark-kit[metrics]'``).
Each receiver has its own registry (never the library's global one), so two
receivers, or two apps in one process, never collide.  Counters are per
process: under gunicorn each worker answers with its own (aggregate them with
``sum()``); the journal's figures (pending, oldest pending, dead letters,
failing deliveries) are read from the shared file at scrape time, so every
worker reports the same.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, g, request

from .config import ConfigError
from .journal import JournalSettings, WebhookJournal

if TYPE_CHECKING:
    from .app import ReceiverState

__all__ = ["ReceiverMetrics", "receiver_metrics"]

#: Dispatch latency buckets, seconds (a journaled 200 takes about a millisecond).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(
            "POSTMARK_METRICS needs the prometheus_client library:"
            " pip install 'postmark-kit[metrics]'"
        ) from None
    return prometheus_client


class _JournalCollector:
    """Reads the journal's backlog at scrape time (a gauge per figure)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._journal: WebhookJournal | None = None

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        if self._journal is None:
            self._journal = WebhookJournal(self.path)
        journal = self._journal
        counts = journal.backlog()
        oldest = counts["oldest_pending"]
        age = max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0
        yield GaugeMetricFamily(
            "postmark_journal_pending", "Journaled events not finished yet", value=counts["pending"]
        )
        yield GaugeMetricFamily(
            "postmark_journal_oldest_pending_seconds",
            "Age of the oldest unfinished event (0: none pending)",
            value=age,
        )
        yield GaugeMetricFamily(
            "postmark_journal_dead_letters",
            "Dead letters waiting for a replay",
            value=counts["dead_letters"],
        )
        failing = GaugeMetricFamily(
            "postmark_plugin_failing_deliveries",
            "Events a plugin failed on and has not taken yet, by state (retrying, dead)",
            labels=["plugin", "state"],
        )
        for plugin, totals in sorted(journal.plugin_totals().items()):
            for state in ("retrying", "dead"):
                failing.add_metric([plugin, state], totals[state])
        yield failing


class ReceiverMetrics:
    """One receiver's metrics: a registry, its counters, and the journal collector."""

    def __init__(self, state: ReceiverState, *, event_header: str, duplicate_header: str) -> None:
        prom = _prometheus()
        self.registry = prom.CollectorRegistry(auto_describe=True)
        self.event_header = event_header
        self.duplicate_header = duplicate_header
        self.received = prom.Counter(
            "postmark_webhooks_received",
            "Webhooks answered, by event kind and HTTP status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.duplicates = prom.Counter(
            "postmark_webhooks_duplicates",
            "Webhooks that repeated an event already taken (no plugin ran again)",
            ["kind"],
            registry=self.registry,
        )
        self.plugin_failures = prom.Counter(
            "postmark_plugin_failures",
            "Webhooks answered with plugin failures (inline dispatch), by plugin",
            ["plugin"],
            registry=self.registry,
        )
        self.latency = prom.Histogram(
            "postmark_webhook_dispatch_seconds",
            "Time from reading a webhook to its answer (journal: until committed)",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.collector: _JournalCollector | None = None
        if state.config.dispatch == "journal":
            path = JournalSettings.from_mapping(state.config.raw).path
            self.collector = _JournalCollector(path)
            self.registry.register(self.collector)

    def observe(self, response: Response, kind: str, seconds: float, failed: list[str]) -> None:
        """Count one answered webhook."""
        kind = response.headers.get(self.event_header) or kind
        self.received.labels(kind=kind, status=str(response.status_code)).inc()
        self.latency.labels(kind=kind).observe(seconds)
        if response.headers.get(self.duplicate_header) == "true":
            self.duplicates.labels(kind=kind).inc()
        for plugin in failed:
            self.plugin_failures.labels(plugin=plugin).inc()

    def exposition(self) -> tuple[bytes, str]:
        prom = _prometheus()
        return prom.generate_latest(self.registry), prom.CONTENT_TYPE_LATEST


def _failed_plugins(response: Response) -> list[str]:
    """Plugin names of a failure answer (``{"failed": [...]}`` or ``plugin(s) failed: a, b``)."""
    if response.mimetype != "application/json" or response.direct_passthrough:
        return []
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("failed"), list):
        return [str(p) for p in body["failed"]]
    error = str(body.get("error", ""))
    if error.startswith("plugin(s) failed: "):
        return [p.strip() for p in error[len("plugin(s) failed: ") :].split(",") if p.strip()]
    return []


def receiver_metrics(
    app: Flask,
    state: ReceiverState,
    *,
    kinds: Iterable[str],
    event_header: str,
    duplicate_header: str,
) -> Blueprint:
    """Count the receiver's webhooks and serve ``<prefix>/metrics``.

    ``kinds``, ``event_header`` and ``duplicate_header``: the receiver's event
    kinds and answer headers (passed in: this module does not import the app's).
    """
    known = frozenset(kinds)
    metrics = ReceiverMetrics(state, event_header=event_header, duplicate_header=duplicate_header)
    if metrics.collector is not None:
        weakref.finalize(app, metrics.collector.close)
    webhook_endpoints = {f"{state.name}.webhook", f"{state.name}.webhook_kind"}
    started = f"_postmark_metrics_{state.name}"

    @app.before_request
    def start_clock() -> None:
        if request.endpoint in webhook_endpoints:
            setattr(g, started, time.perf_counter())

    @app.after_request
    def count(response: Response) -> Response:
        if request.endpoint in webhook_endpoints:
            begun = getattr(g, started, None)
            elapsed = time.perf_counter() - begun if begun is not None else 0.0
            # A label from the URL only when it is a known kind: labels stay few.
            kind = (request.view_args or {}).get("kind")
            kind = kind if kind in known else "unknown"
            failed = _failed_plugins(response) if response.content_length != 0 else []
            metrics.observe(response, kind, elapsed, failed)
        return response

    bp = Blueprint(f"{state.name}_metrics", __name__)

    @bp.get("/metrics")
    def scrape() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    app.register_blueprint(bp, url_prefix=state.url_prefix or None)
    app.extensions[f"postmark_kit_metrics:{state.name}"] = metrics
    return bp
