"""Building the plugin manager: entry points, objects passed in code, dotted names."""

from __future__ import annotations

import importlib
import logging
import types
from collections.abc import Iterable
from typing import Any

import pluggy

from .. import hookspecs

__all__ = ["PluginLoadError", "build_plugin_manager", "load_object"]

log = logging.getLogger("postmark_kit.receiver")


class PluginLoadError(ImportError):
    """A plugin named in configuration could not be imported."""


def load_object(spec: str) -> Any:
    """``"package.module"`` or ``"package.module:attribute"`` -> the object."""
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginLoadError(f"cannot load plugin {spec!r}: {exc}") from exc
    if isinstance(obj, type):
        obj = obj()
    return obj


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
    never registered twice.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        count = pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
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
