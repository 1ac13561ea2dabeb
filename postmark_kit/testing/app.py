"""Compatibility module: the simulator lives in ``postmark_kit.testing.simulator``."""

from .simulator import (
    HARD_BOUNCE_ADDRESS,
    SOFT_BOUNCE_ADDRESS,
    SimulatorState,
    create_app,
)

__all__ = ["HARD_BOUNCE_ADDRESS", "SOFT_BOUNCE_ADDRESS", "SimulatorState", "create_app"]
