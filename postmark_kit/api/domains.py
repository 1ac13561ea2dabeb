"""Sending domains (account token): DNS records, verification, DKIM rotation."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from ..errors import ClientValidationError
from ..models.common import ActionResult
from ..models.domains import Domain
from ..pagination import MAX_COUNT, Page, paginate
from ._base import Resource, seg

__all__ = ["DomainsApi"]


class DomainsApi(Resource):
    """``account.domains``."""

    _PATH = "/domains"

    def list(self, *, count: int = 100, offset: int = 0) -> Page[Domain]:
        """One page of domains (summary fields only; :meth:`get` has the DNS records)."""
        return self._page(self._PATH, "Domains", Domain, {}, count, offset)

    def stream(
        self, *, max_items: int | None = None, page_size: int = MAX_COUNT
    ) -> Iterator[Domain]:
        """Every domain of the account, lazily."""
        return paginate(
            lambda c, o, _: self.list(count=c, offset=o),
            page_size=page_size,
            max_items=max_items,
            max_window=None,
        )

    def get(self, domain_id: int) -> Domain:
        return self._call("GET", f"{self._PATH}/{seg(domain_id)}", Domain)

    def create(self, *, name: str, return_path_domain: str | None = None) -> Domain:
        """Add a domain; publish the returned DNS records, then verify them.

        ``return_path_domain`` must be a subdomain of ``name`` with a CNAME to
        ``pm.mtasv.net``.
        """
        if not isinstance(name, str) or not name.strip():
            raise ClientValidationError("a domain name is required")
        body: dict[str, str] = {"Name": name}
        if return_path_domain is not None:
            body["ReturnPathDomain"] = return_path_domain
        return self._call("POST", self._PATH, Domain, json_body=body)

    def update(self, domain_id: int, *, return_path_domain: str | None = None) -> Domain:
        """Change the custom Return-Path domain (the only editable field)."""
        if return_path_domain is None:
            raise ClientValidationError("nothing to update: give return_path_domain")
        return self._call(
            "PUT",
            f"{self._PATH}/{seg(domain_id)}",
            Domain,
            json_body={"ReturnPathDomain": return_path_domain},
        )

    def delete(self, domain_id: int) -> ActionResult:
        return self._call("DELETE", f"{self._PATH}/{seg(domain_id)}", ActionResult)

    def verify_dkim(self, domain_id: int) -> Domain:
        """Ask Postmark to check the DKIM record now (instead of waiting for its own check)."""
        return self._call("PUT", f"{self._PATH}/{seg(domain_id)}/verifyDkim", Domain)

    def verify_return_path(self, domain_id: int) -> Domain:
        """Ask Postmark to check the Return-Path CNAME now."""
        return self._call("PUT", f"{self._PATH}/{seg(domain_id)}/verifyReturnPath", Domain)

    def verify_spf(self, domain_id: int) -> Domain:
        """Check the SPF record.

        .. deprecated:: Postmark deprecated this call: SPF is no longer
           required (the Return-Path domain covers it).  Kept for old code.
        """
        warnings.warn(
            "domains.verify_spf is deprecated by Postmark: SPF is no longer required",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._call("POST", f"{self._PATH}/{seg(domain_id)}/verifyspf", Domain)

    def rotate_dkim(self, domain_id: int) -> Domain:
        """Start a DKIM key rotation: publish the new ``dkim_pending_*`` record."""
        return self._call("POST", f"{self._PATH}/{seg(domain_id)}/rotatedkim", Domain)
