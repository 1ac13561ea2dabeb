"""The simulator's WSGI app: Postmark's HTTP API over in-memory, lock-guarded state.

Routing is case-insensitive like Postmark's. Operations of the documented API
that are not simulated answer 501 naming the operation, never a fake success.

Rules where Postmark depends on the outside world, chosen to be deterministic:

- **Fake DNS.** Every name holds exactly the records Postmark asked for, except
  names under ``.invalid`` (RFC 2606: never resolves), which hold none.  So a
  verify call (domain ``verifyDkim``/``verifyReturnPath``/``verifyspf``, sender
  ``verifyspf``) succeeds at once, and on an ``.invalid`` domain leaves the flag
  false.  Domains created through the API start unverified with their first DKIM
  key pending; ``verifyDkim`` makes the pending key current (after a rotation the
  old key moves to ``DKIMRevoked*`` with ``SafeToRemoveRevokedKeyFromDNS``).
  ``rotatedkim``/``requestnewdkim`` while a key is pending is 422/505.
- **Servers.** Server #1 is the simulated server (the state's server token);
  ``POST /servers`` adds servers with their own ``ApiTokens`` and templates (for
  template push), but server-token endpoints serve server #1 only (another
  server's token is 401/10 there).  Deleting a server is 422/604 as on an
  account where support has not enabled it, until
  ``state.allow_server_delete = True``; server #1 itself is 422/605.
- **Template push** matches templates by alias (case-insensitive); templates
  without an alias are not pushed, identical ones are not listed.  ``TemplateId``
  in the answer is the source template's.  ``PerformChanges: false`` changes
  nothing.
- **Data removals** are ``Pending`` when created and on the first
  ``DATA_REMOVAL_PENDING_READS`` status reads, ``Done`` after; at that moment every
  message, event, bounce, suppression and inbound email of the address is erased.
- **Breakdown stats** count the simulated opens/clicks (``Platform``,
  ``Client.Family``, ``ReadSeconds`` bucketed ``0s``..``19s``/``20s+``,
  ``ClickLocation``) per day, filtered like the other stats.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import getaddresses
from typing import Any

import chevron  # type: ignore[import-untyped]
from flask import Flask, Response, request

from .hooks import WebhookDispatcher

JSON = dict[str, Any]
Handler = Callable[..., Response]

SEARCH_WINDOW = 10_000
MAX_RECIPIENTS = 50
MAX_BATCH = 500
HARD_BOUNCE_ADDRESS = "hardbounce@bounce-testing.postmarkapp.com"
SOFT_BOUNCE_ADDRESS = "softbounce@bounce-testing.postmarkapp.com"
#: Status reads of a data removal that answer Pending before it is Done (and erased).
DATA_REMOVAL_PENDING_READS = 1
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# (method, path pattern, operation id) of documented operations the simulator does not
# implement: they answer 501 naming the operation.  Every operation of the client's
# catalog is simulated now, so this is empty; a new Postmark operation goes here
# until it is simulated.
_CATALOG: list[tuple[str, str, str]] = []


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class ApiFailure(Exception):
    """A Postmark error answer: HTTP status plus ``{"ErrorCode", "Message"}``."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _fail(code: int, message: str, status: int = 422) -> ApiFailure:
    return ApiFailure(status, code, message)


def _addresses(value: Any) -> list[tuple[str, str]]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise _fail(300, "Recipient fields must be comma-separated strings.")
    return [(name, addr) for name, addr in getaddresses([value]) if addr or name]


def _check_addresses(pairs: list[tuple[str, str]], field: str) -> None:
    for _, addr in pairs:
        if not _EMAIL_RE.match(addr):
            raise _fail(300, f"Error parsing '{field}': Illegal email address '{addr}'.")


