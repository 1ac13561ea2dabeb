"""Building the plugin manager: entry points, objects passed in code, dotted names."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import sys
import threading
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from .. import hookspecs

if TYPE_CHECKING:
    from .config import ReceiverConfig

__all__ = [
    "PluginLoadError",
    "build_plugin_manager",
    "builtin_plugins",
    "entry_points",
    "load_object",
    "rescan_entry_points",
]

log = logging.getLogger("postmark_kit.receiver")


class PluginLoadError(ImportError):
    """A plugin named in configuration could not be imported."""


def load_object(spec: str, *, instantiate: bool = True) -> Any:
    """``"package.module"`` or ``"package.module:attribute"`` -> the object.

    A class is instantiated without arguments unless ``instantiate`` is false.
    """
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginLoadError(f"cannot load plugin {spec!r}: {exc}") from exc
    return _instance(obj, spec) if instantiate else obj


def _instance(obj: Any, origin: str) -> Any:
    """A class becomes an instance (no-argument constructor); anything else is the plugin."""
    if not isinstance(obj, type):
        return obj
    try:
        return obj()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin {origin!r}: class {obj.__qualname__} could not be instantiated "
            f"without arguments: {type(exc).__name__}: {exc}"
        ) from exc


_PathKey = tuple[tuple[str, int | None], ...]
_scanned: tuple[_PathKey, tuple[importlib.metadata.EntryPoint, ...]] | None = None
_scan_lock = threading.Lock()


def _path_key() -> _PathKey:
    """``sys.path`` with each folder's modification time: an install or uninstall changes it."""
    key = []
    for entry in sys.path:
        try:
            mtime: int | None = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = None
        key.append((entry, mtime))
    return tuple(key)


def entry_points() -> tuple[importlib.metadata.EntryPoint, ...]:
    """The ``postmark_kit`` entry points of the installed distributions.

    Scanning every distribution's metadata costs milliseconds, paid by each
    app a factory builds; the result is kept for the process and scanned
    again when ``sys.path`` or the modification time of one of its folders
    changes (a ``pip install`` or uninstall does both).  After changing an
    installed distribution's metadata in place, call
    :func:`rescan_entry_points`.
    """
    global _scanned
    key = _path_key()
    with _scan_lock:
        if _scanned is None or _scanned[0] != key:
            found = importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME)
            _scanned = (key, tuple(found))
        return _scanned[1]


def rescan_entry_points() -> None:
    """Forget the entry points found so far: the next app scans the installed metadata again."""
    global _scanned
    with _scan_lock:
        _scanned = None


def _load_entrypoints(pm: pluggy.PluginManager) -> int:
    """Register the plugins of the ``postmark_kit`` entry-point group; the count.

    Unlike pluggy's ``load_setuptools_entrypoints``, an entry point naming a
    class registers a new instance of it (so each app built by a factory has
    its own), named by its ``plugin_name`` when it sets one, else by the entry
    point's name.  A module or a module-level object is shared by every app
    of the process: it is the same object each time.
    """
    count = 0
    for ep in entry_points():
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue  # the same distribution found twice on sys.path
        try:
            loaded = ep.load()
        except Exception as exc:
            raise PluginLoadError(
                f"cannot load entry-point plugin {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        obj = _instance(loaded, f"{ep.name} = {ep.value}")
        if pm.is_registered(obj):
            continue
        explicit = getattr(obj, "plugin_name", None)
        name = explicit if isinstance(explicit, str) and explicit else ep.name
        pm.register(obj, name=_unique(pm, name))
        count += 1
    return count


def builtin_plugins(config: ReceiverConfig) -> list[Any]:
    """The plugins the settings turn on: event logging, the event store, the sender blocklist."""
    from ..plugins.blocklist import BlockSendersPlugin
    from ..plugins.log import LoggingPlugin
    from ..plugins.store import EventStore

    found: list[Any] = []
    if config.log_events:
        found.append(LoggingPlugin())
    if config.event_store:
        found.append(EventStore(config.event_store))
    if config.blocked_senders:
        found.append(BlockSendersPlugin(config.blocked_senders))
    return found


def _name(plugin: Any) -> str:
    """A name stable across restarts: durable dispatch records outcomes per plugin name.

    pluggy's default is ``id(plugin)``, which changes with every process.
    """
    explicit = getattr(plugin, "plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    cls = type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _unique(pm: pluggy.PluginManager, name: str) -> str:
    if pm.get_plugin(name) is None and not pm.is_blocked(name):
        return name
    n = 2
    while pm.get_plugin(f"{name}#{n}") is not None:
        n += 1
    return f"{name}#{n}"


def build_plugin_manager(
    plugins: Iterable[Any] = (), *, load_entrypoints: bool = True
) -> pluggy.PluginManager:
    """A manager with the hookspecs, the entry-point plugins and ``plugins``.

    ``plugins`` are objects or modules (or dotted names).  A plugin object may
    set ``plugin_name`` to control its name (in logs, and the key a journal
    keeps its outcomes under); the default is the module or class path, with
    ``#2``, ``#3``... for further instances of one class.  The same object is
    never registered twice.  An entry point naming a class gets a new
    instance per call, so each app of a factory has its own; a module or a
    module-level object is the same object for every app of the process.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        count = _load_entrypoints(pm)
        if count:
            log.info("loaded %d plugin(s) from entry points", count)
    for plugin in plugins:
        obj = load_object(plugin) if isinstance(plugin, str) else plugin
        if pm.is_registered(obj):
            continue
        pm.register(obj, name=_unique(pm, _name(obj)))
    pm.check_pending()
    for caller in pm.hook.__dict__.values():
        if not caller.name.startswith("postmark_") or caller.name in _LIFECYCLE:
            continue
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                log.warning(
                    "plugin %s: wrapper %s is ignored (event hooks call each plugin on its own)",
                    impl.plugin_name,
                    caller.name,
                )
    return pm


_LIFECYCLE = frozenset({"postmark_configure", "postmark_unconfigure", "postmark_add_routes"})
