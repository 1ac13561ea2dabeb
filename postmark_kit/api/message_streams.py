"""Message streams: ``client.message_streams`` (server token)."""

from __future__ import annotations

from ..convert import unstructure
from ..errors import ClientValidationError
from ..models.message_streams import (
    ArchivedMessageStream,
    MessageStream,
    MessageStreamFields,
    MessageStreamType,
    SubscriptionManagementConfiguration,
    UnsubscribeHandlingType,
)
from ..pagination import Page
from ._base import Resource, query, read_page, seg

__all__ = ["MessageStreamsApi"]


def _path(stream_id: str) -> str:
    if not stream_id:
        raise ClientValidationError("a message stream id is required")
    return f"/message-streams/{seg(stream_id)}"


def _subscription(
    value: SubscriptionManagementConfiguration | str | UnsubscribeHandlingType | None,
) -> SubscriptionManagementConfiguration | None:
    """Accept the configuration object or just its unsubscribe handling type."""
    if value is None or isinstance(value, SubscriptionManagementConfiguration):
        return value
    return SubscriptionManagementConfiguration(unsubscribe_handling_type=str(value))


class MessageStreamsApi(Resource):
    """``client.message_streams``.

    ``subscription_management_configuration`` takes a
    :class:`SubscriptionManagementConfiguration` or just an
    :class:`UnsubscribeHandlingType` (``"Postmark"``, ``"Custom"``, ``"None"``).
    """

    def list(
        self,
        *,
        include_archived: bool | None = None,
        message_stream_type: str | MessageStreamType | None = None,
    ) -> Page[MessageStream]:
        """Every stream of the server (not paginated); archived ones only if asked."""
        params = query(
            MessageStreamType=None if message_stream_type is None else str(message_stream_type),
            IncludeArchivedStreams=include_archived,
        )
        data = self._transport.request("GET", "/message-streams", params=params)
        return read_page(
            data, "MessageStreams", MessageStream, "GET", "/message-streams", missing_total=None
        )

    def get(self, stream_id: str) -> MessageStream:
        return self._call("GET", _path(stream_id), MessageStream)

    def create(
        self,
        *,
        id: str,
        name: str,
        message_stream_type: str | MessageStreamType,
        description: str | None = None,
        subscription_management_configuration: SubscriptionManagementConfiguration
        | str
        | UnsubscribeHandlingType
        | None = None,
    ) -> MessageStream:
        """Create a Transactional or Broadcasts stream; ``id`` is permanent."""
        if not id or not name:
            raise ClientValidationError("a message stream needs an id and a name")
        if str(message_stream_type).lower() == MessageStreamType.INBOUND.lower():
            # Every server has exactly one inbound stream, made by Postmark.
            raise ClientValidationError(
                "an Inbound stream cannot be created: use Transactional or Broadcasts"
            )
        fields = MessageStreamFields(
            id=id,
            name=name,
            message_stream_type=str(message_stream_type),
            description=description,
            subscription_management_configuration=_subscription(
                subscription_management_configuration
            ),
        )
        return self._call("POST", "/message-streams", MessageStream, json_body=unstructure(fields))

    def update(
        self,
        stream_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        subscription_management_configuration: SubscriptionManagementConfiguration
        | str
        | UnsubscribeHandlingType
        | None = None,
    ) -> MessageStream:
        """Change only the fields given (PATCH); the stream's id and type are permanent."""
        fields = MessageStreamFields(
            name=name,
            description=description,
            subscription_management_configuration=_subscription(
                subscription_management_configuration
            ),
        )
        body = unstructure(fields)
        if not body:
            raise ClientValidationError("update needs at least one field to change")
        return self._call("PATCH", _path(stream_id), MessageStream, json_body=body)

    def archive(self, stream_id: str) -> ArchivedMessageStream:
        """Archive a stream: it stops sending and is purged at ``expected_purge_date``.

        Until then :meth:`unarchive` restores it with its data.
        """
        return self._call("POST", _path(stream_id) + "/archive", ArchivedMessageStream)

    def unarchive(self, stream_id: str) -> MessageStream:
        return self._call("POST", _path(stream_id) + "/unarchive", MessageStream)
