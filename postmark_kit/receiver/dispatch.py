"""Dispatch: hand an accepted event to the plugins.

(:class:`~postmark_kit.webhook.Webhook` and :class:`~postmark_kit.webhook.Reject`,
defined in :mod:`postmark_kit.webhook`, are importable from here too.)

The receiver talks to a :class:`Dispatcher`, chosen by ``POSTMARK_DISPATCH``:
``inline`` (plugins run inside the request) lives here, ``journal`` (durable,
plugins run after the 200) in :mod:`postmark_kit.receiver.journal`.  Other
modes plug in with :func:`register_dispatcher`: they get the same
:class:`Webhook` (raw body, dedupe key) and answer the same
:class:`DispatchResult`.
"""

from __future__ import annotations

import importlib
import logging
import weakref
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pluggy
from flask import current_app, has_app_context

from ..events import Event, event_kind
from ..webhook import Reject as Reject  # re-exported: defined below hookspecs
from ..webhook import Webhook as Webhook

if TYPE_CHECKING:
    from flask import Flask

    from ..client import ServerClient

__all__ = [
    "DISPATCHERS",
    "DeadLetter",
    "DispatchError",
    "DispatchResult",
    "Dispatcher",
    "InlineDispatcher",
    "PluginFailure",
    "bind_app",
    "bound_app",
    "call_event_hooks",
    "event_hook_names",
    "event_plugins",
    "lazy_factory",
    "register_dispatcher",
]

log = logging.getLogger("postmark_kit.receiver")


class DispatchError(Exception):
    """A durable mode could not take the event (journal unwritable, broker down).

    The receiver answers a 5xx (never 200, whatever ``POSTMARK_FAILURE_STATUS``
    says) so Postmark sends the event again; the message is the short reason.
    """


