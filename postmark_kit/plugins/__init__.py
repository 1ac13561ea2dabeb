"""Built-in plugins: event logging, the SQLite event store, sender blocking."""

from .blocklist import BlockSendersPlugin
from .log import LoggingPlugin
from .store import EventStore, StoredEvent

__all__ = ["BlockSendersPlugin", "EventStore", "LoggingPlugin", "StoredEvent"]
