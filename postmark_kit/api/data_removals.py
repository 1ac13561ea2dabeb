"""Data removal requests (account token): erase a recipient's data."""

from __future__ import annotations

from ..errors import ClientValidationError
from ..models.data_removals import DataRemoval
from ._base import Resource, seg

__all__ = ["DataRemovalsApi"]


class DataRemovalsApi(Resource):
    """``account.data_removals``.  Postmark enables this feature on request only."""

    _PATH = "/data-removals"

    def create(
        self,
        *,
        requested_by: str,
        requested_for: str,
        notify_when_completed: bool | None = None,
    ) -> DataRemoval:
        """Ask Postmark to erase the data of ``requested_for``.

        ``requested_by`` is the requester's address; with
        ``notify_when_completed`` it is emailed when the removal is done.
        """
        for label, value in (("requested_by", requested_by), ("requested_for", requested_for)):
            if not isinstance(value, str) or not value.strip():
                raise ClientValidationError(f"{label} is required (an email address)")
        body: dict[str, object] = {"RequestedBy": requested_by, "RequestedFor": requested_for}
        if notify_when_completed is not None:
            body["NotifyWhenCompleted"] = notify_when_completed
        return self._call("POST", self._PATH, DataRemoval, json_body=body)

    def get(self, removal_id: int) -> DataRemoval:
        """Status of a request (``Pending`` until Postmark is done)."""
        return self._call("GET", f"{self._PATH}/{seg(removal_id)}", DataRemoval)