@attrs.frozen
class DeadLetter:
    """An event one plugin never handled, after every retry: the same type in every durable mode.

    ``id`` and ``event_id`` are the journal's row ids (journal mode; ``None`` in
    Celery mode); ``message`` is the queued task message a Celery replay
    re-sends (Celery mode; ``None`` in journal mode).
    """

    plugin: str
    hook: str | None
    error: str
    attempts: int
    failed_at: datetime
    kind: str
    dedupe_key: str
    id: int | None = None
    event_id: int | None = None
    message: dict[str, Any] | None = attrs.field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``failed_at`` in ISO 8601)."""
        out = attrs.asdict(self)
        out["failed_at"] = self.failed_at.isoformat()
        return out


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
    #: Plugins that handled the event without raising (a ``Reject`` counts as handled).
    succeeded: tuple[str, ...] = ()
    #: The event was a repeat of one already accepted (durable modes): no plugin ran.
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and self.rejection is None


class Dispatcher(Protocol):
    """Delivers events to plugins.  Must not raise: report failures in the result."""

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult: ...

    def close(self) -> None: ...


def event_hook_names(kind: str) -> list[str]:
    """The hooks an event of ``kind`` goes to, in call order."""
    return [f"postmark_{kind}", "postmark_event"] if kind != "unknown" else ["postmark_event"]


@attrs.frozen
class _Plan:
    """Who gets an event of one kind: worked out once, not per webhook.

    ``impls`` is what it was built from (pluggy's implementation lists of the
    kind's hooks); a plugin registered or removed since changes them, and the
    plan is built again.
    """

    impls: tuple[list[pluggy.HookImpl], ...]
    #: (plugin name, hook name, function, its argument names), in call order.
    calls: tuple[tuple[str, str, Callable[..., Any], tuple[str, ...]], ...]
    #: Plugin names in call order, no repeats.
    plugins: tuple[str, ...]
    #: The result when every plugin took the event (frozen, so one serves every call).
    all_ok: DispatchResult


#: plugin manager -> kind -> plan; weak so a manager's plans go with it.
_PLANS: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[str, _Plan]] = (
    weakref.WeakKeyDictionary()
)


def _plan(pm: pluggy.PluginManager, kind: str) -> _Plan:
    hooks = event_hook_names(kind)
    impls = tuple(getattr(pm.hook, name).get_hookimpls() for name in hooks)
    plans = _PLANS.get(pm)
    if plans is None:
        plans = _PLANS.setdefault(pm, {})
    plan = plans.get(kind)
    if plan is not None and plan.impls == impls:  # the same HookImpl objects: unchanged
        return plan
    calls = []
    for name, hook_impls in zip(hooks, impls, strict=True):
        for impl in reversed(hook_impls):  # pluggy's call order (tryfirst/trylast honoured)
            if not (impl.hookwrapper or impl.wrapper):
                calls.append((impl.plugin_name, name, impl.function, tuple(impl.argnames)))
    plugins = tuple(dict.fromkeys(c[0] for c in calls))
    plan = _Plan(impls, tuple(calls), plugins, DispatchResult(succeeded=plugins))
    plans[kind] = plan
    return plan


def event_plugins(pm: pluggy.PluginManager, kind: str) -> list[str]:
    """Names of the plugins implementing a hook for ``kind`` (call order, no repeats)."""
    return list(_plan(pm, kind).plugins)


#: plugin manager -> its app (both weak: neither keeps the other alive).
_APPS: weakref.WeakKeyDictionary[pluggy.PluginManager, weakref.ref[Flask]] = (
    weakref.WeakKeyDictionary()
)


def bind_app(pm: pluggy.PluginManager, app: Flask) -> None:
    """Run the event hooks of ``pm``'s plugins inside ``app``'s application context.

    ``init_app`` does it, so ``current_app`` (and extensions built on it, such
    as Flask-SQLAlchemy's session) work in every dispatch mode: in the
    request (inline), in the journal's worker thread, in a Celery worker and
    in ``events replay --now``.
    """
    _APPS[pm] = weakref.ref(app)


def bound_app(pm: pluggy.PluginManager) -> Flask | None:
    """The app ``pm`` was bound to with :func:`bind_app` (``None``: none, or gone)."""
    ref = _APPS.get(pm)
    return ref() if ref is not None else None


def call_event_hooks(
    pm: pluggy.PluginManager,
    event: Event,
    client: ServerClient | None,
    webhook: Webhook,
    only: Collection[str] | None = None,
) -> DispatchResult:
    """Run the type-specific hook, then ``postmark_event``, each plugin isolated.

    pluggy stops a hook call at the first exception; here every implementation
    is called on its own so one failing plugin never hides the event from the
    others.  Order follows pluggy's (``tryfirst``/``trylast`` honoured).  With
    ``only``, plugins not named there are skipped (a journal retrying the
    plugins that failed, never the ones that already succeeded).  The hooks
    run in the application context of the app ``pm`` is bound to
    (:func:`bind_app`), pushed here unless it is the current one already.
    """
    app = bound_app(pm)
    if app is not None and not (has_app_context() and current_app._get_current_object() is app):  # type: ignore[attr-defined]
        with app.app_context():
            return _call_event_hooks(pm, event, client, webhook, only)
    return _call_event_hooks(pm, event, client, webhook, only)


def _call_event_hooks(
    pm: pluggy.PluginManager,
    event: Event,
    client: ServerClient | None,
    webhook: Webhook,
    only: Collection[str] | None,
) -> DispatchResult:
    kind = event_kind(event)
    plan = _plan(pm, kind)
    kwargs: dict[str, Any] = {"event": event, "client": client, "webhook": webhook}
    failures: list[PluginFailure] = []
    rejection: Reject | None = None
    for plugin, hook, function, argnames in plan.calls:
        if only is not None and plugin not in only:
            continue
        try:
            if argnames == ("event",):
                function(event)
            else:
                function(*[kwargs[a] for a in argnames])
        except Reject as exc:
            log.warning(
                "plugin %s rejected %s event %s: %s", plugin, kind, webhook.dedupe_key, exc.reason
            )
            rejection = rejection or exc
        except Exception as exc:
            log.exception(
                "plugin %s failed in %s on %s event %s", plugin, hook, kind, webhook.dedupe_key
            )
            failures.append(PluginFailure(plugin=plugin, hook=hook, error=exc))
    if only is None and not failures and rejection is None:
        return plan.all_ok
    failed = {f.plugin for f in failures}
    return DispatchResult(
        failures=tuple(failures),
        rejection=rejection,
        succeeded=tuple(n for n in plan.plugins if n not in failed and (only is None or n in only)),
    )


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


def lazy_factory(spec: str, *, extra: str | None = None) -> DispatcherFactory:
    """The factory at ``"module:attribute"``, imported when the mode is first chosen.

    The durable modes are registered this way (a third-party mode can be too):
    they build on this module, so it must not import them (no import cycle),
    and Celery is an optional extra (``extra`` names it in the error).
    """

    def factory(
        pm: pluggy.PluginManager, client: ServerClient | None, config: Mapping[str, Any]
    ) -> Dispatcher:
        module, _, attribute = spec.partition(":")
        try:
            loaded: DispatcherFactory = getattr(importlib.import_module(module), attribute)
        except ImportError as exc:
            if extra is None:
                raise
            from .config import ConfigError

            raise ConfigError(
                f"POSTMARK_DISPATCH={extra} needs pip install 'postmark-kit[{extra}]' ({exc})"
            ) from exc
        return loaded(pm, client, config)

    return factory


#: ``POSTMARK_DISPATCH`` value -> factory.
DISPATCHERS: dict[str, DispatcherFactory] = {
    "inline": lambda pm, client, _config: InlineDispatcher(pm, client),
    "journal": lazy_factory("postmark_kit.receiver.journal:journal_dispatcher"),
    "celery": lazy_factory(
        "postmark_kit.receiver.celery_dispatch:dispatcher_factory", extra="celery"
    ),
}


def register_dispatcher(name: str, factory: DispatcherFactory) -> None:
    """Make ``POSTMARK_DISPATCH=<name>`` use ``factory``."""
    DISPATCHERS[name] = factory
