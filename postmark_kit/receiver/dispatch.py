"""Dispatch: hand an accepted event to the plugins.

The receiver talks to a :class:`Dispatcher`; ``inline`` (plugins run inside the
request) is the only mode here.  Durable modes (a journal, a task queue) plug in
with :func:`register_dispatcher` and the ``POSTMARK_DISPATCH`` setting: they get
the same :class:`Webhook` (raw body, dedupe key) and answer the same
:class:`DispatchResult`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pluggy

from ..events import Event, event_kind

if TYPE_CHECKING:
    from ..client import ServerClient

__all__ = [
    "DISPATCHERS",
    "DispatchResult",
    "Dispatcher",
    "InlineDispatcher",
    "PluginFailure",
    "Reject",
    "Webhook",
    "call_event_hooks",
    "register_dispatcher",
]

log = logging.getLogger("postmark_kit.receiver")


class Reject(Exception):
    """Refuse an event for good: the receiver answers 403 and Postmark stops retrying.

    Meant for inbound mail you never want (Postmark retries any other failure
    for about ten hours).  The reason is logged and sent back in the response.
    """

    def __init__(self, reason: str = "rejected by plugin") -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class Webhook:
    """One received webhook request, as plugins and dispatchers may need it.

    Event hooks receive it as the optional third argument ``webhook``: name
    it in your hook function's signature to get it.
    """

    #: The request body exactly as received (keep it to replay or audit).
    body: bytes = attrs.field(repr=False)
    #: The decoded JSON object.
    payload: dict[str, Any] = attrs.field(repr=False)
    #: Stable across Postmark's retries of this event: see :func:`postmark_kit.events.dedupe_key`.
    dedupe_key: str
    #: ``bounce``, ``delivery``, ... ``inbound`` or ``unknown``.
    kind: str
    received_at: datetime
    #: ``X-PM-Webhook-Trace-Id`` when Postmark sent it.
    trace_id: str | None = None
    #: ``X-PM-Retries-Remaining`` when Postmark sent it.
    retries_remaining: int | None = None
    remote_addr: str | None = None


@attrs.frozen
class PluginFailure:
    """A plugin that raised while handling an event."""

    plugin: str
    hook: str
    error: BaseException


@attrs.frozen
class DispatchResult:
    """What the plugins made of an event; the receiver turns it into the status code."""

    failures: tuple[PluginFailure, ...] = ()
    rejection: Reject | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and self.rejection is None


class Dispatcher(Protocol):
    """Delivers events to plugins.  Must not raise: report failures in the result."""

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult: ...

    def close(self) -> None: ...


def call_event_hooks(
    pm: pluggy.PluginManager,
    event: Event,
    client: ServerClient | None,
    webhook: Webhook,
) -> DispatchResult:
    """Run the type-specific hook, then ``postmark_event``, each plugin isolated.

    pluggy stops a hook call at the first exception; here every implementation
    is called on its own so one failing plugin never hides the event from the
    others.  Order follows pluggy's (``tryfirst``/``trylast`` honoured).
    """
    kind = event_kind(event)
    names = [f"postmark_{kind}"] if kind != "unknown" else []
    names.append("postmark_event")
    kwargs: dict[str, Any] = {"event": event, "client": client, "webhook": webhook}
    failures: list[PluginFailure] = []
    rejection: Reject | None = None
    for name in names:
        caller = getattr(pm.hook, name)
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                impl.function(*[kwargs[a] for a in impl.argnames])
            except Reject as exc:
                log.warning(
                    "plugin %s rejected %s event %s: %s",
                    impl.plugin_name,
                    kind,
                    webhook.dedupe_key,
                    exc.reason,
                )
                rejection = rejection or exc
            except Exception as exc:
                log.exception(
                    "plugin %s failed in %s on %s event %s",
                    impl.plugin_name,
                    name,
                    kind,
                    webhook.dedupe_key,
                )
                failures.append(PluginFailure(plugin=impl.plugin_name, hook=name, error=exc))
    return DispatchResult(failures=tuple(failures), rejection=rejection)


class InlineDispatcher:
    """Runs the plugins inside the request: simple, and the answer reflects their outcome."""

    def __init__(self, pm: pluggy.PluginManager, client: ServerClient | None) -> None:
        self.pm = pm
        self.client = client

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult:
        return call_event_hooks(self.pm, event, self.client, webhook)

    def close(self) -> None:
        """Nothing to release: inline dispatch keeps no state."""


#: A dispatcher factory: (plugin manager, callback client, POSTMARK_* config) -> Dispatcher.
DispatcherFactory = Callable[
    [pluggy.PluginManager, "ServerClient | None", Mapping[str, Any]], Dispatcher
]

#: ``POSTMARK_DISPATCH`` value -> factory.
DISPATCHERS: dict[str, DispatcherFactory] = {
    "inline": lambda pm, client, _config: InlineDispatcher(pm, client),
}


def register_dispatcher(name: str, factory: DispatcherFactory) -> None:
    """Make ``POSTMARK_DISPATCH=<name>`` use ``factory``."""
    DISPATCHERS[name] = factory
