"""Data removal requests: erasing a recipient's data from Postmark."""

from __future__ import annotations

from enum import StrEnum

import attrs

from ..convert import Model

__all__ = ["DataRemoval", "DataRemovalStatus"]


class DataRemovalStatus(StrEnum):
    """Values of ``Status``.  Fields stay ``str``: new values pass through."""

    PENDING = "Pending"
    DONE = "Done"


@attrs.define(frozen=True)
class DataRemoval(Model):
    """A data removal request and how far it got."""

    id: int | None = None
    status: str | None = None

    @property
    def done(self) -> bool:
        return self.status == DataRemovalStatus.DONE
