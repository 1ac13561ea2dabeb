"""Suppressions (server token): addresses a message stream will not send to."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import date, datetime

from ..errors import BatchSendError, ClientValidationError, PostmarkError
from ..models.suppressions import (
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
    SuppressionResult,
)
from ..pagination import format_date
from ._base import Resource, seg

__all__ = ["MAX_SUPPRESSIONS_PER_CALL", "SuppressionsApi"]

#: Postmark takes at most 50 addresses per create/delete call.
MAX_SUPPRESSIONS_PER_CALL = 50


def _addresses(emails: str | Iterable[str]) -> list[str]:
    """Validate every address before the first call, so a bad one sends nothing."""
    items = [emails] if isinstance(emails, str) else list(emails)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ClientValidationError(f"each address must be a non-empty string, got {item!r}")
    return items


class SuppressionsApi(Resource):
    """``client.suppressions``: per message stream (``"outbound"`` is the default stream)."""

    def _path(self, stream_id: str) -> str:
        if not isinstance(stream_id, str) or not stream_id:
            raise ClientValidationError("a message stream id is required (e.g. 'outbound')")
        return f"/message-streams/{seg(stream_id)}/suppressions"

    def list(
        self,
        stream_id: str,
        *,
        suppression_reason: str | SuppressionReason | None = None,
        origin: str | SuppressionOrigin | None = None,
        from_date: date | datetime | None = None,
        to_date: date | datetime | None = None,
        email_address: str | None = None,
    ) -> builtins.list[Suppression]:
        """Every suppressed address of the stream matching the filters (not paginated).

        Dates are whole days (a ``datetime`` is cut to its date in Postmark's time zone).
        """
        params: dict[str, str] = {}
        if suppression_reason is not None:
            params["SuppressionReason"] = str(suppression_reason)
        if origin is not None:
            params["Origin"] = str(origin)
        if from_date is not None:
            params["fromdate"] = format_date(from_date, with_time=False)
        if to_date is not None:
            params["todate"] = format_date(to_date, with_time=False)
        if email_address is not None:
            params["EmailAddress"] = email_address
        path = self._path(stream_id) + "/dump"
        return self._call_list("GET", path, "Suppressions", Suppression, params=params)

    def create(
        self, stream_id: str, emails: str | Iterable[str]
    ) -> builtins.list[SuppressionResult]:
        """Suppress addresses on the stream; one result per address, in input order.

        Any number of addresses: they go out in calls of 50 (Postmark's limit).
        A refused address is reported in its result (``ok`` is False), not
        raised.  If a call fails after earlier ones succeeded, a
        :class:`~postmark_kit.errors.BatchSendError` carries the results so far.
        """
        return self._change(self._path(stream_id), emails)

    def delete(
        self, stream_id: str, emails: str | Iterable[str]
    ) -> builtins.list[SuppressionResult]:
        """Reactivate suppressed addresses (spam complaints cannot be reactivated).

        Chunking, ordering and partial failure as in :meth:`create`.
        """
        return self._change(self._path(stream_id) + "/delete", emails)

    def _change(self, path: str, emails: str | Iterable[str]) -> builtins.list[SuppressionResult]:
        addresses = _addresses(emails)
        results: builtins.list[SuppressionResult] = []
        for start in range(0, len(addresses), MAX_SUPPRESSIONS_PER_CALL):
            chunk = addresses[start : start + MAX_SUPPRESSIONS_PER_CALL]
            body = {"Suppressions": [{"EmailAddress": address} for address in chunk]}
            try:
                # Suppressing or reactivating an address twice changes nothing,
                # so these POSTs are safe to retry.
                chunk_results = self._call_list(
                    "POST", path, "Suppressions", SuppressionResult, json_body=body, idempotent=True
                )
            except PostmarkError as exc:
                if not results:
                    raise
                raise BatchSendError(results, exc) from exc
            results.extend(chunk_results)
        return results
