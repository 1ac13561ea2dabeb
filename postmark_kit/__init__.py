"""postmark-kit: a typed client, webhook receiver and plugin system for Postmark."""

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
from .hookspecs import hookimpl
from .models.common import Attachment, Header
from .models.email import BulkEmail, BulkRecipient, Email, SendResult, TemplatedEmail, TrackLinks
from .pagination import Page
from .transport import RetryPolicy

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
