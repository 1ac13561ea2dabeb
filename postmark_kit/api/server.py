"""The current server: ``client.server`` (the server that owns the token)."""

from __future__ import annotations

from typing import Any

from ..convert import unstructure
from ..errors import ClientValidationError
from ..models.email import TrackLinks
from ..models.servers import Server, ServerColor, ServerFields
from ._base import Resource

__all__ = ["ServerApi"]


class ServerApi(Resource):
    """``client.server``.  To manage other servers, use ``AccountClient.servers``."""

    def get(self) -> Server:
        return self._call("GET", "/server", Server)

    def update(
        self,
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
        return self._call("PUT", "/server", Server, json_body=body)


def settings_update_body(fields: ServerFields) -> dict[str, Any]:
    """The PUT body of a server-settings update: only the settings the caller gave."""
    body: dict[str, Any] = unstructure(fields)
    if not body:
        raise ClientValidationError("update needs at least one setting to change")
    return body