class SimulatorState:
    """Everything the simulated account holds; all access under ``lock``."""

    def __init__(
        self,
        *,
        server_token: str,
        account_token: str,
        sender_email: str,
        dispatcher: WebhookDispatcher,
    ):
        self.lock = threading.RLock()
        self.server_token = server_token
        self.account_token = account_token
        self.sender_email = sender_email
        self.dispatcher = dispatcher
        self._ids = itertools.count(1)
        self.reset()

    def next_id(self) -> int:
        return next(self._ids)

    def reset(self) -> None:
        """Back to a fresh account (used between tests by the pytest plugin)."""
        with self.lock:
            now = _now()
            self.server: JSON = {
                "ID": 1,
                "Name": "Fake Postmark Server",
                "ApiTokens": [self.server_token],
                "Color": "blue",
                "SmtpApiActivated": True,
                "RawEmailEnabled": False,
                "DeliveryType": "Live",
                "ServerLink": "https://account.postmarkapp.com/servers/1/streams",
                "InboundAddress": "fakehash@inbound.postmarkapp.com",
                "InboundHookUrl": "",
                "BounceHookUrl": "",
                "OpenHookUrl": "",
                "DeliveryHookUrl": "",
                "ClickHookUrl": "",
                "PostFirstOpenOnly": False,
                "InboundDomain": "",
                "InboundHash": "fakehash",
                "InboundSpamThreshold": 0,
                "TrackOpens": False,
                "TrackLinks": "None",
                "IncludeBounceContentInHook": False,
                "EnableSmtpApiErrorHooks": False,
            }
            self.streams: dict[str, JSON] = {}
            for sid, name, kind in (
                ("outbound", "Default Transactional Stream", "Transactional"),
                ("inbound", "Default Inbound Stream", "Inbound"),
                ("broadcast", "Broadcasts", "Broadcasts"),
            ):
                self.streams[sid] = {
                    "ID": sid,
                    "ServerID": 1,
                    "Name": name,
                    "Description": "",
                    "MessageStreamType": kind,
                    "CreatedAt": now,
                    "UpdatedAt": now,
                    "ArchivedAt": None,
                    "ExpectedPurgeDate": None,
                    "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Postmark"},
                }
            domain = self.sender_email.split("@", 1)[1]
            self.senders: dict[int, JSON] = {
                1: _signature_dns(
                    {
                        "ID": 1,
                        "Domain": domain,
                        "EmailAddress": self.sender_email,
                        "ReplyToEmailAddress": "",
                        "Name": "Fake Sender",
                        "Confirmed": True,
                    },
                    verified=True,
                )
            }
            self.templates: dict[int, JSON] = {}
            self.domains: dict[int, JSON] = {}
            self.outbound: list[JSON] = []  # oldest first
            self.inbound: list[JSON] = []
            self.bounces: list[JSON] = []
            self.suppressions: dict[tuple[str, str], JSON] = {}
            self.opens: list[JSON] = []
            self.clicks: list[JSON] = []
            self.webhooks: dict[int, JSON] = {}
            self.inbound_rules: dict[int, JSON] = {}
            self.bulk: dict[str, JSON] = {}
            # the account: server #1 is ``self.server``; templates are kept per server
            self.servers: dict[int, JSON] = {1: self.server}
            self.server_templates: dict[int, dict[int, JSON]] = {1: self.templates}
            #: Postmark refuses DELETE /servers until support enables it (ErrorCode 604).
            self.allow_server_delete = False
            self.data_removals: dict[int, JSON] = {}

    # -- helpers ---------------------------------------------------------

    def sender_for(self, from_value: str) -> None:
        pairs = _addresses(from_value)
        if len(pairs) != 1:
            raise _fail(300, "Invalid 'From' address.")
        addr = pairs[0][1].lower()
        _check_addresses(pairs, "From")
        domain = addr.rsplit("@", 1)[1]
        for dom in self.domains.values():
            if dom["Name"].lower() == domain:
                if not dom["DKIMVerified"]:
                    raise _fail(401, f"The domain '{domain}' has not been verified (DKIM).")
                return
        for sig in self.senders.values():
            if sig["EmailAddress"].lower() == addr:
                if not sig["Confirmed"]:
                    raise _fail(401, f"The sender signature '{addr}' has not been confirmed.")
                return
        raise _fail(
            400,
            f"The 'From' address you supplied ({addr}) is not a Sender Signature on your account.",
        )

    def add_domain(
        self, name: str, *, verified: bool = True, return_path: str | None = None
    ) -> JSON:
        """A domain; an unverified one has its first DKIM key pending, as on Postmark."""
        did = self.next_id() + 2000
        host, value = self.dkim_key(name)
        dom: JSON = {
            "Name": name,
            "SPFVerified": verified,
            "SPFHost": name,
            "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all",
            "DKIMVerified": verified,
            "WeakDKIM": False,
            "DKIMHost": host if verified else "",
            "DKIMTextValue": value if verified else "",
            "DKIMPendingHost": "" if verified else host,
            "DKIMPendingTextValue": "" if verified else value,
            "DKIMRevokedHost": "",
            "DKIMRevokedTextValue": "",
            "SafeToRemoveRevokedKeyFromDNS": False,
            "DKIMUpdateStatus": "Verified" if verified else "Pending",
            "ReturnPathDomain": return_path if return_path is not None else f"pm-bounces.{name}",
            "ReturnPathDomainVerified": verified,
            "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
            "ID": did,
        }
        self.domains[did] = dom
        return dom

    def dkim_key(self, domain: str) -> tuple[str, str]:
        """A new (host, TXT value) DKIM pair, unique per call."""
        n = self.next_id()
        return f"{20260101000000 + n}pm._domainkey.{domain}", f"k=rsa; p=FAKEKEY{n}"

    def signature(self, sid: str) -> JSON:
        """Sender signature ``sid`` with its DNS fields (filled in for ``add_sender`` ones)."""
        sig = self.senders.get(int(sid)) if sid.isdigit() else None
        if sig is None:
            raise _fail(501, f"Sender signature {sid} not found.")
        return _signature_dns(sig, verified=bool(sig["Confirmed"]))

    def erase_recipient(self, address: str) -> None:
        """A completed data removal: forget every record about ``address``."""
        a = address.lower()

        def mentions(m: JSON) -> bool:
            return a in [r.lower() for r in m["Recipients"]] or any(
                x["Email"].lower() == a for k in ("To", "Cc", "Bcc") for x in m[k]
            )

        gone = {m["MessageID"] for m in self.outbound if mentions(m)}
        self.outbound = [m for m in self.outbound if m["MessageID"] not in gone]
        self.opens = [
            o for o in self.opens if o["MessageID"] not in gone and o["Recipient"].lower() != a
        ]
        self.clicks = [
            c for c in self.clicks if c["MessageID"] not in gone and c["Recipient"].lower() != a
        ]
        self.bounces = [
            b for b in self.bounces if b["MessageID"] not in gone and b["Email"].lower() != a
        ]
        self.suppressions = {k: v for k, v in self.suppressions.items() if k[1] != a}
        self.inbound = [
            m
            for m in self.inbound
            if m["FromFull"]["Email"].lower() != a and m["OriginalRecipient"].lower() != a
        ]

    def message(self, message_id: str) -> JSON:
        for msg in self.outbound:
            if msg["MessageID"] == message_id:
                return msg
        raise _fail(701, f"Message with ID '{message_id}' does not exist.")

    def fire(self, trigger: str, stream: str, payload: JSON) -> None:
        """Queue ``payload`` for every webhook of ``stream`` with ``trigger`` enabled."""
        for hook in self.webhooks.values():
            if hook["MessageStream"] != stream:
                continue
            conf = hook["Triggers"].get(trigger, {})
            if not conf.get("Enabled"):
                continue
            if trigger == "Open" and conf.get("PostFirstOpenOnly") and not payload.get("FirstOpen"):
                continue
            body = dict(payload)
            if trigger in ("Bounce", "SpamComplaint") and not conf.get("IncludeContent"):
                body.pop("Content", None)
            auth = hook.get("HttpAuth") or {}
            creds = (auth["Username"], auth["Password"]) if auth.get("Username") else None
            headers = {h["Name"]: h["Value"] for h in hook.get("HttpHeaders") or []}
            self.dispatcher.enqueue(hook["Url"], body, auth=creds, headers=headers)

    # -- sending ---------------------------------------------------------

    def send(self, body: Any, *, from_template: bool = False) -> JSON:
        """Validate and record one message; raises ApiFailure with Postmark's code."""
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        if not body.get("From"):
            raise _fail(300, "Invalid 'From' address: ''.")
        if not body.get("To"):
            raise _fail(300, "Zero recipients specified")
        to, cc, bcc = (_addresses(body.get(k)) for k in ("To", "Cc", "Bcc"))
        for pairs, field in ((to, "To"), (cc, "Cc"), (bcc, "Bcc")):
            _check_addresses(pairs, field)
        if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
            raise _fail(300, "You may not have more than 50 recipients per message.")
        if not from_template and not body.get("HtmlBody") and not body.get("TextBody"):
            raise _fail(300, "Provide either email TextBody or HtmlBody or both.")
        stream = body.get("MessageStream") or "outbound"
        if stream not in self.streams or self.streams[stream]["MessageStreamType"] == "Inbound":
            raise _fail(1235, f"The message stream '{stream}' was not found.")
        if self.streams[stream]["ArchivedAt"]:
            raise _fail(1235, f"The message stream '{stream}' is archived.")
        self.sender_for(body["From"])
        everyone = [a.lower() for _, a in to + cc + bcc]
        blocked = [a for a in everyone if (stream, a) in self.suppressions]
        if blocked and len(blocked) == len(everyone):
            raise _fail(
                406,
                "You tried to send to recipient(s) that have been marked as inactive. "
                f"Found inactive addresses: {', '.join(blocked)}.",
            )
        metadata = body.get("Metadata") or {}
        if not isinstance(metadata, dict):
            raise _fail(300, "Metadata must be an object.")
        now = _now()
        msg: JSON = {
            "Tag": body.get("Tag") or "",
            "MessageID": str(uuid.uuid4()),
            "MessageStream": stream,
            "To": [{"Email": a, "Name": n or None} for n, a in to],
            "Cc": [{"Email": a, "Name": n or None} for n, a in cc],
            "Bcc": [{"Email": a, "Name": n or None} for n, a in bcc],
            "Recipients": [a for _, a in to + cc + bcc if a.lower() not in blocked],
            "ReceivedAt": now,
            "From": body["From"],
            "Subject": body.get("Subject") or "",
            "Attachments": [a.get("Name", "") for a in body.get("Attachments") or []],
            "Status": "Sent",
            "TrackOpens": bool(body.get("TrackOpens", self.server["TrackOpens"])),
            "TrackLinks": body.get("TrackLinks") or self.server["TrackLinks"],
            "Metadata": metadata,
            "Sandboxed": False,
            "TextBody": body.get("TextBody") or "",
            "HtmlBody": body.get("HtmlBody") or "",
            "MessageEvents": [],
            "_date": datetime.now(UTC),
        }
        msg["Body"] = self._dump(msg, body)
        self.outbound.append(msg)
        for recipient in msg["Recipients"]:
            self._deliver(msg, recipient)
        return {
            "To": body["To"],
            "SubmittedAt": now,
            "MessageID": msg["MessageID"],
            "ErrorCode": 0,
            "Message": "OK",
        }

    @staticmethod
    def _dump(msg: JSON, body: JSON) -> str:
        lines = [
            f"From: {msg['From']}",
            f"To: {body.get('To')}",
            f"Subject: {msg['Subject']}",
            f"Message-ID: <{msg['MessageID']}@mtasv.net>",
            f"X-PM-Message-Stream: {msg['MessageStream']}",
            "",
            msg["TextBody"] or msg["HtmlBody"],
        ]
        return "\r\n".join(lines)

    def _base_event(self, msg: JSON, recipient: str) -> JSON:
        return {
            "MessageID": msg["MessageID"],
            "Recipient": recipient,
            "Tag": msg["Tag"],
            "Metadata": msg["Metadata"],
            "MessageStream": msg["MessageStream"],
            "ServerID": 1,
        }

    def _deliver(self, msg: JSON, recipient: str) -> None:
        now = _now()
        lower = recipient.lower()
        if lower in (HARD_BOUNCE_ADDRESS, SOFT_BOUNCE_ADDRESS):
            self._bounce(msg, recipient, hard=lower == HARD_BOUNCE_ADDRESS)
            return
        msg["MessageEvents"].append(
            {
                "Recipient": recipient,
                "Type": "Delivered",
                "ReceivedAt": now,
                "Details": {
                    "DeliveryMessage": "smtp;250 2.0.0 OK (fake)",
                    "DestinationServer": "fake-postmark",
                    "DestinationIP": "127.0.0.1",
                },
            }
        )
        event = self._base_event(msg, recipient)
        event.update(
            {
                "RecordType": "Delivery",
                "DeliveredAt": now,
                "Details": "smtp;250 2.0.0 OK (fake)",
            }
        )
        self.fire("Delivery", msg["MessageStream"], event)

    def _bounce_record(self, msg: JSON, recipient: str, kind: str) -> JSON:
        names = {
            "HardBounce": (1, "Hard bounce", "The server was unable to deliver your message."),
            "SoftBounce": (4096, "Soft bounce", "Unable to temporarily deliver this email."),
            "SpamComplaint": (
                512,
                "Spam complaint",
                "The subscriber explicitly marked this message as spam.",
            ),
        }
        code, name, description = names[kind]
        return {
            "RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce",
            "ID": self.next_id(),
            "Type": kind,
            "TypeCode": code,
            "Name": name,
            "Tag": msg["Tag"],
            "MessageID": msg["MessageID"],
            "Metadata": msg["Metadata"],
            "ServerID": 1,
            "MessageStream": msg["MessageStream"],
            "Description": description,
            "Details": f"Simulated {name.lower()}",
            "Email": recipient,
            "From": _addresses(msg["From"])[0][1],
            "BouncedAt": _now(),
            "DumpAvailable": True,
            "Inactive": kind != "SoftBounce",
            "CanActivate": kind != "SpamComplaint",
            "Subject": msg["Subject"],
            "Content": msg["Body"],
            "_date": datetime.now(UTC),
        }

    def _bounce(self, msg: JSON, recipient: str, *, hard: bool) -> None:
        record = self._bounce_record(msg, recipient, "HardBounce" if hard else "SoftBounce")
        self.bounces.append(record)
        msg["MessageEvents"].append(
            {
                "Recipient": recipient,
                "Type": "Bounced",
                "ReceivedAt": record["BouncedAt"],
                "Details": {"Summary": record["Description"], "BounceID": str(record["ID"])},
            }
        )
        self.fire("Bounce", msg["MessageStream"], _public(record))
        if hard:
            self._suppress(msg, recipient, "HardBounce")

    def _suppress(
        self, msg: JSON | None, recipient: str, reason: str, origin: str = "Recipient"
    ) -> None:
        stream = msg["MessageStream"] if msg else "outbound"
        self.suppressions[(stream, recipient.lower())] = {
            "EmailAddress": recipient,
            "SuppressionReason": reason,
            "Origin": origin,
            "CreatedAt": _now(),
            "_date": datetime.now(UTC),
        }
        if msg is not None:
            msg["MessageEvents"].append(
                {
                    "Recipient": recipient,
                    "Type": "SubscriptionChanged",
                    "ReceivedAt": _now(),
                    "Details": {"Origin": origin, "SuppressSending": "True"},
                }
            )
            event = self._base_event(msg, recipient)
            event.update(
                {
                    "RecordType": "SubscriptionChange",
                    "ChangedAt": _now(),
                    "Origin": origin,
                    "SuppressSending": True,
                    "SuppressionReason": reason,
                }
            )
            self.fire("SubscriptionChange", stream, event)

    def render_template(self, body: JSON) -> JSON:
        template = self.find_template(body.get("TemplateId") or body.get("TemplateAlias"))
        model = body.get("TemplateModel")
        if not isinstance(model, dict):
            raise _fail(1120, "The 'TemplateModel' field is required.")
        out = {
            k: v
            for k, v in body.items()
            if k not in ("TemplateId", "TemplateAlias", "TemplateModel")
        }
        for key in ("Subject", "HtmlBody", "TextBody"):
            out[key] = chevron.render(template[key] or "", model) if template.get(key) else None
        return out

    def find_template(self, id_or_alias: Any) -> JSON:
        if id_or_alias is None or id_or_alias == "":
            raise _fail(1101, "TemplateId or TemplateAlias is required.")
        for tpl in self.templates.values():
            if str(tpl["TemplateId"]) == str(id_or_alias) or (
                tpl["Alias"] and tpl["Alias"].lower() == str(id_or_alias).lower()
            ):
                return tpl
        raise _fail(1101, f"The template '{id_or_alias}' does not exist.")

    # -- simulated recipient activity -----------------------------------

    def open(
        self,
        message_id: str,
        recipient: str | None = None,
        *,
        platform: str = "Desktop",
        client: str | None = None,
        read_seconds: int = 5,
    ) -> JSON:
        """Record an open; ``platform``/``client``/``read_seconds`` feed the breakdown stats."""
        msg = self.message(message_id)
        who = recipient or msg["Recipients"][0]
        first = not any(o["MessageID"] == message_id and o["Recipient"] == who for o in self.opens)
        record = self._base_event(msg, who)
        record.pop("ServerID")
        record.update(
            {
                "RecordType": "Open",
                "FirstOpen": first,
                "Client": _client(client),
                "OS": {"Name": "Fake OS", "Company": "Fake", "Family": "Fake"},
                "Platform": platform,
                "UserAgent": "FakePostmark/1.0",
                "ReadSeconds": read_seconds,
                "Geo": _GEO,
                "ReceivedAt": _now(),
            }
        )
        self.opens.append(record)
        msg["MessageEvents"].append(
            {
                "Recipient": who,
                "Type": "Opened",
                "ReceivedAt": record["ReceivedAt"],
                "Details": {"Summary": "Email opened with FakePostmark/1.0"},
            }
        )
        self.fire("Open", msg["MessageStream"], record)
        return record

    def click(
        self,
        message_id: str,
        link: str,
        recipient: str | None = None,
        *,
        platform: str = "Desktop",
        browser: str | None = None,
        location: str = "HTML",
    ) -> JSON:
        """Record a click; ``platform``/``browser``/``location`` feed the breakdown stats."""
        msg = self.message(message_id)
        who = recipient or msg["Recipients"][0]
        record = self._base_event(msg, who)
        record.pop("ServerID")
        record.update(
            {
                "RecordType": "Click",
                "ClickLocation": location,
                "Client": _client(browser),
                "OS": {"Name": "Fake OS", "Company": "Fake", "Family": "Fake"},
                "Platform": platform,
                "UserAgent": "FakePostmark/1.0",
                "OriginalLink": link,
                "Geo": _GEO,
                "ReceivedAt": _now(),
            }
        )
        self.clicks.append(record)
        msg["MessageEvents"].append(
            {
                "Recipient": who,
                "Type": "LinkClicked",
                "ReceivedAt": record["ReceivedAt"],
                "Details": {
                    "Summary": f"Tracked Link '{link}' was clicked.",
                    "Link": link,
                    "ClickLocation": location,
                },
            }
        )
        self.fire("Click", msg["MessageStream"], record)
        return record

    def spam_complaint(self, message_id: str, recipient: str | None = None) -> JSON:
        msg = self.message(message_id)
        who = recipient or msg["Recipients"][0]
        record = self._bounce_record(msg, who, "SpamComplaint")
        self.bounces.append(record)
        self.fire("SpamComplaint", msg["MessageStream"], _public(record))
        self._suppress(msg, who, "SpamComplaint")
        return _public(record)

    def inject_inbound(self, **fields: Any) -> JSON:
        from_email = fields.get("From", "sender@example.com")
        to = str(fields.get("To") or self.server["InboundAddress"])
        to_addr = _addresses(to)[0][1] if _addresses(to) else to
        local = to_addr.split("@", 1)[0]
        mailbox_hash = local.split("+", 1)[1] if "+" in local else ""
        msg: JSON = {
            "From": from_email,
            "FromName": fields.get("FromName", ""),
            "FromFull": {
                "Email": from_email,
                "Name": fields.get("FromName", ""),
                "MailboxHash": "",
            },
            "To": to,
            "ToFull": [
                {"Email": a, "Name": n, "MailboxHash": mailbox_hash} for n, a in _addresses(to)
            ],
            "Cc": fields.get("Cc", ""),
            "CcFull": [
                {"Email": a, "Name": n, "MailboxHash": ""} for n, a in _addresses(fields.get("Cc"))
            ],
            "Bcc": fields.get("Bcc", ""),
            "BccFull": [
                {"Email": a, "Name": n, "MailboxHash": ""} for n, a in _addresses(fields.get("Bcc"))
            ],
            "ReplyTo": fields.get("ReplyTo", ""),
            "OriginalRecipient": to_addr,
            "Subject": fields.get("Subject", ""),
            "Date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "MailboxHash": mailbox_hash,
            "TextBody": fields.get("TextBody", ""),
            "HtmlBody": fields.get("HtmlBody", ""),
            "StrippedTextReply": fields.get("StrippedTextReply", ""),
            "Tag": fields.get("Tag", ""),
            "MessageStream": "inbound",
            "Headers": fields.get("Headers", []),
            "Attachments": fields.get("Attachments", []),
            "MessageID": str(uuid.uuid4()),
            "BlockedReason": "",
            "Status": "Processed",
            "_date": datetime.now(UTC),
        }
        sender = from_email.lower()
        for rule in self.inbound_rules.values():
            r = rule["Rule"].lower()
            if sender == r or sender.endswith("@" + r):
                msg["Status"], msg["BlockedReason"] = (
                    "Blocked",
                    f"Blocked by inbound rule {rule['Rule']}",
                )
        self.inbound.append(msg)
        if msg["Status"] == "Processed":
            self._post_inbound(msg)
        return _public(msg)

    def _post_inbound(self, msg: JSON) -> None:
        url = self.server["InboundHookUrl"]
        if url:
            payload = {
                k: v for k, v in _public(msg).items() if k not in ("Status", "BlockedReason")
            }
            self.dispatcher.enqueue(url, payload)


