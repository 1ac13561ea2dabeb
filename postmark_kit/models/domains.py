"""Sending domains: DNS records and their verification state."""

from __future__ import annotations

from enum import StrEnum

import attrs

from ..convert import Model, jfield

__all__ = ["DKIMUpdateStatus", "Domain"]


class DKIMUpdateStatus(StrEnum):
    """Values of ``DKIMUpdateStatus``.  Fields stay ``str``: new values pass through."""

    PENDING = "Pending"
    VERIFIED = "Verified"


@attrs.define(frozen=True)
class Domain(Model):
    """A sending domain.

    ``list`` returns only the summary fields (id, name and the ``*_verified``
    flags); ``get``, ``create``, ``update`` and the verify/rotate actions fill
    in the DNS records to publish.
    """

    id: int | None = None
    name: str | None = None
    spf_verified: bool | None = None
    spf_host: str | None = None
    spf_text_value: str | None = None
    dkim_verified: bool | None = None
    weak_dkim: bool | None = None
    dkim_host: str | None = None
    dkim_text_value: str | None = None
    dkim_pending_host: str | None = None
    dkim_pending_text_value: str | None = None
    dkim_revoked_host: str | None = None
    dkim_revoked_text_value: str | None = None
    safe_to_remove_revoked_key_from_dns: bool | None = jfield("SafeToRemoveRevokedKeyFromDNS")
    dkim_update_status: str | None = None
    return_path_domain: str | None = None
    return_path_domain_verified: bool | None = None
    return_path_domain_cname_value: str | None = None
