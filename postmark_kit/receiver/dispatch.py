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

import contextvars
import functools
import importlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pluggy
from flask import current_app, has_app_context

from ..events import Event, event_kind
from ..settings import DURABLE_PLUGIN_TIMEOUT, setting
from ..webhook import Reject as Reject  # re-exported: defined below hookspecs
from ..webhook import Webhook as Webhook

if TYPE_CHECKING:
    from flask import Flask

    from ..client import ServerClient

__all__ = [
    "DEFAULT_PLUGIN_TIMEOUT",
    "DISPATCHERS",
    "DeadLetter",
    "DispatchError",
    "DispatchResult",
    "Dispatcher",
    "InlineDispatcher",
    "PluginFailure",
    "PluginRunner",
    "PluginTimeout",
    "bind_app",
    "bound_app",
    "call_event_hooks",
    "event_hook_impls",
    "event_hook_names",
    "event_plugins",
    "lazy_factory",
    "plugin_timeout",
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
    #: (plugin, hook) of every hook implementation that returned (or rejected): what a
    #: durable mode records, so a retry re-runs only the implementations that failed.
    succeeded_hooks: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures and self.rejection is None


class Dispatcher(Protocol):
    """Delivers events to plugins.  Must not raise: report failures in the result."""

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult: ...

    def close(self) -> None: ...


class PluginTimeout(Exception):
    """A plugin call ran past ``POSTMARK_PLUGIN_TIMEOUT``: counted as that plugin's failure."""


#: What a plugin call hands back to the dispatcher: ``None`` or what it raised.
_Thunk = Callable[[], None]


class _Job:
    """Calls of one event handed to a runner thread, with the progress the caller waits on."""

    __slots__ = ("abandoned", "calls", "done", "results", "started")

    def __init__(self, calls: Sequence[_Thunk]) -> None:
        self.calls = calls
        self.results: list[BaseException | None] = []
        self.started: float | None = None
        self.done = False
        self.abandoned = False


class _RunnerThread:
    """One helper thread: runs jobs until a caller gives up on it, then exits when free.

    Its own condition: a finished job wakes its caller only (not every idle
    thread and every other caller), once per event, not once per call.
    """

    def __init__(self, runner: PluginRunner) -> None:
        self._runner = runner
        self.cond = threading.Condition()
        self.job: _Job | None = None
        self.stop = False
        self.thread = threading.Thread(
            target=self._loop, name="postmark-plugin-runner", daemon=True
        )
        self.thread.start()

    def _loop(self) -> None:
        cond = self.cond
        while True:
            with cond:
                while self.job is None and not self.stop:
                    cond.wait()
                if self.job is None:
                    return
                job = self.job
            for call in job.calls:
                with cond:
                    if job.abandoned:
                        break
                    job.started = time.monotonic()
                error: BaseException | None = None
                try:
                    call()
                except BaseException as exc:  # any exit of a plugin is its failure
                    error = exc
                with cond:
                    if job.abandoned:
                        break  # the caller timed this call out and went on without us
                    job.results.append(error)
                    job.started = None
            with cond:
                abandoned = job.abandoned
                job.done = True
                self.job = None
                cond.notify_all()
            if abandoned:
                self._runner._retire(self)
                log.warning("a plugin call that timed out has finished; its thread exits")
                return
            self._runner._idle_again(self)


class PluginRunner:
    """Runs each event's plugin calls in a helper thread, each call within ``timeout`` seconds.

    Python cannot stop a thread, so a call that overruns is *abandoned*: it
    counts as that plugin's failure (:class:`PluginTimeout`, retried or
    dead-lettered like any other), the event's remaining calls go to a fresh
    thread, and the stuck thread exits once its call returns.  Threads stay
    bounded: while a hook implementation still has an abandoned call running,
    it is failed at once instead of getting another thread, so there is at
    most one abandoned thread per hook implementation, plus one busy or idle
    thread per concurrent caller.  Threads, not a subprocess per call:
    plugins keep what ``postmark_configure`` opened (connections, clients),
    which a subprocess would have to rebuild on every call.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._idle: list[_RunnerThread] = []
        self._abandoned: set[_RunnerThread] = set()
        #: hook implementation -> the abandoned thread still running it
        self._stuck: dict[tuple[str, str], _RunnerThread] = {}
        self._closed = False

    def stuck(self) -> list[tuple[str, str]]:
        """(plugin, hook) of calls that timed out and are still running."""
        with self._lock:
            return sorted(k for k, t in self._stuck.items() if t in self._abandoned)

    def run(
        self, keys: Sequence[tuple[str, str]], calls: Sequence[_Thunk]
    ) -> list[BaseException | None]:
        """Run ``calls`` in order; for each, ``None`` or the exception it raised (or a timeout)."""
        results: list[BaseException | None] = [None] * len(calls)
        start = 0
        while start < len(calls):
            # Implementations stuck in an earlier call fail at once: no new thread for them.
            with self._lock:
                todo = []
                for i in range(start, len(calls)):
                    thread = self._stuck.get(keys[i])
                    if thread is not None and thread in self._abandoned:
                        results[i] = PluginTimeout(
                            f"still running a call that timed out after {self.timeout:g}s"
                        )
                    else:
                        if thread is not None:
                            del self._stuck[keys[i]]
                        todo.append(i)
                runner = self._idle.pop() if self._idle and todo else None
            if not todo:
                break
            timed_out = self._run_job(runner or _RunnerThread(self), todo, keys, calls, results)
            if timed_out is None:
                break
            start = timed_out + 1
        return results

    def _run_job(
        self,
        runner: _RunnerThread,
        todo: list[int],
        keys: Sequence[tuple[str, str]],
        calls: Sequence[_Thunk],
        results: list[BaseException | None],
    ) -> int | None:
        """Run ``todo`` on ``runner``; the index of a call that timed out, else ``None``."""
        job = _Job([calls[i] for i in todo])
        cond = runner.cond
        with cond:
            runner.job = job
            cond.notify_all()
            while not job.done:
                started = job.started
                if started is None:  # between calls: the next one starts at once
                    cond.wait(self.timeout)
                    continue
                remaining = started + self.timeout - time.monotonic()
                if remaining > 0:
                    cond.wait(remaining)
                    continue
                # The call in hand overran: give up on it and on this thread.
                index = todo[len(job.results)]
                job.abandoned = True
                for i, error in zip(todo, job.results, strict=False):
                    results[i] = error
                results[index] = PluginTimeout(f"no answer within {self.timeout:g}s")
                break
            else:
                for i, error in zip(todo, job.results, strict=True):
                    results[i] = error
                return None
        with self._lock:
            self._abandoned.add(runner)
            self._stuck[keys[index]] = runner
        log.error(
            "plugin %s timed out in %s after %gs; its thread is abandoned",
            keys[index][0],
            keys[index][1],
            self.timeout,
        )
        return index

    def _idle_again(self, runner: _RunnerThread) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(runner)
                return
        with runner.cond:
            runner.stop = True
            runner.cond.notify_all()

    def _retire(self, runner: _RunnerThread) -> None:
        with self._lock:
            self._abandoned.discard(runner)

    def close(self) -> None:
        """Let idle threads exit (abandoned ones exit when their call returns)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for runner in idle:
            with runner.cond:
                runner.stop = True
                runner.cond.notify_all()


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
    hooks_ok = tuple((c[0], c[1]) for c in calls)
    plan = _Plan(
        impls, tuple(calls), plugins, DispatchResult(succeeded=plugins, succeeded_hooks=hooks_ok)
    )
    plans[kind] = plan
    return plan


def event_plugins(pm: pluggy.PluginManager, kind: str) -> list[str]:
    """Names of the plugins implementing a hook for ``kind`` (call order, no repeats)."""
    return list(_plan(pm, kind).plugins)


def event_hook_impls(pm: pluggy.PluginManager, kind: str) -> list[tuple[str, str]]:
    """(plugin, hook) of every hook implementation an event of ``kind`` goes to, in call order."""
    return [(c[0], c[1]) for c in _plan(pm, kind).calls]


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
    only: Collection[str | tuple[str, str]] | None = None,
    runner: PluginRunner | None = None,
) -> DispatchResult:
    """Run the type-specific hook, then ``postmark_event``, each plugin isolated.

    pluggy stops a hook call at the first exception; here every implementation
    is called on its own so one failing plugin never hides the event from the
    others.  Anything a plugin raises, ``SystemExit`` and ``KeyboardInterrupt``
    included, is that plugin's failure.  Order follows pluggy's
    (``tryfirst``/``trylast`` honoured).  With ``only`` (plugin names or
    ``(plugin, hook)`` pairs), the rest are skipped: a journal retrying the
    implementations that failed, never the ones that already succeeded.  With
    ``runner``, each call is bounded by its time limit (and runs in a helper
    thread, in a copy of the caller's context).  The hooks run in the
    application context of the app ``pm`` is bound to (:func:`bind_app`),
    pushed here unless it is the current one already.
    """
    app = bound_app(pm)
    if app is not None and not (has_app_context() and current_app._get_current_object() is app):  # type: ignore[attr-defined]
        with app.app_context():
            return _call_event_hooks(pm, event, client, webhook, only, runner)
    return _call_event_hooks(pm, event, client, webhook, only, runner)


