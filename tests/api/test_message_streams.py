"""client.message_streams: every operation's request and typed answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests_mock

from postmark_kit import ClientValidationError, NotFoundError, ServerClient
from postmark_kit.models import (
    ArchivedMessageStream,
    MessageStream,
    MessageStreamType,
    SubscriptionManagementConfiguration,
    UnsubscribeHandlingType,
)
from tests.api._wire import all_modelled as _all_modelled
from tests.api._wire import sent_exactly as _sent
from tests.conftest import API, load_response

EDT = timezone(timedelta(hours=-4))


def test_list_returns_every_stream(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/message-streams", json=load_response("list_message_streams"))

    page = server_client.message_streams.list()

    _sent(mock_api, "GET", "/message-streams")
    assert page.total == 3
    _all_modelled(page.items)
    assert [s.id for s in page] == ["outbound", "inbound", "transactional-dev"]
    outbound, inbound, _ = page.items
    assert outbound.server_id == 123457
    assert outbound.name == "Transactional Stream"
    assert outbound.description == "This is my stream to send transactional messages"
    assert outbound.message_stream_type == MessageStreamType.TRANSACTIONAL
    assert outbound.created_at == datetime(2020, 7, 1, tzinfo=EDT)
    assert outbound.updated_at == datetime(2020, 7, 5, tzinfo=EDT)
    assert outbound.archived_at is None and outbound.expected_purge_date is None
    assert outbound.subscription_management_configuration == (
        SubscriptionManagementConfiguration(unsubscribe_handling_type="None")
    )
    assert inbound.message_stream_type == "Inbound"
    assert inbound.updated_at is None


def test_list_filters_by_type_and_archived(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/message-streams", json={"MessageStreams": [], "TotalCount": 0})

    page = server_client.message_streams.list(
        include_archived=True, message_stream_type=MessageStreamType.BROADCASTS
    )

    _sent(
        mock_api,
        "GET",
        "/message-streams",
        query={"MessageStreamType": "Broadcasts", "IncludeArchivedStreams": "true"},
    )
    assert (page.total, page.items) == (0, [])


def test_get(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.get(f"{API}/message-streams/broadcasts", json=load_response("get_message_stream"))

    stream = server_client.message_streams.get("broadcasts")

    _sent(mock_api, "GET", "/message-streams/broadcasts")
    _all_modelled(stream)
    assert stream == MessageStream(
        id="broadcasts",
        server_id=123456,
        name="Broadcast Stream",
        description="This is my stream to send broadcast messages",
        message_stream_type="Broadcasts",
        created_at=datetime(2020, 7, 1, tzinfo=EDT),
        updated_at=datetime(2020, 7, 1, tzinfo=EDT),
        archived_at=None,
        expected_purge_date=None,
        subscription_management_configuration=SubscriptionManagementConfiguration(
            unsubscribe_handling_type=UnsubscribeHandlingType.POSTMARK
        ),
    )


def test_create_sends_every_field(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/message-streams", json=load_response("create_message_stream"))

    stream = server_client.message_streams.create(
        id="transactional-dev",
        name="My Dev Transactional Stream",
        message_stream_type=MessageStreamType.TRANSACTIONAL,
        description="This is my second transactional stream",
        subscription_management_configuration=SubscriptionManagementConfiguration(
            unsubscribe_handling_type=UnsubscribeHandlingType.NONE
        ),
    )

    _sent(
        mock_api,
        "POST",
        "/message-streams",
        body={
            "ID": "transactional-dev",
            "Name": "My Dev Transactional Stream",
            "MessageStreamType": "Transactional",
            "Description": "This is my second transactional stream",
            "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "None"},
        },
    )
    assert isinstance(stream, MessageStream)
    _all_modelled(stream)
    assert (stream.id, stream.server_id, stream.name) == (
        "transactional-dev",
        123457,
        "My Dev Transactional Stream",
    )
    assert stream.created_at == datetime(2020, 7, 2, 4, tzinfo=UTC)
    assert stream.archived_at is None and stream.expected_purge_date is None


def test_create_with_required_fields_only(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/message-streams", json=load_response("create_message_stream"))

    server_client.message_streams.create(id="news", name="News", message_stream_type="Broadcasts")

    _sent(
        mock_api,
        "POST",
        "/message-streams",
        body={"ID": "news", "Name": "News", "MessageStreamType": "Broadcasts"},
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "in2", "name": "In", "message_stream_type": MessageStreamType.INBOUND},
        {"id": "in2", "name": "In", "message_stream_type": "inbound"},
        {"id": "", "name": "X", "message_stream_type": "Broadcasts"},
        {"id": "x", "name": "", "message_stream_type": "Broadcasts"},
    ],
)
def test_create_refuses_what_postmark_cannot_create(
    mock_api: requests_mock.Mocker, server_client: ServerClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ClientValidationError):
        server_client.message_streams.create(**kwargs)
    assert mock_api.call_count == 0


def test_update_patches_every_editable_field(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.patch(
        f"{API}/message-streams/transactional-dev", json=load_response("edit_message_stream")
    )

    stream = server_client.message_streams.update(
        "transactional-dev",
        name="Updated Dev Stream",
        description="Updating my dev transactional stream",
        subscription_management_configuration=UnsubscribeHandlingType.CUSTOM,
    )

    _sent(
        mock_api,
        "PATCH",
        "/message-streams/transactional-dev",
        body={
            "Name": "Updated Dev Stream",
            "Description": "Updating my dev transactional stream",
            "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Custom"},
        },
    )
    _all_modelled(stream)
    assert (stream.name, stream.description) == (
        "Updated Dev Stream",
        "Updating my dev transactional stream",
    )
    assert stream.updated_at == datetime(2020, 7, 3, tzinfo=EDT)


def test_update_sends_only_the_fields_set(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.patch(
        f"{API}/message-streams/transactional-dev", json=load_response("edit_message_stream")
    )

    server_client.message_streams.update("transactional-dev", description="")

    _sent(mock_api, "PATCH", "/message-streams/transactional-dev", body={"Description": ""})


def test_update_with_nothing_to_change_is_refused(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        server_client.message_streams.update("outbound")
    assert mock_api.call_count == 0


def test_archive_returns_the_purge_date_as_an_aware_datetime(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(
        f"{API}/message-streams/transactional-dev/archive",
        json=load_response("archive_message_stream"),
    )

    archived = server_client.message_streams.archive("transactional-dev")

    _sent(mock_api, "POST", "/message-streams/transactional-dev/archive")
    assert isinstance(archived, ArchivedMessageStream)
    _all_modelled(archived)
    assert (archived.id, archived.server_id) == ("transactional-dev", 123457)
    assert archived.expected_purge_date == datetime(2020, 8, 30, 16, 30, tzinfo=UTC)
    assert archived.expected_purge_date is not None
    assert archived.expected_purge_date.utcoffset() == timedelta(hours=-4)


def test_unarchive(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.post(
        f"{API}/message-streams/transactional-dev/unarchive",
        json=load_response("unarchive_message_stream"),
    )

    stream = server_client.message_streams.unarchive("transactional-dev")

    _sent(mock_api, "POST", "/message-streams/transactional-dev/unarchive")
    assert isinstance(stream, MessageStream)
    _all_modelled(stream)
    assert (stream.id, stream.name, stream.archived_at) == (
        "transactional-dev",
        "Updated Dev Stream",
        None,
    )
    assert stream.updated_at == datetime(2020, 7, 4, tzinfo=EDT)


def test_stream_id_is_escaped_in_the_path(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(requests_mock.ANY, json=load_response("get_message_stream"))

    server_client.message_streams.get("a/b")

    _sent(mock_api, "GET", "/message-streams/a%2Fb")


def test_unknown_stream_raises_not_found(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(
        f"{API}/message-streams/nope",
        status_code=404,
        json={
            "ErrorCode": 1226,
            "Message": "The message stream for the provided 'ID' was not found.",
        },
    )

    with pytest.raises(NotFoundError) as info:
        server_client.message_streams.get("nope")

    assert (info.value.status_code, info.value.error_code) == (404, 1226)
