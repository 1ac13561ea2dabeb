"""postmark-kit: a typed client, webhook receiver and plugin system for Postmark.

Importing the package loads the client only: Flask, pluggy and click come in
with the receiver, the plugin system (``hookimpl``) and the CLI, when used.
"""

from typing import TYPE_CHECKING, Any

from . import events
from ._version import __version__
from .client import TEST_SERVER_TOKEN, AccountClient, ServerClient
from .errors import (
    ApiError,
    BatchSendError,
    ClientValidationError,
    InactiveRecipientError,
    InvalidEmailError,
    InvalidResponseError,
    InvalidTokenError,
    NetworkError,
    NotFoundError,
    PostmarkError,
    RateLimitError,
    RequestTimeoutError,
    SenderSignatureError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from .models.common import Attachment, Header
from .models.email import BulkEmail, BulkRecipient, Email, SendResult, TemplatedEmail, TrackLinks
from .pagination import Page
from .transport import RetryPolicy

if TYPE_CHECKING:
    from .hookspecs import hookimpl

__all__ = [
    "TEST_SERVER_TOKEN",
    "AccountClient",
    "ApiError",
    "Attachment",
    "BatchSendError",
    "BulkEmail",
    "BulkRecipient",
    "ClientValidationError",
    "Email",
    "Header",
    "InactiveRecipientError",
    "InvalidEmailError",
    "InvalidResponseError",
    "InvalidTokenError",
    "NetworkError",
    "NotFoundError",
    "Page",
    "PostmarkError",
    "RateLimitError",
    "RequestTimeoutError",
    "RetryPolicy",
    "SendResult",
    "SenderSignatureError",
    "ServerClient",
    "ServerError",
    "TemplatedEmail",
    "TrackLinks",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
    "events",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # hookimpl is pluggy's: imported on first use, so a client-only
    # application never loads the plugin system.
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
