"""A local Postmark simulator speaking Postmark's HTTP API, for tests and demos.

Its names are imported on first use: the pytest plugin (``postmark_kit.testing.pytest_plugin``)
lives in this package, and a test suite that never asks for its fixtures must
not pay for Flask and werkzeug.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import HARD_BOUNCE_ADDRESS, SOFT_BOUNCE_ADDRESS, SimulatorState, create_app
    from .hooks import Delivery, WebhookDispatcher
    from .server import FakePostmark

__all__ = [
    "HARD_BOUNCE_ADDRESS",
    "SOFT_BOUNCE_ADDRESS",
    "Delivery",
    "FakePostmark",
    "SimulatorState",
    "WebhookDispatcher",
    "create_app",
]

#: Public name -> the submodule defining it.
_HOMES = {
    "HARD_BOUNCE_ADDRESS": "app",
    "SOFT_BOUNCE_ADDRESS": "app",
    "SimulatorState": "app",
    "create_app": "app",
    "Delivery": "hooks",
    "WebhookDispatcher": "hooks",
    "FakePostmark": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
