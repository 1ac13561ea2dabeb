"""Sender signatures (account token): confirmed From addresses."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from ..errors import ClientValidationError
from ..models.common import ActionResult
from ..models.senders import SenderSignature
from ..pagination import MAX_COUNT, Page, paginate
from ._base import Resource, seg

__all__ = ["SendersApi"]


def _set_fields(**fields: str | None) -> dict[str, str]:
    """Only what the caller gave: Postmark leaves omitted fields unchanged."""
    return {k: v for k, v in fields.items() if v is not None}


class SendersApi(Resource):
    """``account.senders``."""

    _PATH = "/senders"

    def list(self, *, count: int = 100, offset: int = 0) -> Page[SenderSignature]:
        """One page of signatures (summary fields only; :meth:`get` has the DNS records)."""
        return self._page(self._PATH, "SenderSignatures", SenderSignature, {}, count, offset)

    def stream(
        self, *, max_items: int | None = None, page_size: int = MAX_COUNT
    ) -> Iterator[SenderSignature]:
        """Every sender signature of the account, lazily."""
        return paginate(
            lambda c, o, _: self.list(count=c, offset=o),
            page_size=page_size,
            max_items=max_items,
            max_window=None,
        )

    def get(self, signature_id: int) -> SenderSignature:
        return self._call("GET", f"{self._PATH}/{seg(signature_id)}", SenderSignature)

    def create(
        self,
        *,
        from_email: str,
        name: str,
        reply_to_email: str | None = None,
        return_path_domain: str | None = None,
        confirmation_personal_note: str | None = None,
    ) -> SenderSignature:
        """Add a signature; Postmark emails ``from_email`` a confirmation link.

        ``confirmation_personal_note`` (max 400 characters) is shown in that email.
        """
        for label, value in (("from_email", from_email), ("name", name)):
            if not isinstance(value, str) or not value.strip():
                raise ClientValidationError(f"{label} is required")
        body = _set_fields(
            FromEmail=from_email,
            Name=name,
            ReplyToEmail=reply_to_email,
            ReturnPathDomain=return_path_domain,
            ConfirmationPersonalNote=confirmation_personal_note,
        )
        return self._call("POST", self._PATH, SenderSignature, json_body=body)

    def update(
        self,
        signature_id: int,
        *,
        name: str,
        reply_to_email: str | None = None,
        return_path_domain: str | None = None,
        confirmation_personal_note: str | None = None,
    ) -> SenderSignature:
        """Change the given fields only; the From address itself cannot change.

        Postmark requires ``name`` on every edit (422/520 without it), so it is
        required here too: pass the current one to change only other fields.
        """
        if not isinstance(name, str) or not name.strip():
            raise ClientValidationError("name is required")
        body = _set_fields(
            Name=name,
            ReplyToEmail=reply_to_email,
            ReturnPathDomain=return_path_domain,
            ConfirmationPersonalNote=confirmation_personal_note,
        )
        return self._call(
            "PUT", f"{self._PATH}/{seg(signature_id)}", SenderSignature, json_body=body
        )

    def delete(self, signature_id: int) -> ActionResult:
        return self._call("DELETE", f"{self._PATH}/{seg(signature_id)}", ActionResult)

    def resend_confirmation(self, signature_id: int) -> ActionResult:
        """Send the confirmation email again (for an unconfirmed signature)."""
        return self._call("POST", f"{self._PATH}/{seg(signature_id)}/resend", ActionResult)

    def verify_spf(self, signature_id: int) -> SenderSignature:
        """Check the SPF record of the signature's domain.

        .. deprecated:: Postmark deprecated this call: SPF is no longer required.
        """
        warnings.warn(
            "senders.verify_spf is deprecated by Postmark: SPF is no longer required",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._call("POST", f"{self._PATH}/{seg(signature_id)}/verifyspf", SenderSignature)

    def request_new_dkim(self, signature_id: int) -> ActionResult:
        """Request a new DKIM key.

        .. deprecated:: Postmark deprecated this call: manage DKIM on the
           domain instead (``account.domains.rotate_dkim``).
        """
        warnings.warn(
            "senders.request_new_dkim is deprecated by Postmark: "
            "use account.domains.rotate_dkim instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._call("POST", f"{self._PATH}/{seg(signature_id)}/requestnewdkim", ActionResult)
