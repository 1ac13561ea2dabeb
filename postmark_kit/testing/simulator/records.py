"""The simulator's records and rules that do not depend on HTTP: errors, addresses, DNS."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

JSON = dict[str, Any]

SEARCH_WINDOW = 10_000
MAX_RECIPIENTS = 50
MAX_BATCH = 500
HARD_BOUNCE_ADDRESS = "hardbounce@bounce-testing.postmarkapp.com"
SOFT_BOUNCE_ADDRESS = "softbounce@bounce-testing.postmarkapp.com"
#: Status reads of a data removal that answer Pending before it is Done (and erased).
DATA_REMOVAL_PENDING_READS = 1
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ApiFailure(Exception):
    """A Postmark error answer: HTTP status plus ``{"ErrorCode", "Message"}``."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SimulationError(ValueError):
    """A simulated event that Postmark could never report (e.g. an open of an untracked message)."""


def fail(code: int, message: str, status: int = 422) -> ApiFailure:
    return ApiFailure(status, code, message)


def addresses(value: Any) -> list[tuple[str, str]]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise fail(300, "Recipient fields must be comma-separated strings.")
    return list(_parsed_addresses(value))


@functools.lru_cache(maxsize=1024)
def _parsed_addresses(value: str) -> tuple[tuple[str, str], ...]:
    """``(name, address)`` pairs of a header value; cached: a suite sends to few addresses."""
    return tuple((name, addr) for name, addr in getaddresses([value]) if addr or name)


def check_addresses(pairs: list[tuple[str, str]], field: str) -> None:
    for _, addr in pairs:
        if not EMAIL_RE.match(addr):
            raise fail(300, f"Error parsing '{field}': Illegal email address '{addr}'.")


GEO = {
    "CountryISOCode": "US",
    "Country": "United States",
    "RegionISOCode": "NY",
    "Region": "New York",
    "City": "New York",
    "Zip": "10001",
    "Coords": "40.7,-74.0",
    "IP": "127.0.0.1",
}


def client_info(family: str | None) -> JSON:
    if family is None:
        return {"Name": "Fake Client 1.0", "Company": "Fake", "Family": "Fake"}
    return {"Name": family, "Company": "Fake", "Family": family}


SIGNATURE_SUMMARY = ("ID", "Domain", "EmailAddress", "ReplyToEmailAddress", "Name", "Confirmed")


def signature_dns(sig: JSON, *, verified: bool) -> JSON:
    """Give a signature the DNS fields Postmark shows on get/create/edit (in place)."""
    domain = sig["Domain"]
    defaults: JSON = {
        "ConfirmationPersonalNote": "",
        "SPFVerified": verified,
        "SPFHost": domain,
        "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all",
        "DKIMVerified": verified,
        "WeakDKIM": False,
        "DKIMHost": f"{sig['ID']}.pm._domainkey.{domain}" if verified else "",
        "DKIMTextValue": f"k=rsa; p=FAKEKEY{sig['ID']}" if verified else "",
        "DKIMPendingHost": "" if verified else f"{sig['ID']}.pm._domainkey.{domain}",
        "DKIMPendingTextValue": "" if verified else f"k=rsa; p=FAKEKEY{sig['ID']}",
        "DKIMRevokedHost": "",
        "DKIMRevokedTextValue": "",
        "SafeToRemoveRevokedKeyFromDNS": False,
        "DKIMUpdateStatus": "Verified" if verified else "Pending",
        "ReturnPathDomain": f"pm-bounces.{domain}",
        "ReturnPathDomainVerified": verified,
        "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
    }
    for key, value in defaults.items():
        sig.setdefault(key, value)
    return sig


def resolves(name: str) -> bool:
    """The fake DNS: every name has the records Postmark asked for, except under .invalid."""
    return not name.lower().rstrip(".").endswith(".invalid")


def verify_dkim(rec: JSON, name: str) -> None:
    """A DKIM check: a published pending key becomes the current one (the old one revoked)."""
    if not resolves(name):
        return
    if rec["DKIMPendingHost"]:
        if rec["DKIMHost"]:
            rec["DKIMRevokedHost"], rec["DKIMRevokedTextValue"] = (
                rec["DKIMHost"],
                rec["DKIMTextValue"],
            )
            rec["SafeToRemoveRevokedKeyFromDNS"] = True
        rec["DKIMHost"], rec["DKIMTextValue"] = rec["DKIMPendingHost"], rec["DKIMPendingTextValue"]
        rec["DKIMPendingHost"] = rec["DKIMPendingTextValue"] = ""
    if rec["DKIMHost"]:
        rec["DKIMVerified"], rec["DKIMUpdateStatus"] = True, "Verified"


def public(record: JSON) -> JSON:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def api_inbound(msg: JSON) -> JSON:
    """Inbound as the messages API shows it: no MailboxHash per address (webhooks have it)."""
    out = public(msg)
    out["FromFull"] = {k: v for k, v in msg["FromFull"].items() if k != "MailboxHash"}
    for key in ("ToFull", "CcFull", "BccFull"):
        out[key] = [{k: v for k, v in a.items() if k != "MailboxHash"} for a in msg[key]]
    return out


SUMMARY_DROP = ("TextBody", "HtmlBody", "Body", "MessageEvents")
TEMPLATE_CONTENT = ("Name", "Subject", "HtmlBody", "TextBody", "TemplateType", "LayoutTemplate")
SERVER_COLORS = ("purple", "blue", "turquoise", "green", "red", "yellow", "grey", "orange")
SERVER_READ_ONLY = (
    "ID",
    "ApiTokens",
    "ServerLink",
    "InboundAddress",
    "InboundHash",
    "DeliveryType",
)


def check_return_path(rpd: str, domain: str, code: int) -> None:
    """Postmark wants the Return-Path domain to be a subdomain of the sending domain."""
    if not rpd.lower().endswith("." + domain.lower()):
        raise fail(code, f"ReturnPathDomain '{rpd}' must be a subdomain of '{domain}'.")
