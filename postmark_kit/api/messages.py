"""Message search: ``client.outbound`` and ``client.inbound``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TypeVar

from ..concurrency import DEFAULT_CONCURRENCY
from ..models.common import ActionResult, Dump
from ..models.messages import (
    ClickEvent,
    InboundMessageDetails,
    InboundMessageSummary,
    OpenEvent,
    OutboundMessage,
    OutboundMessageDetails,
)
from ..pagination import MAX_COUNT, MAX_WINDOW, Page, PageStream, earlier_to_date, paginate
from ._base import Resource, item_limit, metadata_query, query, seg

__all__ = ["INBOUND_DATE_MARGIN", "InboundApi", "OutboundApi"]

T = TypeVar("T", OutboundMessage, InboundMessageSummary, OpenEvent, ClickEvent)

DateLike = date | datetime | None


def _received_at(item: OutboundMessage | OpenEvent | ClickEvent) -> datetime | None:
    return item.received_at


#: Inbound search has no received time, only the sender's ``Date`` header:
#: past 10,000 the walk narrows to the median date of the last page plus this.
INBOUND_DATE_MARGIN = timedelta(minutes=2)


def _inbound_date(item: InboundMessageSummary) -> datetime | None:
    return item.received_date


def _tracking_key(item: OpenEvent | ClickEvent) -> tuple[object, ...]:
    return (item.message_id, item.recipient, item.received_at, getattr(item, "original_link", None))


def _message_key(item: OutboundMessage | InboundMessageSummary) -> object:
    return item.message_id


class OutboundApi(Resource):
    """``client.outbound``: sent messages, their details, dumps, opens and clicks."""

    _PATH = "/messages/outbound"

    def list(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        recipient: str | None = None,
        from_email: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        subject: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Page[OutboundMessage]:
        """One page of sent messages, newest first.

        ``count`` <= 500 and ``count + offset`` <= 10,000, checked before sending.
        """
        params = query(
            recipient=recipient,
            fromemail=from_email,
            tag=tag,
            status=status,
            subject=subject,
            messagestream=message_stream,
            fromdate=from_date,
            todate=to_date,
        )
        params.update(metadata_query(metadata))
        return self._page(
            self._PATH, "Messages", OutboundMessage, params, count, offset, max_window=MAX_WINDOW
        )

    def stream(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        concurrency: int = DEFAULT_CONCURRENCY,
        recipient: str | None = None,
        from_email: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        subject: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        metadata: Mapping[str, str] | None = None,
        max_messages: int | None = None,
    ) -> PageStream[OutboundMessage]:
        """Every matching sent message, lazily, past the 10,000 window (see :mod:`.pagination`).

        ``max_items`` stops after that many messages (``max_messages`` is its
        deprecated old name).
        ``concurrency``: pages fetched at once (default 4, at most 8; 1: strictly
        one after another).
        """

        def fetch(count: int, offset: int, narrowed: datetime | None) -> Page[OutboundMessage]:
            return self.list(
                count=count,
                offset=offset,
                recipient=recipient,
                from_email=from_email,
                tag=tag,
                status=status,
                subject=subject,
                message_stream=message_stream,
                from_date=from_date,
                to_date=earlier_to_date(to_date, narrowed),
                metadata=metadata,
            )

        return paginate(
            fetch,
            concurrency=concurrency,
            throttle=self._transport.throttle,
            page_size=page_size,
            max_items=item_limit(max_items, max_messages, "stream"),
            timestamp=_received_at,
            key=_message_key,
        )

    def get(self, message_id: str) -> OutboundMessageDetails:
        """Details, bodies and event history of one sent message."""
        return self._call("GET", f"{self._PATH}/{seg(message_id)}/details", OutboundMessageDetails)

    def get_dump(self, message_id: str) -> Dump:
        """Raw source of a sent message (empty ``body`` once past retention)."""
        return self._call("GET", f"{self._PATH}/{seg(message_id)}/dump", Dump)

    def list_opens(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        recipient: str | None = None,
        tag: str | None = None,
        client_name: str | None = None,
        client_company: str | None = None,
        client_family: str | None = None,
        os_name: str | None = None,
        os_family: str | None = None,
        os_company: str | None = None,
        platform: str | None = None,
        country: str | None = None,
        region: str | None = None,
        city: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
    ) -> Page[OpenEvent]:
        """One page of open events across messages."""
        params = _tracking_query(
            recipient=recipient,
            tag=tag,
            client_name=client_name,
            client_company=client_company,
            client_family=client_family,
            os_name=os_name,
            os_family=os_family,
            os_company=os_company,
            platform=platform,
            country=country,
            region=region,
            city=city,
            message_stream=message_stream,
            from_date=from_date,
            to_date=to_date,
        )
        return self._page(f"{self._PATH}/opens", "Opens", OpenEvent, params, count, offset)

    def stream_opens(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        concurrency: int = DEFAULT_CONCURRENCY,
        recipient: str | None = None,
        tag: str | None = None,
        client_name: str | None = None,
        client_company: str | None = None,
        client_family: str | None = None,
        os_name: str | None = None,
        os_family: str | None = None,
        os_company: str | None = None,
        platform: str | None = None,
        country: str | None = None,
        region: str | None = None,
        city: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
    ) -> PageStream[OpenEvent]:
        """Every matching open event, lazily.

        ``concurrency``: pages fetched at once (default 4, at most 8; 1: strictly
        one after another).
        """

        def fetch(count: int, offset: int, narrowed: datetime | None) -> Page[OpenEvent]:
            return self.list_opens(
                count=count,
                offset=offset,
                recipient=recipient,
                tag=tag,
                client_name=client_name,
                client_company=client_company,
                client_family=client_family,
                os_name=os_name,
                os_family=os_family,
                os_company=os_company,
                platform=platform,
                country=country,
                region=region,
                city=city,
                message_stream=message_stream,
                from_date=from_date,
                to_date=earlier_to_date(to_date, narrowed),
            )

        return paginate(
            fetch,
            concurrency=concurrency,
            throttle=self._transport.throttle,
            page_size=page_size,
            max_items=max_items,
            timestamp=_received_at,
            key=_tracking_key,
        )

    def list_message_opens(
        self, message_id: str, *, count: int = 100, offset: int = 0
    ) -> Page[OpenEvent]:
        """Open events of one message."""
        path = f"{self._PATH}/opens/{seg(message_id)}"
        return self._page(path, "Opens", OpenEvent, {}, count, offset)

    def list_clicks(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        recipient: str | None = None,
        tag: str | None = None,
        client_name: str | None = None,
        client_company: str | None = None,
        client_family: str | None = None,
        os_name: str | None = None,
        os_family: str | None = None,
        os_company: str | None = None,
        platform: str | None = None,
        country: str | None = None,
        region: str | None = None,
        city: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
    ) -> Page[ClickEvent]:
        """One page of click events across messages."""
        params = _tracking_query(
            recipient=recipient,
            tag=tag,
            client_name=client_name,
            client_company=client_company,
            client_family=client_family,
            os_name=os_name,
            os_family=os_family,
            os_company=os_company,
            platform=platform,
            country=country,
            region=region,
            city=city,
            message_stream=message_stream,
            from_date=from_date,
            to_date=to_date,
        )
        return self._page(f"{self._PATH}/clicks", "Clicks", ClickEvent, params, count, offset)

    def stream_clicks(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        concurrency: int = DEFAULT_CONCURRENCY,
        recipient: str | None = None,
        tag: str | None = None,
        client_name: str | None = None,
        client_company: str | None = None,
        client_family: str | None = None,
        os_name: str | None = None,
        os_family: str | None = None,
        os_company: str | None = None,
        platform: str | None = None,
        country: str | None = None,
        region: str | None = None,
        city: str | None = None,
        message_stream: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
    ) -> PageStream[ClickEvent]:
        """Every matching click event, lazily.

        ``concurrency``: pages fetched at once (default 4, at most 8; 1: strictly
        one after another).
        """

        def fetch(count: int, offset: int, narrowed: datetime | None) -> Page[ClickEvent]:
            return self.list_clicks(
                count=count,
                offset=offset,
                recipient=recipient,
                tag=tag,
                client_name=client_name,
                client_company=client_company,
                client_family=client_family,
                os_name=os_name,
                os_family=os_family,
                os_company=os_company,
                platform=platform,
                country=country,
                region=region,
                city=city,
                message_stream=message_stream,
                from_date=from_date,
                to_date=earlier_to_date(to_date, narrowed),
            )

        return paginate(
            fetch,
            concurrency=concurrency,
            throttle=self._transport.throttle,
            page_size=page_size,
            max_items=max_items,
            timestamp=_received_at,
            key=_tracking_key,
        )

    def list_message_clicks(
        self, message_id: str, *, count: int = 100, offset: int = 0
    ) -> Page[ClickEvent]:
        """Click events of one message."""
        path = f"{self._PATH}/clicks/{seg(message_id)}"
        return self._page(path, "Clicks", ClickEvent, {}, count, offset)


def _tracking_query(
    *,
    recipient: str | None,
    tag: str | None,
    client_name: str | None,
    client_company: str | None,
    client_family: str | None,
    os_name: str | None,
    os_family: str | None,
    os_company: str | None,
    platform: str | None,
    country: str | None,
    region: str | None,
    city: str | None,
    message_stream: str | None,
    from_date: DateLike,
    to_date: DateLike,
) -> dict[str, str]:
    """The query of the opens and clicks searches (the same filters)."""
    return query(
        recipient=recipient,
        tag=tag,
        client_name=client_name,
        client_company=client_company,
        client_family=client_family,
        os_name=os_name,
        os_family=os_family,
        os_company=os_company,
        platform=platform,
        country=country,
        region=region,
        city=city,
        messagestream=message_stream,
        fromdate=from_date,
        todate=to_date,
    )


class InboundApi(Resource):
    """``client.inbound``: received messages; retry failed and bypass blocked ones."""

    _PATH = "/messages/inbound"

    def list(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        recipient: str | None = None,
        from_email: str | None = None,
        tag: str | None = None,
        subject: str | None = None,
        mailbox_hash: str | None = None,
        status: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
    ) -> Page[InboundMessageSummary]:
        """One page of received messages, newest first."""
        params = query(
            recipient=recipient,
            fromemail=from_email,
            tag=tag,
            subject=subject,
            mailboxhash=mailbox_hash,
            status=status,
            fromdate=from_date,
            todate=to_date,
        )
        return self._page(
            self._PATH,
            "InboundMessages",
            InboundMessageSummary,
            params,
            count,
            offset,
            max_window=MAX_WINDOW,
        )

    def stream(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        concurrency: int = DEFAULT_CONCURRENCY,
        recipient: str | None = None,
        from_email: str | None = None,
        tag: str | None = None,
        subject: str | None = None,
        mailbox_hash: str | None = None,
        status: str | None = None,
        from_date: DateLike = None,
        to_date: DateLike = None,
        max_messages: int | None = None,
    ) -> PageStream[InboundMessageSummary]:
        """Every matching received message, lazily, past the 10,000 window.

        ``max_items`` stops after that many (``max_messages``: deprecated old name).
        ``concurrency``: pages fetched at once on the client's pooled connections
        (default 4, at most 8; 1 fetches strictly one after another).
        """

        def fetch(
            count: int, offset: int, narrowed: datetime | None
        ) -> Page[InboundMessageSummary]:
            return self.list(
                count=count,
                offset=offset,
                recipient=recipient,
                from_email=from_email,
                tag=tag,
                subject=subject,
                mailbox_hash=mailbox_hash,
                status=status,
                from_date=from_date,
                to_date=earlier_to_date(to_date, narrowed),
            )

        return paginate(
            fetch,
            concurrency=concurrency,
            throttle=self._transport.throttle,
            page_size=page_size,
            max_items=item_limit(max_items, max_messages, "stream"),
            timestamp=_inbound_date,
            key=_message_key,
            approximate=INBOUND_DATE_MARGIN,
        )

    def get(self, message_id: str) -> InboundMessageDetails:
        """Full details of one received message."""
        return self._call("GET", f"{self._PATH}/{seg(message_id)}/details", InboundMessageDetails)

    def retry(self, message_id: str) -> ActionResult:
        """Re-queue a failed inbound message for webhook delivery."""
        return self._call("PUT", f"{self._PATH}/{seg(message_id)}/retry", ActionResult)

    def bypass(self, message_id: str) -> ActionResult:
        """Let a message blocked by inbound rules through."""
        return self._call("PUT", f"{self._PATH}/{seg(message_id)}/bypass", ActionResult)
