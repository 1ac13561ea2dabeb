"""Every server of the account: ``account.servers`` (account token)."""

from __future__ import annotations

from collections.abc import Iterator

from ..convert import unstructure
from ..errors import ClientValidationError
from ..models.common import ActionResult
from ..models.email import TrackLinks
from ..models.servers import DeliveryType, Server, ServerColor, ServerFields
from ..pagination import MAX_COUNT, Page, paginate
from ._base import Resource, query, seg
from .server import settings_update_body

__all__ = ["ServersApi"]


class ServersApi(Resource):
    """``account.servers``.  The server of a server token is ``ServerClient.server``."""

    def list(self, *, count: int = 100, offset: int = 0, name: str | None = None) -> Page[Server]:
        """One page of servers; ``name`` filters by server name."""
        return self._page("/servers", "Servers", Server, query(name=name), count, offset)

    def stream(
        self, *, max_items: int | None = None, page_size: int = MAX_COUNT, name: str | None = None
    ) -> Iterator[Server]:
        """Every matching server, lazily, page by page."""
        return paginate(
            lambda c, o, _: self.list(count=c, offset=o, name=name),
            page_size=page_size,
            max_items=max_items,
            max_window=None,
        )

    def get(self, server_id: int) -> Server:
        return self._call("GET", f"/servers/{seg(server_id)}", Server)

    def create(
        self,
        *,
        name: str,
        color: str | ServerColor | None = None,
        raw_email_enabled: bool | None = None,
        smtp_api_activated: bool | None = None,
        inbound_hook_url: str | None = None,
        bounce_hook_url: str | None = None,
        open_hook_url: str | None = None,
        delivery_hook_url: str | None = None,
        click_hook_url: str | None = None,
        post_first_open_only: bool | None = None,
        inbound_domain: str | None = None,
        inbound_spam_threshold: int | None = None,
        track_opens: bool | None = None,
        track_links: str | TrackLinks | None = None,
        include_bounce_content_in_hook: bool | None = None,
        enable_smtp_api_error_hooks: bool | None = None,
        delivery_type: str | DeliveryType | None = None,
    ) -> Server:
        """Create a server.  ``delivery_type`` (Live/Sandbox) cannot be changed later."""
        if not name:
            raise ClientValidationError("a server needs a name")
        fields = ServerFields(
            name=name,
            color=color,
            raw_email_enabled=raw_email_enabled,
            smtp_api_activated=smtp_api_activated,
            inbound_hook_url=inbound_hook_url,
            bounce_hook_url=bounce_hook_url,
            open_hook_url=open_hook_url,
            delivery_hook_url=delivery_hook_url,
            click_hook_url=click_hook_url,
            post_first_open_only=post_first_open_only,
            inbound_domain=inbound_domain,
            inbound_spam_threshold=inbound_spam_threshold,
            track_opens=track_opens,
            track_links=track_links,
            include_bounce_content_in_hook=include_bounce_content_in_hook,
            enable_smtp_api_error_hooks=enable_smtp_api_error_hooks,
            delivery_type=delivery_type,
        )
        return self._call("POST", "/servers", Server, json_body=unstructure(fields))

    def update(
        self,
        server_id: int,
        *,
        name: str | None = None,
        color: str | ServerColor | None = None,
        raw_email_enabled: bool | None = None,
        smtp_api_activated: bool | None = None,
        inbound_hook_url: str | None = None,
        bounce_hook_url: str | None = None,
        open_hook_url: str | None = None,
        delivery_hook_url: str | None = None,
        click_hook_url: str | None = None,
        post_first_open_only: bool | None = None,
        inbound_domain: str | None = None,
        inbound_spam_threshold: int | None = None,
        track_opens: bool | None = None,
        track_links: str | TrackLinks | None = None,
        include_bounce_content_in_hook: bool | None = None,
        enable_smtp_api_error_hooks: bool | None = None,
    ) -> Server:
        """Change only the settings given; Postmark keeps the others.

        Pass ``""`` to clear a URL or the inbound domain.
        """
        body = settings_update_body(
            ServerFields(
                name=name,
                color=color,
                raw_email_enabled=raw_email_enabled,
                smtp_api_activated=smtp_api_activated,
                inbound_hook_url=inbound_hook_url,
                bounce_hook_url=bounce_hook_url,
                open_hook_url=open_hook_url,
                delivery_hook_url=delivery_hook_url,
                click_hook_url=click_hook_url,
                post_first_open_only=post_first_open_only,
                inbound_domain=inbound_domain,
                inbound_spam_threshold=inbound_spam_threshold,
                track_opens=track_opens,
                track_links=track_links,
                include_bounce_content_in_hook=include_bounce_content_in_hook,
                enable_smtp_api_error_hooks=enable_smtp_api_error_hooks,
            )
        )
        return self._call("PUT", f"/servers/{seg(server_id)}", Server, json_body=body)

    def delete(self, server_id: int) -> ActionResult:
        """Delete a server.  Postmark allows it only once support has enabled it."""
        return self._call("DELETE", f"/servers/{seg(server_id)}", ActionResult)