def _call_event_hooks(
    pm: pluggy.PluginManager,
    event: Event,
    client: ServerClient | None,
    webhook: Webhook,
    only: Collection[str | tuple[str, str]] | None,
    runner: PluginRunner | None,
) -> DispatchResult:
    kind = event_kind(event)
    plan = _plan(pm, kind)
    kwargs: dict[str, Any] = {"event": event, "client": client, "webhook": webhook}
    calls = plan.calls
    if only is not None:
        calls = tuple(c for c in calls if c[0] in only or (c[0], c[1]) in only)
    errors: Sequence[BaseException | None]
    if runner is None:
        errors = [_call(function, argnames, event, kwargs) for _, _, function, argnames in calls]
    else:
        errors = runner.run(
            [(c[0], c[1]) for c in calls],
            [_thunk(function, argnames, event, kwargs) for _, _, function, argnames in calls],
        )
    if only is None and not any(errors):
        return plan.all_ok
    failures: list[PluginFailure] = []
    rejection: Reject | None = None
    succeeded_hooks: list[tuple[str, str]] = []
    for (plugin, hook, _, _), error in zip(calls, errors, strict=True):
        if error is None:
            succeeded_hooks.append((plugin, hook))
        elif isinstance(error, Reject):
            log.warning(
                "plugin %s rejected %s event %s: %s",
                plugin,
                kind,
                webhook.dedupe_key,
                error.reason,
            )
            rejection = rejection or error
            succeeded_hooks.append((plugin, hook))
        else:
            log.error(
                "plugin %s failed in %s on %s event %s",
                plugin,
                hook,
                kind,
                webhook.dedupe_key,
                exc_info=error if not isinstance(error, PluginTimeout) else None,
            )
            failures.append(PluginFailure(plugin=plugin, hook=hook, error=error))
    failed = {f.plugin for f in failures}
    return DispatchResult(
        failures=tuple(failures),
        rejection=rejection,
        succeeded=tuple(dict.fromkeys(c[0] for c in calls if c[0] not in failed)),
        succeeded_hooks=tuple(succeeded_hooks),
    )


