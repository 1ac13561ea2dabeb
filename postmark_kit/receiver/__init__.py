"""Receive Postmark webhooks in Flask and dispatch typed events to pluggy plugins."""

from .app import (
    DEFAULT_NAME,
    DUPLICATE_HEADER,
    EVENT_HEADER,
    EVENT_KINDS,
    KEY_HEADER,
    PostmarkReceiver,
    ReceiverState,
    create_app,
    extension_key,
    load_app,
    worker_state,
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
    bind_app,
    register_dispatcher,
)
from .manager import PluginLoadError, build_plugin_manager

__all__ = [
    "DEFAULT_NAME",
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
    "ReceiverState",
    "Reject",
    "Webhook",
    "bind_app",
    "build_plugin_manager",
    "create_app",
    "extension_key",
    "load_app",
    "register_dispatcher",
    "worker_state",
]
