"""Sender signatures: confirmed From addresses and their DNS state."""

from __future__ import annotations

import attrs

from ..convert import Model, jfield

__all__ = ["SenderSignature"]


@attrs.define(frozen=True)
class SenderSignature(Model):
    """A sender signature.

    ``list`` returns only the summary fields (id, domain, addresses, name,
    ``confirmed``); the other calls return the DNS fields too.
    """

    id: int | None = None
    domain: str | None = None
    email_address: str | None = None
    reply_to_email_address: str | None = None
    name: str | None = None
    confirmed: bool | None = None
    confirmation_personal_note: str | None = None
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
