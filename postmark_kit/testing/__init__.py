"""A local Postmark simulator speaking Postmark's HTTP API, for tests and demos."""

from .hooks import Delivery, WebhookDispatcher
from .server import FakePostmark
from .simulator import HARD_BOUNCE_ADDRESS, SOFT_BOUNCE_ADDRESS, SimulatorState, create_app

__all__ = [
    "HARD_BOUNCE_ADDRESS",
    "SOFT_BOUNCE_ADDRESS",
    "Delivery",
    "FakePostmark",
    "SimulatorState",
    "WebhookDispatcher",
    "create_app",
]
