"""Receive Postmark webhooks in Flask and dispatch typed events to pluggy plugins."""

from .app import (
    DUPLICATE_HEADER,
    EVENT_HEADER,
    EVENT_KINDS,
    KEY_HEADER,
    PostmarkReceiver,
    create_app,
)
from .config import POSTMARK_WEBHOOK_IPS, ConfigError, ReceiverConfig
from .dispatch import (
    Dispatcher,
    DispatchError,
    DispatchResult,
    InlineDispatcher,
    PluginFailure,
    Reject,
    Webhook,
    register_dispatcher,
)
from .manager import PluginLoadError, build_plugin_manager

__all__ = [
    "DUPLICATE_HEADER",
    "EVENT_HEADER",
    "EVENT_KINDS",
    "KEY_HEADER",
    "POSTMARK_WEBHOOK_IPS",
    "ConfigError",
    "DispatchError",
    "DispatchResult",
    "Dispatcher",
    "InlineDispatcher",
    "PluginFailure",
    "PluginLoadError",
    "PostmarkReceiver",
    "ReceiverConfig",
    "Reject",
    "Webhook",
    "build_plugin_manager",
    "create_app",
    "register_dispatcher",
]