_GEO = {
    "CountryISOCode": "US",
    "Country": "United States",
    "RegionISOCode": "NY",
    "Region": "New York",
    "City": "New York",
    "Zip": "10001",
    "Coords": "40.7,-74.0",
    "IP": "127.0.0.1",
}


def _client(family: str | None) -> JSON:
    if family is None:
        return {"Name": "Fake Client 1.0", "Company": "Fake", "Family": "Fake"}
    return {"Name": family, "Company": "Fake", "Family": family}


_SIGNATURE_SUMMARY = ("ID", "Domain", "EmailAddress", "ReplyToEmailAddress", "Name", "Confirmed")


def _signature_dns(sig: JSON, *, verified: bool) -> JSON:
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


def _resolves(name: str) -> bool:
    """The fake DNS: every name has the records Postmark asked for, except under .invalid."""
    return not name.lower().rstrip(".").endswith(".invalid")


def _verify_dkim(rec: JSON, name: str) -> None:
    """A DKIM check: a published pending key becomes the current one (the old one revoked)."""
    if not _resolves(name):
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


def _public(record: JSON) -> JSON:
    return {k: v for k, v in record.items() if not k.startswith("_")}


# -- request helpers -----------------------------------------------------


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        raise _fail(402, "Received invalid JSON input.")
    try:
        return json.loads(raw)
    except ValueError:
        raise _fail(402, "Received invalid JSON input.") from None


def _paging(window: bool = True) -> tuple[int, int]:
    try:
        args = {k.lower(): v for k, v in request.args.items()}
        count = int(args["count"])
        offset = int(args.get("offset", "0"))
    except (KeyError, ValueError):
        raise _fail(700, "The 'count' and 'offset' parameters are required integers.") from None
    if not 1 <= count <= 500 or offset < 0:
        raise _fail(700, "'count' must be 1-500 and 'offset' non-negative.")
    if window and count + offset > SEARCH_WINDOW:
        raise _fail(700, "Offset + count must not exceed 10,000; narrow the search with dates.")
    return count, offset


