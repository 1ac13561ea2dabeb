"""A local Postmark simulator speaking Postmark's HTTP API, for tests and demos.

Names are imported on first use (PEP 562), so importing ``postmark_kit.testing``
(as the pytest plugin does in every test run) loads neither Flask nor the simulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import payloads
    from .hooks import Delivery, WebhookDispatcher
    from .inprocess import AppWebhooks, post_webhook
    from .server import FakePostmark
    from .simulator import (
        HARD_BOUNCE_ADDRESS,
        SOFT_BOUNCE_ADDRESS,
        SimulationError,
        SimulatorState,
        bounce_address,
        create_app,
        create_wsgi_app,
    )

__all__ = [
    "HARD_BOUNCE_ADDRESS",
    "SOFT_BOUNCE_ADDRESS",
    "AppWebhooks",
    "Delivery",
    "FakePostmark",
    "SimulationError",
    "SimulatorState",
    "WebhookDispatcher",
    "bounce_address",
    "create_app",
    "create_wsgi_app",
    "payloads",
    "post_webhook",
]

#: Where each public name lives.
_WHERE = {
    "HARD_BOUNCE_ADDRESS": ".simulator",
    "SOFT_BOUNCE_ADDRESS": ".simulator",
    "SimulationError": ".simulator",
    "SimulatorState": ".simulator",
    "bounce_address": ".simulator",
    "create_app": ".simulator",
    "create_wsgi_app": ".simulator",
    "Delivery": ".hooks",
    "WebhookDispatcher": ".hooks",
    "AppWebhooks": ".inprocess",
    "post_webhook": ".inprocess",
    "FakePostmark": ".server",
}


def __getattr__(name: str) -> Any:
    if name == "payloads":
        return importlib.import_module(".payloads", __name__)
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