def _call(
    function: Callable[..., Any], argnames: tuple[str, ...], event: Event, kwargs: dict[str, Any]
) -> BaseException | None:
    try:
        if argnames == ("event",):
            function(event)
        else:
            function(*[kwargs[a] for a in argnames])
    except BaseException as exc:  # any exit of a plugin is its failure
        return exc
    return None


def _thunk(
    function: Callable[..., Any], argnames: tuple[str, ...], event: Event, kwargs: dict[str, Any]
) -> _Thunk:
    # Made in the calling thread: the copy carries its application (and request)
    # context to the runner thread, one copy per call (a timed-out call keeps its own).
    args = [event] if argnames == ("event",) else [kwargs[a] for a in argnames]
    return functools.partial(contextvars.copy_context().run, function, *args)


class InlineDispatcher:
    """Runs the plugins inside the request: simple, and the answer reflects their outcome.

    With a ``timeout`` (``POSTMARK_PLUGIN_TIMEOUT``, set explicitly: inline mode
    has no limit by default), a plugin that hangs fails the request with a 5xx
    after that long instead of holding it (and, one by one, every request
    thread) forever.  The limit costs a thread hand-off per request (0.1 to
    0.7 ms measured), which the journal's worker pays off the request path.
    """

    def __init__(
        self, pm: pluggy.PluginManager, client: ServerClient | None, timeout: float | None = None
    ) -> None:
        self.pm = pm
        self.client = client
        self.runner = PluginRunner(timeout) if timeout else None

    def dispatch(self, event: Event, webhook: Webhook) -> DispatchResult:
        return call_event_hooks(self.pm, event, self.client, webhook, runner=self.runner)

    def health(self) -> dict[str, Any]:
        """Inline mode keeps no backlog: healthy unless a plugin call is stuck past its limit."""
        stuck = self.runner.stuck() if self.runner is not None else []
        report: dict[str, Any] = {"ok": True, "mode": "inline"}
        if stuck:
            report["stuck_plugins"] = [f"{p}.{h}" for p, h in stuck]
        return report

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()


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
    "inline": lambda pm, client, config: InlineDispatcher(pm, client, _inline_timeout(config)),
    "journal": lazy_factory("postmark_kit.receiver.journal:journal_dispatcher"),
    "celery": lazy_factory(
        "postmark_kit.receiver.celery_dispatch:dispatcher_factory", extra="celery"
    ),
}


#: Seconds a plugin call may take before it counts as failed (``POSTMARK_PLUGIN_TIMEOUT``).
DEFAULT_PLUGIN_TIMEOUT = DURABLE_PLUGIN_TIMEOUT


def plugin_timeout(config: Mapping[str, Any]) -> float | None:
    """``POSTMARK_PLUGIN_TIMEOUT`` checked: seconds, or ``None`` (0: no limit, run in place)."""
    value = setting("POSTMARK_PLUGIN_TIMEOUT").read(config)
    if value is None:
        return DEFAULT_PLUGIN_TIMEOUT
    return value or None


def _inline_timeout(config: Mapping[str, Any]) -> float | None:
    """Inline mode has no plugin time limit unless ``POSTMARK_PLUGIN_TIMEOUT`` is set."""
    if setting("POSTMARK_PLUGIN_TIMEOUT").read(config) is None:
        return None
    return plugin_timeout(config)


def register_dispatcher(name: str, factory: DispatcherFactory) -> None:
    """Make ``POSTMARK_DISPATCH=<name>`` use ``factory``."""
    DISPATCHERS[name] = factory