def _date_arg(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(700, f"Invalid date in '{name}'.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _in_dates(record: JSON) -> bool:
    start, end = _date_arg("fromdate"), _date_arg("todate")
    when: datetime = record["_date"]
    if start and when < start:
        return False
    if end:
        # a bare date means "through that whole day", like Postmark
        raw = request.args.get("todate", "")
        if len(raw) == 10:
            return when.date() <= date.fromisoformat(raw)
        if when > end:
            return False
    return True


def _api_inbound(msg: JSON) -> JSON:
    """Inbound as the messages API shows it: no MailboxHash per address (webhooks have it)."""
    out = _public(msg)
    out["FromFull"] = {k: v for k, v in msg["FromFull"].items() if k != "MailboxHash"}
    for key in ("ToFull", "CcFull", "BccFull"):
        out[key] = [{k: v for k, v in a.items() if k != "MailboxHash"} for a in msg[key]]
    return out


def _page(records: list[JSON], count: int, offset: int) -> list[JSON]:
    newest_first = sorted(records, key=lambda r: r["_date"], reverse=True)
    return [_public(r) for r in newest_first[offset : offset + count]]


_SUMMARY_DROP = ("TextBody", "HtmlBody", "Body", "MessageEvents")
_TEMPLATE_CONTENT = ("Name", "Subject", "HtmlBody", "TextBody", "TemplateType", "LayoutTemplate")
_SERVER_COLORS = ("purple", "blue", "turquoise", "green", "red", "yellow", "grey", "orange")
_SERVER_READ_ONLY = (
    "ID",
    "ApiTokens",
    "ServerLink",
    "InboundAddress",
    "InboundHash",
    "DeliveryType",
)


def create_app(state: SimulatorState) -> Flask:
    """The Flask app serving ``state``."""
    app = Flask("postmark_kit.testing")
    routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def route(
        method: str, pattern: str, op: str, auth_kind: str = "server"
    ) -> Callable[[Handler], Handler]:
        rx = re.compile("^" + pattern.replace("{}", "([^/]+)") + "/?$", re.IGNORECASE)

        def deco(fn: Handler) -> Handler:
            routes.append((method, rx, auth_kind, fn))
            return fn

        return deco

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def dispatch(path: str) -> Response:
        url = "/" + path
        try:
            for method, rx, token, fn in routes:
                m = rx.match(url)
                if m and method == request.method:
                    _auth(token)
                    with state.lock:
                        return fn(*m.groups())
            for method, pattern, op in _CATALOG:
                rx = re.compile("^" + pattern.replace("{}", "[^/]+") + "/?$", re.IGNORECASE)
                if method == request.method and rx.match(url):
                    return _json(
                        {
                            "ErrorCode": 501,
                            "Message": f"Operation '{op}' ({method} {pattern}) is not implemented "
                            "by the postmark-kit simulator.",
                        },
                        501,
                    )
            return _json(
                {"ErrorCode": 404, "Message": f"No such endpoint: {request.method} {url}"}, 404
            )
        except ApiFailure as exc:
            return _json({"ErrorCode": exc.code, "Message": exc.message}, exc.status)

    def _auth(kind: str) -> None:
        header = "X-Postmark-Server-Token" if kind == "server" else "X-Postmark-Account-Token"
        expected = state.server_token if kind == "server" else state.account_token
        if request.headers.get(header) != expected:
            raise ApiFailure(
                401, 10, f"Request does not contain a valid {header} header, or the token is wrong."
            )

    # -- email ----------------------------------------------------------

    @route("POST", "/email", "send_email")
    def send_email() -> Response:
        return _json(state.send(_body()))

    def _batch(items: Any, one: Callable[[Any], JSON]) -> Response:
        if not isinstance(items, list):
            raise _fail(402, "A batch request body must be a JSON array.")
        if len(items) > MAX_BATCH:
            raise _fail(410, "You may send at most 500 messages in a batch.")
        out: list[JSON] = []
        for item in items:
            try:
                out.append(one(item))
            except ApiFailure as exc:
                to = item.get("To", "") if isinstance(item, dict) else ""
                out.append({"ErrorCode": exc.code, "Message": exc.message, "To": to})
        return _json(out)

    @route("POST", "/email/batch", "send_email_batch")
    def send_batch() -> Response:
        return _batch(_body(), state.send)

    def _with_template(item: Any) -> JSON:
        if not isinstance(item, dict):
            raise _fail(402, "Received invalid JSON input.")
        return state.send(state.render_template(item), from_template=True)

    @route("POST", "/email/withTemplate", "send_email_with_template")
    def send_template() -> Response:
        return _json(_with_template(_body()))

    @route("POST", "/email/batchWithTemplates", "send_email_batch_with_templates")
    def send_batch_templates() -> Response:
        body = _body()
        items = body.get("Messages") if isinstance(body, dict) else None
        return _batch(items, _with_template)

    @route("POST", "/email/bulk", "send_bulk_email")
    def send_bulk() -> Response:
        body = _body()
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        messages = body.get("Messages")
        if not isinstance(messages, list) or not messages:
            raise _fail(300, "A bulk request needs a non-empty 'Messages' array.")
        stream = body.get("MessageStream") or "broadcast"
        if state.streams.get(stream, {}).get("MessageStreamType") != "Broadcasts":
            raise _fail(300, f"Bulk sends need a broadcast message stream, not '{stream}'.")
        state.sender_for(str(body.get("From") or ""))
        per_message = ("To", "Cc", "Bcc", "TemplateModel", "Metadata", "Headers")
        common = {k: v for k, v in body.items() if k not in ("Messages", *per_message)}
        common["MessageStream"] = stream
        bulk_id = str(uuid.uuid4())
        now = _now()
        sent = 0
        for item in messages:
            if not isinstance(item, dict):
                continue
            one = {**common, **{k: item[k] for k in per_message if k in item}}
            if "Metadata" in body or "Metadata" in item:
                one["Metadata"] = {**(body.get("Metadata") or {}), **(item.get("Metadata") or {})}
            model = item.get("TemplateModel") or {}
            templated = bool(one.get("TemplateId") or one.get("TemplateAlias"))
            try:
                if templated:
                    one = state.render_template({**one, "TemplateModel": model})
                else:
                    for key in ("Subject", "HtmlBody", "TextBody"):
                        if one.get(key):
                            one[key] = chevron.render(one[key], model)
                state.send(one, from_template=templated)
                sent += 1
            except ApiFailure:
                pass  # Postmark reports per-recipient failures as bounces/events, not here
        state.bulk[bulk_id] = {
            "Id": bulk_id,
            "SubmittedAt": now,
            "TotalMessages": len(messages),
            "PercentageCompleted": 100.0,
            "Status": "Completed",
            "Subject": body.get("Subject") or "",
        }
        return _json({"ID": bulk_id, "Status": "Accepted", "SubmittedAt": now})

    @route("GET", "/email/bulk/{}", "get_bulk_email_status")
    def bulk_status(bulk_id: str) -> Response:
        if bulk_id not in state.bulk:
            raise _fail(1300, f"Bulk request '{bulk_id}' not found.", status=404)
        return _json(state.bulk[bulk_id])

    # -- outbound messages ---------------------------------------------

    @route("GET", "/messages/outbound", "list_outbound_messages")
    def outbound_search() -> Response:
        count, offset = _paging()
        a = request.args
        meta = {k[len("metadata_") :]: v for k, v in a.items() if k.startswith("metadata_")}

        def keep(m: JSON) -> bool:
            if (r := a.get("recipient")) and r.lower() not in [x.lower() for x in m["Recipients"]]:
                return False
            if (f := a.get("fromemail")) and f.lower() not in m["From"].lower():
                return False
            if (t := a.get("tag")) and t != m["Tag"]:
                return False
            if (s := a.get("status")) and s.lower() != m["Status"].lower():
                return False
            if (s := a.get("subject")) and s.lower() not in m["Subject"].lower():
                return False
            if (s := a.get("messagestream")) and s != m["MessageStream"]:
                return False
            if any(str(m["Metadata"].get(k)) != v for k, v in meta.items()):
                return False
            return _in_dates(m)

        hits = [m for m in state.outbound if keep(m)]
        items = [
            {k: v for k, v in m.items() if k not in _SUMMARY_DROP}
            for m in _page(hits, count, offset)
        ]
        return _json({"TotalCount": len(hits), "Messages": items})

    @route("GET", "/messages/outbound/{}/details", "get_outbound_message_details")
    def outbound_details(mid: str) -> Response:
        return _json(_public(state.message(mid)))

    @route("GET", "/messages/outbound/{}/dump", "get_outbound_message_dump")
    def outbound_dump(mid: str) -> Response:
        return _json({"Body": state.message(mid)["Body"]})

    def _events(records: list[JSON], key: str, mid: str | None) -> Response:
        count, offset = _paging()
        hits = [r for r in records if mid is None or r["MessageID"] == mid]
        if mid is None:
            a = request.args
            if r := a.get("recipient"):
                hits = [h for h in hits if h["Recipient"].lower() == r.lower()]
            if t := a.get("tag"):
                hits = [h for h in hits if h["Tag"] == t]
            if s := a.get("messagestream"):
                hits = [h for h in hits if h["MessageStream"] == s]
        page = [
            {k: v for k, v in r.items() if k != "Metadata"}  # webhooks carry it, the API does not
            for r in list(reversed(hits))[offset : offset + count]
        ]
        return _json({"TotalCount": len(hits), key: page})

    @route("GET", "/messages/outbound/opens", "list_message_opens")
    def opens() -> Response:
        return _events(state.opens, "Opens", None)

    @route("GET", "/messages/outbound/opens/{}", "get_message_opens")
    def message_opens(mid: str) -> Response:
        return _events(state.opens, "Opens", mid)

    @route("GET", "/messages/outbound/clicks", "list_message_clicks")
    def clicks() -> Response:
        return _events(state.clicks, "Clicks", None)

    @route("GET", "/messages/outbound/clicks/{}", "get_message_clicks")
    def message_clicks(mid: str) -> Response:
        return _events(state.clicks, "Clicks", mid)

    # -- inbound messages ----------------------------------------------

    def _inbound(mid: str) -> JSON:
        for msg in state.inbound:
            if msg["MessageID"] == mid:
                return msg
        raise _fail(701, f"Message with ID '{mid}' does not exist.")

    @route("GET", "/messages/inbound", "list_inbound_messages")
    def inbound_search() -> Response:
        count, offset = _paging()
        a = request.args

        def keep(m: JSON) -> bool:
            if (r := a.get("recipient")) and r.lower() not in m["OriginalRecipient"].lower():
                return False
            if (f := a.get("fromemail")) and f.lower() not in m["From"].lower():
                return False
            if (t := a.get("tag")) and t != m["Tag"]:
                return False
            if (s := a.get("subject")) and s.lower() not in m["Subject"].lower():
                return False
            if (h := a.get("mailboxhash")) and h != m["MailboxHash"]:
                return False
            if (s := a.get("status")) and s.lower() != m["Status"].lower():
                return False
            return _in_dates(m)

        hits = [m for m in state.inbound if keep(m)]
        drop = (
            "TextBody",
            "HtmlBody",
            "StrippedTextReply",
            "Headers",
            "BlockedReason",
            "MessageStream",
            "Bcc",
            "BccFull",
        )
        items = [
            {k: v for k, v in _api_inbound(m).items() if k not in drop}
            for m in _page(hits, count, offset)
        ]
        return _json({"TotalCount": len(hits), "InboundMessages": items})

    @route("GET", "/messages/inbound/{}/details", "get_inbound_message_details")
    def inbound_details(mid: str) -> Response:
        return _json(_api_inbound(_inbound(mid)))

    @route("PUT", "/messages/inbound/{}/bypass", "bypass_inbound_message")
    def inbound_bypass(mid: str) -> Response:
        msg = _inbound(mid)
        if msg["Status"] != "Blocked":
            raise _fail(702, "Only blocked inbound messages can be bypassed.")
        msg["Status"], msg["BlockedReason"] = "Processed", ""
        state._post_inbound(msg)
        return _json({"ErrorCode": 0, "Message": f"Successfully bypassed message: {mid}"})

    @route("PUT", "/messages/inbound/{}/retry", "retry_inbound_message")
    def inbound_retry(mid: str) -> Response:
        msg = _inbound(mid)
        if msg["Status"] != "Failed":
            raise _fail(703, "Only failed inbound messages can be retried.")
        msg["Status"] = "Processed"
        state._post_inbound(msg)
        return _json({"ErrorCode": 0, "Message": "Successfully rescheduled failed message."})

    # -- bounces ---------------------------------------------------------

    def _bounce(bid: str) -> JSON:
        for b in state.bounces:
            if str(b["ID"]) == bid:
                return b
        raise _fail(1001, f"Bounce {bid} not found.")

    @route("GET", "/deliverystats", "get_delivery_stats")
    def delivery_stats() -> Response:
        by_type: dict[str, int] = {}
        for b in state.bounces:
            by_type[b["Name"]] = by_type.get(b["Name"], 0) + 1
        rows = [{"Name": "All", "Count": len(state.bounces)}]
        rows += [
            {"Name": n, "Count": c, "Type": n.title().replace(" ", "")} for n, c in by_type.items()
        ]
        inactive = len({b["Email"].lower() for b in state.bounces if b["Inactive"]})
        return _json({"InactiveMails": inactive, "Bounces": rows})

    @route("GET", "/bounces", "list_bounces")
    def bounces() -> Response:
        count, offset = _paging()
        a = request.args

        def keep(b: JSON) -> bool:
            if (t := a.get("type")) and t != b["Type"]:
                return False
            if (i := a.get("inactive")) and (i.lower() == "true") != b["Inactive"]:
                return False
            if (e := a.get("emailFilter")) and e.lower() not in b["Email"].lower():
                return False
            if (t := a.get("tag")) and t != b["Tag"]:
                return False
            if (m := a.get("messageID")) and m != b["MessageID"]:
                return False
            if (s := a.get("messagestream")) and s != b["MessageStream"]:
                return False
            return _in_dates(b)

        hits = [b for b in state.bounces if keep(b)]
        items = [
            {k: v for k, v in b.items() if k not in ("Content", "Metadata")}
            for b in _page(hits, count, offset)
        ]
        return _json({"TotalCount": len(hits), "Bounces": items})

    @route("GET", "/bounces/{}", "get_bounce")
    def get_bounce(bid: str) -> Response:
        return _json({k: v for k, v in _public(_bounce(bid)).items() if k != "Metadata"})

    @route("GET", "/bounces/{}/dump", "get_bounce_dump")
    def bounce_dump(bid: str) -> Response:
        return _json({"Body": _bounce(bid)["Content"]})

    @route("PUT", "/bounces/{}/activate", "activate_bounce")
    def activate(bid: str) -> Response:
        b = _bounce(bid)
        if not b["CanActivate"]:
            raise _fail(1003, "This bounce cannot be activated.")
        b["Inactive"] = False
        state.suppressions.pop((b["MessageStream"], b["Email"].lower()), None)
        public = {k: v for k, v in _public(b).items() if k != "Metadata"}
        return _json({"Message": "OK", "Bounce": public})

    # -- templates -------------------------------------------------------

    def _template_summary(t: JSON) -> JSON:
        keys = ("Active", "TemplateId", "Name", "Alias", "TemplateType", "LayoutTemplate")
        return {k: t[k] for k in keys}

    @route("GET", "/templates", "list_templates")
    def list_templates() -> Response:
        count, offset = _paging(window=False)
        kind = request.args.get("TemplateType") or request.args.get("templatetype")
        hits = [
            t
            for t in state.templates.values()
            if not kind or kind == "All" or t["TemplateType"] == kind
        ]
        return _json(
            {
                "TotalCount": len(hits),
                "Templates": [_template_summary(t) for t in hits[offset : offset + count]],
            }
        )

    @route("GET", "/templates/{}", "get_template")
    def get_template(key: str) -> Response:
        return _json(state.find_template(key))

    def _template_fields(body: Any, tpl: JSON) -> JSON:
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        for key in (
            "Name",
            "Subject",
            "HtmlBody",
            "TextBody",
            "Alias",
            "TemplateType",
            "LayoutTemplate",
        ):
            if key in body:
                tpl[key] = body[key]
        return tpl

    @route("POST", "/templates", "create_template")
    def create_template() -> Response:
        tpl = _template_fields(
            _body(),
            {
                "TemplateId": state.next_id(),
                "Name": None,
                "Subject": None,
                "HtmlBody": None,
                "TextBody": None,
                "AssociatedServerId": 1,
                "Active": True,
                "Alias": None,
                "TemplateType": "Standard",
                "LayoutTemplate": None,
            },
        )
        if not tpl["Name"]:
            raise _fail(1120, "The 'Name' field is required.")
        if tpl["TemplateType"] == "Standard" and not tpl["Subject"]:
            raise _fail(1120, "The 'Subject' field is required.")
        if not tpl["HtmlBody"] and not tpl["TextBody"]:
            raise _fail(1120, "Either 'HtmlBody' or 'TextBody' is required.")
        if tpl["Alias"] and any(
            (t["Alias"] or "").lower() == tpl["Alias"].lower() for t in state.templates.values()
        ):
            raise _fail(1122, f"A template with the alias '{tpl['Alias']}' already exists.")
        for key in ("Subject", "HtmlBody", "TextBody"):
            _validate_mustache(tpl[key], key)
        state.templates[tpl["TemplateId"]] = tpl
        return _json(_template_summary(tpl))

    @route("PUT", "/templates/push", "push_templates", auth_kind="account")
    def push_templates() -> Response:
        # registered before edit_template: "push" would match its /templates/{} pattern
        body = _body()
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        perform = body.get("PerformChanges")
        if not isinstance(perform, bool):
            raise _fail(1120, "The 'PerformChanges' field is required (true or false).")
        source = _server_by_id(str(body.get("SourceServerID", "")))
        dest = _server_by_id(str(body.get("DestinationServerID", "")))
        if source["ID"] == dest["ID"]:
            raise _fail(1122, "The source and destination servers must differ.")
        src_tpls = state.server_templates[source["ID"]]
        dst_tpls = state.server_templates[dest["ID"]]
        by_alias = {t["Alias"].lower(): t for t in dst_tpls.values() if t["Alias"]}
        # layouts first, so standard templates that use them land after them
        ordered = sorted(src_tpls.values(), key=lambda t: t["TemplateType"] != "Layout")
        out: list[JSON] = []
        for tpl in ordered:
            if not tpl["Alias"]:
                continue  # only aliased templates can be matched across servers
            content = {k: tpl[k] for k in _TEMPLATE_CONTENT}
            existing = by_alias.get(tpl["Alias"].lower())
            if existing is not None and all(existing[k] == v for k, v in content.items()):
                continue  # already identical on the destination
            action = "Create" if existing is None else "Edit"
            out.append(
                {
                    "Action": action,
                    "TemplateId": tpl["TemplateId"],
                    "Alias": tpl["Alias"],
                    "Name": tpl["Name"],
                }
            )
            if not perform:
                continue
            if existing is None:
                copy = {**tpl, **content, "TemplateId": state.next_id()}
                copy["AssociatedServerId"] = dest["ID"]
                dst_tpls[copy["TemplateId"]] = copy
            else:
                existing.update(content)
        return _json({"TotalCount": len(out), "Templates": out})

    @route("PUT", "/templates/{}", "edit_template")
    def edit_template(key: str) -> Response:
        tpl = _template_fields(_body(), state.find_template(key))
        return _json(_template_summary(tpl))

    @route("DELETE", "/templates/{}", "delete_template")
    def delete_template(key: str) -> Response:
        tpl = state.find_template(key)
        del state.templates[tpl["TemplateId"]]
        return _json({"ErrorCode": 0, "Message": f"Template {tpl['TemplateId']} removed."})

    @route("POST", "/templates/validate", "validate_template")
    def validate_template() -> Response:
        body = _body()
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        model = body.get("TestRenderModel") or {}
        out: JSON = {"AllContentIsValid": True}
        for key in ("Subject", "HtmlBody", "TextBody"):
            src = body.get(key)
            if src is None:
                out[key] = {"ContentIsValid": True, "ValidationErrors": [], "RenderedContent": ""}
                continue
            try:
                rendered = chevron.render(src, model)
                out[key] = {
                    "ContentIsValid": True,
                    "ValidationErrors": [],
                    "RenderedContent": rendered,
                }
            except chevron.ChevronError as exc:
                out["AllContentIsValid"] = False
                out[key] = {
                    "ContentIsValid": False,
                    "ValidationErrors": [{"Message": str(exc), "Line": 1, "CharacterPosition": 1}],
                    "RenderedContent": "",
                }
        names = re.findall(
            r"{{\s*[#^/]?\s*([\w.]+)\s*}}", " ".join(str(body.get(k) or "") for k in out)
        )
        out["SuggestedTemplateModel"] = {n.split(".")[0]: f"{n}_Value" for n in names}
        return _json(out)

    # -- server, streams, senders -----------------------------------------

    @route("GET", "/server", "get_server")
    def get_server() -> Response:
        return _json(state.server)

    @route("PUT", "/server", "edit_server")
    def edit_server() -> Response:
        body = _body()
        if not isinstance(body, dict) or not body:
            raise _fail(609, "No updated server data received.")
        for key, value in body.items():
            if key in state.server and key not in (
                "ID",
                "ApiTokens",
                "ServerLink",
                "InboundAddress",
            ):
                state.server[key] = value
        return _json(state.server)

    def _server_by_id(sid: str) -> JSON:
        server = state.servers.get(int(sid)) if sid.isdigit() else None
        if server is None:
            raise _fail(601, f"Server {sid} does not exist.")
        return server

    def _server_settings(body: Any, server: JSON, *, creating: bool) -> JSON:
        """Validate ``body`` (Postmark's codes), then apply it to ``server``."""
        if not isinstance(body, dict) or not body:
            raise _fail(609, "No updated server data received.")
        if "Name" in body or creating:
            name = body.get("Name")
            if not isinstance(name, str) or not name.strip():
                raise _fail(608, "Server name is missing or invalid.")
            if any(
                s["Name"].lower() == name.lower() and s is not server
                for s in state.servers.values()
            ):
                raise _fail(603, f"A server named '{name}' already exists.")
        if "Color" in body and str(body["Color"]).lower() not in _SERVER_COLORS:
            raise _fail(607, f"Invalid server color '{body['Color']}'.")
        if "InboundSpamThreshold" in body:
            t = body["InboundSpamThreshold"]
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= 30 or t % 5:
                raise _fail(611, "InboundSpamThreshold must be 0-30 in steps of 5.")
        if body.get("InboundDomain") and any(
            s["InboundDomain"].lower() == str(body["InboundDomain"]).lower() and s is not server
            for s in state.servers.values()
        ):
            raise _fail(602, "This inbound domain is already used by another server.")
        if body.get("TrackLinks", "None") not in ("None", "HtmlAndText", "HtmlOnly", "TextOnly"):
            raise _fail(511, f"Invalid TrackLinks value '{body['TrackLinks']}'.")
        if creating and body.get("DeliveryType", "Live") not in ("Live", "Sandbox"):
            raise _fail(511, f"Invalid DeliveryType '{body['DeliveryType']}'.")
        for key, value in body.items():
            if key in server and key not in _SERVER_READ_ONLY:
                server[key] = value.lower() if key == "Color" else value
        if creating and "DeliveryType" in body:
            server["DeliveryType"] = body["DeliveryType"]  # set at creation only
        return server

    @route("GET", "/servers", "list_servers", auth_kind="account")
    def list_servers() -> Response:
        count, offset = _paging(window=False)
        name = (request.args.get("name") or "").lower()
        hits = [s for s in state.servers.values() if name in s["Name"].lower()]
        return _json({"TotalCount": len(hits), "Servers": hits[offset : offset + count]})

    @route("GET", "/servers/{}", "get_server_by_id", auth_kind="account")
    def get_server_by_id(sid: str) -> Response:
        return _json(_server_by_id(sid))

    @route("POST", "/servers", "create_server", auth_kind="account")
    def create_server() -> Response:
        sid = state.next_id() + 3000
        inbound_hash = uuid.uuid4().hex
        server = {
            **state.server,
            "ID": sid,
            "ApiTokens": [f"fake-server-{secrets.token_hex(8)}"],
            "Color": "purple",
            "SmtpApiActivated": True,
            "RawEmailEnabled": False,
            "DeliveryType": "Live",
            "ServerLink": f"https://account.postmarkapp.com/servers/{sid}/streams",
            "InboundAddress": f"{inbound_hash}@inbound.postmarkapp.com",
            "InboundHash": inbound_hash,
        }
        for key in ("InboundHookUrl", "BounceHookUrl", "OpenHookUrl", "DeliveryHookUrl"):
            server[key] = ""
        server.update({"ClickHookUrl": "", "InboundDomain": "", "InboundSpamThreshold": 0})
        server.update({"PostFirstOpenOnly": False, "TrackOpens": False, "TrackLinks": "None"})
        server["IncludeBounceContentInHook"] = server["EnableSmtpApiErrorHooks"] = False
        _server_settings(_body(), server, creating=True)
        state.servers[sid] = server
        state.server_templates[sid] = {}
        return _json(server)

    @route("PUT", "/servers/{}", "edit_server_by_id", auth_kind="account")
    def edit_server_by_id(sid: str) -> Response:
        server = _server_by_id(sid)
        return _json(_server_settings(_body(), server, creating=False))

    @route("DELETE", "/servers/{}", "delete_server", auth_kind="account")
    def delete_server(sid: str) -> Response:
        server = _server_by_id(sid)
        if not state.allow_server_delete:
            raise _fail(
                604,
                "Server deletion is not enabled for this account; ask Postmark support "
                "(simulator: set state.allow_server_delete = True).",
            )
        if server["ID"] == 1:
            raise _fail(605, "Unable to delete server 1: the simulator serves it.")
        del state.servers[server["ID"]]
        del state.server_templates[server["ID"]]
        return _json({"ErrorCode": 0, "Message": f"Server {server['Name']} removed."})

    @route("GET", "/message-streams", "list_message_streams")
    def list_streams() -> Response:
        kind = request.args.get("MessageStreamType", "All")
        archived = request.args.get("IncludeArchivedStreams", "false").lower() == "true"
        hits = [
            s
            for s in state.streams.values()
            if (kind == "All" or s["MessageStreamType"] == kind)
            and (archived or not s["ArchivedAt"])
        ]
        return _json({"MessageStreams": hits, "TotalCount": len(hits)})

    @route("GET", "/message-streams/{}", "get_message_stream")
    def get_stream(sid: str) -> Response:
        if sid not in state.streams:
            raise _fail(1226, f"The message stream '{sid}' was not found.")
        return _json(state.streams[sid])

    @route("POST", "/message-streams", "create_message_stream")
    def create_stream() -> Response:
        body = _body()
        if not isinstance(body, dict) or not body.get("ID") or not body.get("Name"):
            raise _fail(1120, "ID and Name are required to create a message stream.")
        if body.get("MessageStreamType") not in ("Transactional", "Broadcasts"):
            raise _fail(1122, "MessageStreamType must be Transactional or Broadcasts.")
        if body["ID"] in state.streams:
            raise _fail(1122, f"A message stream with ID '{body['ID']}' already exists.")
        now = _now()
        stream = {
            "ID": body["ID"],
            "ServerID": 1,
            "Name": body["Name"],
            "Description": body.get("Description") or "",
            "MessageStreamType": body["MessageStreamType"],
            "CreatedAt": now,
            "UpdatedAt": now,
            "ArchivedAt": None,
            "ExpectedPurgeDate": None,
            "SubscriptionManagementConfiguration": body.get("SubscriptionManagementConfiguration")
            or {"UnsubscribeHandlingType": "Postmark"},
        }
        state.streams[stream["ID"]] = stream
        return _json(stream)

    @route("GET", "/senders", "list_sender_signatures", auth_kind="account")
    def list_senders() -> Response:
        count, offset = _paging(window=False)
        items = [{k: s[k] for k in _SIGNATURE_SUMMARY} for s in state.senders.values()]
        return _json({"TotalCount": len(items), "SenderSignatures": items[offset : offset + count]})

    @route("POST", "/senders", "create_sender_signature", auth_kind="account")
    def create_sender() -> Response:
        body = _body()
        if not isinstance(body, dict) or not body.get("FromEmail") or not body.get("Name"):
            raise _fail(520, "FromEmail and Name are required.")
        addr = body["FromEmail"]
        if not _EMAIL_RE.match(addr):
            raise _fail(522, f"Invalid email address '{addr}'.")
        if any(s["EmailAddress"].lower() == addr.lower() for s in state.senders.values()):
            raise _fail(504, "This signature already exists.")
        sig = {
            "ID": state.next_id() + 1000,
            "Domain": addr.split("@", 1)[1],
            "EmailAddress": addr,
            "ReplyToEmailAddress": "",
            "Name": "",
            "Confirmed": False,
        }
        _signature_dns(sig, verified=False)
        _signature_fields(body, sig)
        state.senders[sig["ID"]] = sig
        return _json(sig)

    def _signature_fields(body: JSON, sig: JSON) -> None:
        """Validate and apply the editable signature fields (Postmark's 52x codes)."""
        if "Name" in body:
            if not isinstance(body["Name"], str) or not body["Name"].strip():
                raise _fail(520, "Name is required.")
            if len(body["Name"]) > 255:
                raise _fail(521, "Name is too long.")
        reply = body.get("ReplyToEmail")
        if reply and not _EMAIL_RE.match(str(reply)):
            raise _fail(522, f"Invalid ReplyToEmail '{reply}'.")
        note = body.get("ConfirmationPersonalNote")
        if note is not None and len(str(note)) > 400:
            raise _fail(521, "ConfirmationPersonalNote is longer than 400 characters.")
        rpd = body.get("ReturnPathDomain")
        if rpd:
            _check_return_path(str(rpd), sig["Domain"], 522)
        for src, dst in (
            ("Name", "Name"),
            ("ReplyToEmail", "ReplyToEmailAddress"),
            ("ConfirmationPersonalNote", "ConfirmationPersonalNote"),
        ):
            if src in body and body[src] is not None:
                sig[dst] = body[src]
        if rpd is not None and rpd != sig["ReturnPathDomain"]:
            sig["ReturnPathDomain"], sig["ReturnPathDomainVerified"] = rpd, False

    @route("GET", "/senders/{}", "get_sender_signature", auth_kind="account")
    def get_sender(sid: str) -> Response:
        return _json(state.signature(sid))

    @route("PUT", "/senders/{}", "edit_sender_signature", auth_kind="account")
    def edit_sender(sid: str) -> Response:
        sig = state.signature(sid)
        body = _body()
        if not isinstance(body, dict) or not body:
            raise _fail(502, "No updated sender signature data received.")
        if "Name" not in body:
            raise _fail(520, "Name is required to edit a sender signature.")
        _signature_fields(body, sig)
        return _json(sig)

    @route("DELETE", "/senders/{}", "delete_sender_signature", auth_kind="account")
    def delete_sender(sid: str) -> Response:
        sig = state.signature(sid)
        del state.senders[sig["ID"]]
        return _json({"ErrorCode": 0, "Message": f"Signature ID {sig['ID']} removed."})

    @route("POST", "/senders/{}/resend", "resend_sender_confirmation", auth_kind="account")
    def resend_confirmation(sid: str) -> Response:
        sig = state.signature(sid)
        if sig["Confirmed"]:
            raise _fail(506, f"Sender signature {sig['EmailAddress']} is already confirmed.")
        return _json(
            {
                "ErrorCode": 0,
                "Message": f"Confirmation email for Sender Signature {sig['EmailAddress']} "
                "was re-sent.",
            }
        )

    @route("POST", "/senders/{}/verifyspf", "verify_sender_spf", auth_kind="account")
    def verify_sender_spf(sid: str) -> Response:
        sig = state.signature(sid)
        sig["SPFVerified"] = _resolves(sig["Domain"])
        return _json(sig)

    @route("POST", "/senders/{}/requestnewdkim", "request_sender_new_dkim", auth_kind="account")
    def request_sender_new_dkim(sid: str) -> Response:
        sig = state.signature(sid)
        if sig["DKIMPendingHost"]:
            raise _fail(505, "A new DKIM key is already scheduled for this signature.")
        sig["DKIMPendingHost"], sig["DKIMPendingTextValue"] = state.dkim_key(sig["Domain"])
        sig["DKIMUpdateStatus"] = "Pending"
        return _json(
            {"ErrorCode": 0, "Message": f"New DKIM key requested for Sender Signature {sid}."}
        )

    def _stream_or_404(sid: str) -> JSON:
        if sid not in state.streams:
            raise _fail(1226, f"The message stream '{sid}' was not found.")
        return state.streams[sid]

    @route("PATCH", "/message-streams/{}", "edit_message_stream")
    def edit_stream(sid: str) -> Response:
        stream = _stream_or_404(sid)
        body = _body()
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        for key in ("Name", "Description", "SubscriptionManagementConfiguration"):
            if key in body:
                stream[key] = body[key]
        stream["UpdatedAt"] = _now()
        return _json(stream)

    @route("POST", "/message-streams/{}/archive", "archive_message_stream")
    def archive_stream(sid: str) -> Response:
        stream = _stream_or_404(sid)
        if sid in ("outbound", "inbound"):
            raise _fail(1235, "Default message streams cannot be archived.")
        stream["ArchivedAt"] = _now()
        stream["ExpectedPurgeDate"] = (datetime.now(UTC) + timedelta(days=45)).isoformat()
        return _json({"ID": sid, "ServerID": 1, "ExpectedPurgeDate": stream["ExpectedPurgeDate"]})

    @route("POST", "/message-streams/{}/unarchive", "unarchive_message_stream")
    def unarchive_stream(sid: str) -> Response:
        stream = _stream_or_404(sid)
        stream["ArchivedAt"] = stream["ExpectedPurgeDate"] = None
        return _json(stream)

    def _domain(did: str) -> JSON:
        dom = state.domains.get(int(did)) if did.isdigit() else None
        if dom is None:
            raise _fail(510, f"Domain {did} not found.")
        return dom

    @route("GET", "/domains", "list_domains", auth_kind="account")
    def list_domains() -> Response:
        count, offset = _paging(window=False)
        keys = ("Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified", "ID")
        items = [{k: d[k] for k in keys} for d in state.domains.values()]
        return _json({"TotalCount": len(items), "Domains": items[offset : offset + count]})

    @route("GET", "/domains/{}", "get_domain", auth_kind="account")
    def get_domain(did: str) -> Response:
        return _json(_domain(did))

    @route("POST", "/domains", "create_domain", auth_kind="account")
    def create_domain() -> Response:
        body = _body()
        name = body.get("Name") if isinstance(body, dict) else None
        if not name:
            raise _fail(514, "Name is required to create a domain.")
        if not re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", name, re.I):
            raise _fail(516, "Domain name format is invalid.")
        if any(d["Name"].lower() == name.lower() for d in state.domains.values()):
            raise _fail(512, "This domain already exists.")
        rpd = body.get("ReturnPathDomain")
        if rpd:
            _check_return_path(str(rpd), name, 511)
        return _json(state.add_domain(name, verified=False, return_path=rpd or None))

    @route("DELETE", "/domains/{}", "delete_domain", auth_kind="account")
    def delete_domain(did: str) -> Response:
        dom = _domain(did)
        del state.domains[dom["ID"]]
        return _json({"ErrorCode": 0, "Message": f"Domain {dom['Name']} removed."})

    @route("PUT", "/domains/{}", "edit_domain", auth_kind="account")
    def edit_domain(did: str) -> Response:
        dom = _domain(did)
        body = _body()
        rpd = body.get("ReturnPathDomain") if isinstance(body, dict) else None
        if not isinstance(rpd, str) or not rpd:
            raise _fail(511, "ReturnPathDomain is the field to edit.")
        _check_return_path(rpd, dom["Name"], 511)
        if rpd.lower() != dom["ReturnPathDomain"].lower():
            dom["ReturnPathDomain"], dom["ReturnPathDomainVerified"] = rpd, False
        return _json(dom)

    @route("PUT", "/domains/{}/verifydkim", "verify_domain_dkim", auth_kind="account")
    def verify_domain_dkim(did: str) -> Response:
        dom = _domain(did)
        _verify_dkim(dom, dom["Name"])
        return _json(dom)

    @route("PUT", "/domains/{}/verifyreturnpath", "verify_domain_return_path", auth_kind="account")
    def verify_domain_return_path(did: str) -> Response:
        dom = _domain(did)
        dom["ReturnPathDomainVerified"] = _resolves(dom["ReturnPathDomain"])
        return _json(dom)

    @route("POST", "/domains/{}/verifyspf", "verify_domain_spf", auth_kind="account")
    def verify_domain_spf(did: str) -> Response:
        dom = _domain(did)
        dom["SPFVerified"] = _resolves(dom["Name"])
        return _json(dom)

    @route("POST", "/domains/{}/rotatedkim", "rotate_domain_dkim", auth_kind="account")
    def rotate_domain_dkim(did: str) -> Response:
        dom = _domain(did)
        if dom["DKIMPendingHost"]:
            raise _fail(505, "A DKIM key is already scheduled for renewal on this domain.")
        dom["DKIMPendingHost"], dom["DKIMPendingTextValue"] = state.dkim_key(dom["Name"])
        dom["DKIMUpdateStatus"] = "Pending"
        return _json(dom)

    # -- data removals -----------------------------------------------------

    @route("POST", "/data-removals", "create_data_removal", auth_kind="account")
    def create_data_removal() -> Response:
        body = _body()
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        for key in ("RequestedBy", "RequestedFor"):
            if not _EMAIL_RE.match(str(body.get(key) or "")):
                raise _fail(511, f"'{key}' must be an email address.")
        rid = state.next_id() + 4000
        state.data_removals[rid] = {
            "ID": rid,
            "Status": "Pending",
            "_for": body["RequestedFor"],
            "_reads": 0,
        }
        return _json({"ID": rid, "Status": "Pending"})

    @route("GET", "/data-removals/{}", "get_data_removal", auth_kind="account")
    def get_data_removal(rid: str) -> Response:
        removal = state.data_removals.get(int(rid)) if rid.isdigit() else None
        if removal is None:
            raise _fail(1300, f"Data removal request {rid} not found.", status=404)
        removal["_reads"] += 1
        if removal["Status"] == "Pending" and removal["_reads"] > DATA_REMOVAL_PENDING_READS:
            state.erase_recipient(removal["_for"])
            removal["Status"] = "Done"
        return _json(_public(removal))

    # -- suppressions ------------------------------------------------------

    def _stream(sid: str) -> str:
        if sid not in state.streams:
            raise _fail(1226, f"The message stream '{sid}' was not found.")
        return sid

    @route("GET", "/message-streams/{}/suppressions/dump", "list_suppressions")
    def suppression_dump(sid: str) -> Response:
        stream = _stream(sid)
        a = request.args
        hits = [
            s
            for (st, _), s in state.suppressions.items()
            if st == stream
            and (not a.get("SuppressionReason") or a["SuppressionReason"] == s["SuppressionReason"])
            and (not a.get("Origin") or a["Origin"] == s["Origin"])
            and (
                not a.get("EmailAddress") or a["EmailAddress"].lower() == s["EmailAddress"].lower()
            )
            and _in_dates(s)
        ]
        return _json({"Suppressions": [_public(s) for s in hits]})

    def _suppression_list(body: Any) -> list[str]:
        items = body.get("Suppressions") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise _fail(402, "Expected a 'Suppressions' array.")
        return [str(i.get("EmailAddress", "")) if isinstance(i, dict) else "" for i in items]

    @route("POST", "/message-streams/{}/suppressions", "create_suppressions")
    def suppress(sid: str) -> Response:
        stream = _stream(sid)
        out: list[JSON] = []
        for addr in _suppression_list(_body()):
            if not _EMAIL_RE.match(addr):
                out.append(
                    {"EmailAddress": addr, "Status": "Failed", "Message": "Invalid email address."}
                )
                continue
            state.suppressions[(stream, addr.lower())] = {
                "EmailAddress": addr,
                "SuppressionReason": "ManualSuppression",
                "Origin": "Customer",
                "CreatedAt": _now(),
                "_date": datetime.now(UTC),
            }
            out.append({"EmailAddress": addr, "Status": "Suppressed", "Message": None})
        return _json({"Suppressions": out})

    @route("POST", "/message-streams/{}/suppressions/delete", "delete_suppressions")
    def unsuppress(sid: str) -> Response:
        stream = _stream(sid)
        out: list[JSON] = []
        for addr in _suppression_list(_body()):
            existing = state.suppressions.get((stream, addr.lower()))
            if existing and existing["SuppressionReason"] == "SpamComplaint":
                out.append(
                    {
                        "EmailAddress": addr,
                        "Status": "Failed",
                        "Message": "Suppressions from spam complaints cannot be deleted.",
                    }
                )
                continue
            state.suppressions.pop((stream, addr.lower()), None)
            out.append({"EmailAddress": addr, "Status": "Deleted", "Message": None})
        return _json({"Suppressions": out})

    # -- webhooks, inbound rules ------------------------------------------

    def _webhook_fields(body: Any, hook: JSON) -> JSON:
        if not isinstance(body, dict):
            raise _fail(402, "Received invalid JSON input.")
        if "Url" in body:
            if not re.match(r"^https?://", str(body["Url"] or "")):
                raise _fail(606, "The webhook URL is invalid.")
            hook["Url"] = body["Url"]
        for key in ("HttpAuth", "HttpHeaders"):
            if key in body:
                hook[key] = body[key]
        if body.get("MessageStream"):
            hook["MessageStream"] = _stream(body["MessageStream"])
        if isinstance(body.get("Triggers"), dict):
            for name, conf in body["Triggers"].items():
                if name in hook["Triggers"] and isinstance(conf, dict):
                    hook["Triggers"][name].update(conf)
        return hook

    @route("GET", "/webhooks", "list_webhooks")
    def list_webhooks() -> Response:
        stream = request.args.get("MessageStream")
        hooks = [h for h in state.webhooks.values() if not stream or h["MessageStream"] == stream]
        return _json({"Webhooks": hooks})

    @route("GET", "/webhooks/{}", "get_webhook")
    def get_webhook(wid: str) -> Response:
        return _json(_hook(wid))

    def _hook(wid: str) -> JSON:
        hook = state.webhooks.get(int(wid)) if wid.isdigit() else None
        if hook is None:
            raise _fail(1300, f"Webhook {wid} not found.", status=404)
        return hook

    @route("POST", "/webhooks", "create_webhook")
    def create_webhook() -> Response:
        body = _body()
        if not isinstance(body, dict) or not body.get("Url"):
            raise _fail(606, "The webhook URL is required.")
        hook = _webhook_fields(
            body,
            {
                "ID": state.next_id(),
                "Url": "",
                "MessageStream": "outbound",
                "HttpAuth": {"Username": "", "Password": ""},
                "HttpHeaders": [],
                "Triggers": {
                    "Open": {"Enabled": False, "PostFirstOpenOnly": False},
                    "Click": {"Enabled": False},
                    "Delivery": {"Enabled": False},
                    "Bounce": {"Enabled": False, "IncludeContent": False},
                    "SpamComplaint": {"Enabled": False, "IncludeContent": False},
                    "SubscriptionChange": {"Enabled": False},
                },
            },
        )
        state.webhooks[hook["ID"]] = hook
        return _json(hook)

    @route("PUT", "/webhooks/{}", "edit_webhook")
    def edit_webhook(wid: str) -> Response:
        return _json(_webhook_fields(_body(), _hook(wid)))

    @route("DELETE", "/webhooks/{}", "delete_webhook")
    def delete_webhook(wid: str) -> Response:
        hook = _hook(wid)
        del state.webhooks[hook["ID"]]
        return _json({"ErrorCode": 0, "Message": f"Webhook {hook['ID']} removed."})

    @route("GET", "/triggers/inboundrules", "list_inbound_rules")
    def list_rules() -> Response:
        count, offset = _paging(window=False)
        rules = list(state.inbound_rules.values())
        return _json({"TotalCount": len(rules), "InboundRules": rules[offset : offset + count]})

    @route("POST", "/triggers/inboundrules", "create_inbound_rule")
    def create_rule() -> Response:
        body = _body()
        rule = body.get("Rule") if isinstance(body, dict) else None
        if not rule:
            raise _fail(809, "No trigger data received.")
        if not (_EMAIL_RE.match(rule) or re.match(r"^[\w.-]+\.[a-z]{2,}$", rule, re.I)):
            raise _fail(813, "Not a valid email address or domain.")
        if any(r["Rule"].lower() == rule.lower() for r in state.inbound_rules.values()):
            raise _fail(810, "This inbound rule already exists.")
        record = {"ID": state.next_id(), "Rule": rule}
        state.inbound_rules[record["ID"]] = record
        return _json(record)

    @route("DELETE", "/triggers/inboundrules/{}", "delete_inbound_rule")
    def delete_rule(rid: str) -> Response:
        if not rid.isdigit() or int(rid) not in state.inbound_rules:
            raise _fail(812, "Inbound rule not found.")
        del state.inbound_rules[int(rid)]
        return _json({"ErrorCode": 0, "Message": f"Rule ID {rid} removed."})

    # -- stats -------------------------------------------------------------

    def _stat_messages() -> list[JSON]:
        a = request.args
        return [
            m
            for m in state.outbound
            if (not a.get("tag") or a["tag"] == m["Tag"])
            and (not a.get("messagestream") or a["messagestream"] == m["MessageStream"])
            and _in_dates(m)
        ]

    def _stat_records(records: list[JSON]) -> list[JSON]:
        ids = {m["MessageID"] for m in _stat_messages()}
        return [r for r in records if r["MessageID"] in ids]

    def _days(records: list[JSON], field: str, when: str) -> list[JSON]:
        per: dict[str, int] = {}
        for r in records:
            day = str(r[when])[:10]
            per[day] = per.get(day, 0) + 1
        return [{"Date": d, field: n} for d, n in sorted(per.items())]

    @route("GET", "/stats/outbound", "get_outbound_overview")
    def overview() -> Response:
        msgs = _stat_messages()
        sent = len(msgs)
        bounces = _stat_records(state.bounces)
        bounced = sum(1 for b in bounces if b["RecordType"] == "Bounce")
        spam = sum(1 for b in bounces if b["RecordType"] == "SpamComplaint")
        opens, clicks = _stat_records(state.opens), _stat_records(state.clicks)
        tracked_opens = sum(1 for m in msgs if m["TrackOpens"])
        tracked_links = sum(1 for m in msgs if m["TrackLinks"] != "None")
        return _json(
            {
                "Sent": sent,
                "Bounced": bounced,
                "SMTPApiErrors": 0,
                "BounceRate": round(100.0 * bounced / sent, 3) if sent else 0.0,
                "SpamComplaints": spam,
                "SpamComplaintsRate": round(100.0 * spam / sent, 3) if sent else 0.0,
                "Opens": len(opens),
                "UniqueOpens": len({(o["MessageID"], o["Recipient"]) for o in opens}),
                "Tracked": tracked_opens,
                "WithLinkTracking": tracked_links,
                "WithOpenTracking": tracked_opens,
                "TotalTrackedLinksSent": tracked_links,
                "UniqueLinksClicked": len({(c["MessageID"], c["OriginalLink"]) for c in clicks}),
                "TotalClicks": len(clicks),
                "WithClientRecorded": len(opens),
                "WithPlatformRecorded": len(opens),
                "WithReadTimeRecorded": len(opens),
            }
        )

    @route("GET", "/stats/outbound/sends", "get_sent_counts")
    def sends() -> Response:
        msgs = _stat_messages()
        return _json({"Days": _days(msgs, "Sent", "ReceivedAt"), "Sent": len(msgs)})

    @route("GET", "/stats/outbound/bounces", "get_bounce_counts")
    def bounce_counts() -> Response:
        bs = [b for b in _stat_records(state.bounces) if b["RecordType"] == "Bounce"]
        per: dict[str, JSON] = {}
        for b in bs:
            row = per.setdefault(b["BouncedAt"][:10], {"Date": b["BouncedAt"][:10]})
            row[b["Type"]] = row.get(b["Type"], 0) + 1
        totals: JSON = {"Days": [per[d] for d in sorted(per)]}
        for b in bs:
            totals[b["Type"]] = totals.get(b["Type"], 0) + 1
        return _json(totals)

    @route("GET", "/stats/outbound/spam", "get_spam_complaint_counts")
    def spam_counts() -> Response:
        bs = [b for b in _stat_records(state.bounces) if b["RecordType"] == "SpamComplaint"]
        return _json({"Days": _days(bs, "SpamComplaint", "BouncedAt"), "SpamComplaint": len(bs)})

    @route("GET", "/stats/outbound/tracked", "get_tracked_email_counts")
    def tracked() -> Response:
        msgs = [m for m in _stat_messages() if m["TrackOpens"]]
        return _json({"Days": _days(msgs, "Tracked", "ReceivedAt"), "Tracked": len(msgs)})

    @route("GET", "/stats/outbound/opens", "get_open_counts")
    def open_counts() -> Response:
        opens = _stat_records(state.opens)
        days = _days(opens, "Opens", "ReceivedAt")
        for d in days:
            d["Unique"] = len(
                {
                    (o["MessageID"], o["Recipient"])
                    for o in opens
                    if o["ReceivedAt"][:10] == d["Date"]
                }
            )
        unique = len({(o["MessageID"], o["Recipient"]) for o in opens})
        return _json({"Days": days, "Opens": len(opens), "Unique": unique})

    @route("GET", "/stats/outbound/clicks", "get_click_counts")
    def click_counts() -> Response:
        clicks = _stat_records(state.clicks)
        days = _days(clicks, "Clicks", "ReceivedAt")
        for d in days:
            d["Unique"] = len(
                {
                    (c["MessageID"], c["OriginalLink"])
                    for c in clicks
                    if c["ReceivedAt"][:10] == d["Date"]
                }
            )
        unique = len({(c["MessageID"], c["OriginalLink"]) for c in clicks})
        return _json({"Days": days, "Clicks": len(clicks), "Unique": unique})

    def _breakdown(
        records: list[JSON], key_of: Callable[[JSON], str], fixed: tuple[str, ...] = ()
    ) -> Response:
        """Per-day and total counts by ``key_of``; ``fixed`` keys always appear in the totals."""
        per_day: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = dict.fromkeys(fixed, 0)
        for r in _stat_records(records):
            key = key_of(r)
            if fixed and key not in fixed:
                key = "Unknown" if "Unknown" in fixed else key
            row = per_day.setdefault(str(r["ReceivedAt"])[:10], {})
            row[key] = row.get(key, 0) + 1
            totals[key] = totals.get(key, 0) + 1
        days = [{"Date": d, **per_day[d]} for d in sorted(per_day)]
        return _json({"Days": days, **totals})

    @route("GET", "/stats/outbound/opens/platforms", "get_open_platform_usage")
    def open_platforms() -> Response:
        fixed = ("Desktop", "Mobile", "WebMail", "Unknown")
        return _breakdown(state.opens, lambda o: str(o["Platform"]), fixed)

    @route("GET", "/stats/outbound/opens/emailclients", "get_open_client_usage")
    def open_clients() -> Response:
        return _breakdown(state.opens, lambda o: str(o["Client"]["Family"]))

    @route("GET", "/stats/outbound/opens/readtimes", "get_open_read_times")
    def open_read_times() -> Response:
        def bucket(o: JSON) -> str:
            secs = int(o["ReadSeconds"])
            return f"{secs}s" if secs < 20 else "20s+"

        return _breakdown(state.opens, bucket)

    @route("GET", "/stats/outbound/clicks/browserfamilies", "get_click_browser_usage")
    def click_browsers() -> Response:
        return _breakdown(state.clicks, lambda c: str(c["Client"]["Family"]))

    @route("GET", "/stats/outbound/clicks/platforms", "get_click_platform_usage")
    def click_platforms() -> Response:
        fixed = ("Desktop", "Mobile", "Unknown")
        return _breakdown(state.clicks, lambda c: str(c["Platform"]), fixed)

    @route("GET", "/stats/outbound/clicks/location", "get_click_location")
    def click_location() -> Response:
        return _breakdown(state.clicks, lambda c: str(c["ClickLocation"]), ("HTML", "Text"))

    return app


def _check_return_path(rpd: str, domain: str, code: int) -> None:
    """Postmark wants the Return-Path domain to be a subdomain of the sending domain."""
    if not rpd.lower().endswith("." + domain.lower()):
        raise _fail(code, f"ReturnPathDomain '{rpd}' must be a subdomain of '{domain}'.")


def _validate_mustache(src: str | None, field: str) -> None:
    if not src:
        return
    try:
        chevron.render(src, {})
    except chevron.ChevronError as exc:
        raise _fail(1122, f"The '{field}' template is invalid: {exc}") from None
