"""Webhook configuration: ``client.webhooks`` (server token)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..convert import unstructure
from ..errors import ClientValidationError
from ..models.common import ActionResult, Header
from ..models.webhooks import HttpAuth, Webhook, WebhookFields, WebhookTriggers
from ._base import Resource, query, seg

__all__ = ["WebhooksApi"]

Headers = Mapping[str, str] | Iterable[Header]


def _path(webhook_id: int) -> str:
    return f"/webhooks/{seg(webhook_id)}"


class WebhooksApi(Resource):
    """``client.webhooks``: where Postmark posts events, and which events.

    ``http_headers`` takes a mapping (``{"X-Secret": "..."}``) or a list of
    :class:`~postmark_kit.Header`.
    """

    def list(self, *, message_stream: str | None = None) -> list[Webhook]:
        """Webhooks of the server, or of one stream (an unknown stream is an error)."""
        params = query(MessageStream=message_stream)
        return self._call_list("GET", "/webhooks", "Webhooks", Webhook, params=params)

    def get(self, webhook_id: int) -> Webhook:
        return self._call("GET", _path(webhook_id), Webhook)

    def create(
        self,
        *,
        url: str,
        message_stream: str | None = None,
        http_auth: HttpAuth | None = None,
        http_headers: Headers | None = None,
        triggers: WebhookTriggers | None = None,
    ) -> Webhook:
        """Add a webhook; ``message_stream`` defaults to ``outbound`` on Postmark's side."""
        if not url:
            raise ClientValidationError("a webhook needs a url")
        fields = WebhookFields(
            url=url,
            message_stream=message_stream,
            http_auth=http_auth,
            http_headers=http_headers,
            triggers=triggers,
        )
        return self._call("POST", "/webhooks", Webhook, json_body=unstructure(fields))

    def update(
        self,
        webhook_id: int,
        *,
        url: str | None = None,
        http_auth: HttpAuth | None = None,
        http_headers: Headers | None = None,
        triggers: WebhookTriggers | None = None,
    ) -> Webhook:
        """Change only the fields given; a webhook's message stream cannot change.

        Within ``triggers``, only the triggers (and trigger fields) set are sent.
        """
        fields = WebhookFields(
            url=url, http_auth=http_auth, http_headers=http_headers, triggers=triggers
        )
        body = unstructure(fields)
        if not body:
            raise ClientValidationError("update needs at least one field to change")
        return self._call("PUT", _path(webhook_id), Webhook, json_body=body)

    def delete(self, webhook_id: int) -> ActionResult:
        return self._call("DELETE", _path(webhook_id), ActionResult)
