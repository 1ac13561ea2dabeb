"""The simulated Postmark account: in-memory, lock-guarded state, sending and templates.

Nothing here knows about HTTP; the blueprints translate requests into these calls.
What happens to mail once sent (deliveries, bounces, opens...) is in :mod:`.activity`.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from ... import templating
from ..hooks import WebhookDispatcher
from . import rules
from .activity import RecipientActivity
from .records import (
    JSON,
    MAX_RECIPIENTS,
    addresses,
    check_addresses,
    fail,
    now_iso,
    signature_dns,
)

#: Key under which ``render_template`` tells ``send`` that rendering failed.
RENDER_FAILURE = "_template_rendering_failed"


class SimulatorState(RecipientActivity):
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
        #: Deliver (or bounce) every recipient as soon as a message is sent.  Off, messages
        #: wait for ``deliver``/``bounce`` (FakePostmark's helpers or the control API).
        self.auto_deliver = True
        self._ids = itertools.count(1)
        self.reset()

    def next_id(self) -> int:
        return next(self._ids)

    def reset(self) -> None:
        """Back to a fresh account (used between tests by the pytest plugin)."""
        with self.lock:
            now = now_iso()
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
                1: signature_dns(
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
        pairs = addresses(from_value)
        if len(pairs) != 1:
            raise fail(300, "Invalid 'From' address.")
        addr = pairs[0][1].lower()
        check_addresses(pairs, "From")
        domain = addr.rsplit("@", 1)[1]
        for dom in self.domains.values():
            if dom["Name"].lower() == domain:
                if not dom["DKIMVerified"]:
                    raise fail(401, f"The domain '{domain}' has not been verified (DKIM).")
                return
        for sig in self.senders.values():
            if sig["EmailAddress"].lower() == addr:
                if not sig["Confirmed"]:
                    raise fail(401, f"The sender signature '{addr}' has not been confirmed.")
                return
        raise fail(
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
            raise fail(501, f"Sender signature {sid} not found.")
        return signature_dns(sig, verified=bool(sig["Confirmed"]))

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

    def server_by_id(self, sid: str) -> JSON:
        server = self.servers.get(int(sid)) if sid.isdigit() else None
        if server is None:
            raise fail(601, f"Server {sid} does not exist.")
        return server

    def stream_id(self, sid: str) -> str:
        """``sid`` if such a stream exists (422/1226 otherwise)."""
        if sid not in self.streams:
            raise fail(1226, f"The message stream '{sid}' was not found.")
        return sid

    def message(self, message_id: str) -> JSON:
        for msg in self.outbound:
            if msg["MessageID"] == message_id:
                return msg
        raise fail(701, f"Message with ID '{message_id}' does not exist.")

    def send(self, body: Any, *, from_template: bool = False, test_mode: bool = False) -> JSON:
        """Validate and record one message; raises ApiFailure with Postmark's code.

        ``test_mode`` is a send with the ``POSTMARK_API_TEST`` token: checked, then
        forgotten (nothing recorded, delivered or posted), as Postmark does.
        """
        if not isinstance(body, dict):
            raise fail(402, "Received invalid JSON input.")
        render_failure = body.pop(RENDER_FAILURE, None)
        rules.check_message(body)
        if not body.get("From"):
            raise fail(300, "Invalid 'From' address: ''.")
        if not body.get("To"):
            raise fail(300, "Zero recipients specified")
        to, cc, bcc = (addresses(body.get(k)) for k in ("To", "Cc", "Bcc"))
        for pairs, field in ((to, "To"), (cc, "Cc"), (bcc, "Bcc")):
            check_addresses(pairs, field)
        if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
            raise fail(300, "You may not have more than 50 recipients per message.")
        if not from_template and not body.get("HtmlBody") and not body.get("TextBody"):
            raise fail(300, "Provide either email TextBody or HtmlBody or both.")
        now = now_iso()
        if test_mode:
            check_addresses(addresses(body["From"]), "From")
            return {
                "To": body["To"],
                "SubmittedAt": now,
                "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0,
                "Message": "Test job accepted",
            }
        stream = body.get("MessageStream") or "outbound"
        if stream not in self.streams or self.streams[stream]["MessageStreamType"] == "Inbound":
            raise fail(1235, f"The message stream '{stream}' was not found.")
        if self.streams[stream]["ArchivedAt"]:
            raise fail(1235, f"The message stream '{stream}' is archived.")
        self.sender_for(body["From"])
        everyone = [a for _, a in to + cc + bcc]
        blocked = [a for a in everyone if (stream, a.lower()) in self.suppressions]
        if blocked and len(blocked) == len(everyone):
            raise fail(
                406,
                "You tried to send to recipient(s) that have been marked as inactive. "
                f"Found inactive addresses: {', '.join(blocked)}. Inactive recipients are ones "
                "that have generated a hard bounce, a spam complaint, or a manual suppression.",
            )
        track_opens = body.get("TrackOpens")
        msg: JSON = {
            "Tag": body.get("Tag") or "",
            "MessageID": str(uuid.uuid4()),
            "MessageStream": stream,
            "To": [{"Email": a, "Name": n or None} for n, a in to],
            "Cc": [{"Email": a, "Name": n or None} for n, a in cc],
            "Bcc": [{"Email": a, "Name": n or None} for n, a in bcc],
            "Recipients": [a for a in everyone if a not in blocked],
            "ReceivedAt": now,
            "From": body["From"],
            "Subject": body.get("Subject") or "",
            "Attachments": [a.get("Name", "") for a in body.get("Attachments") or []],
            "Status": "Sent",
            "TrackOpens": self.server["TrackOpens"] if track_opens is None else track_opens,
            "TrackLinks": body.get("TrackLinks") or self.server["TrackLinks"],
            "Metadata": body.get("Metadata") or {},
            "Sandboxed": False,
            "TextBody": body.get("TextBody") or "",
            "HtmlBody": body.get("HtmlBody") or "",
            "MessageEvents": [],
            "_date": datetime.now(UTC),
            "_settled": set(),
        }
        msg["Body"] = self._dump(msg, body)
        self.outbound.append(msg)
        if render_failure is not None:
            for recipient in msg["Recipients"]:
                self.bounce(msg, recipient, "TemplateRenderingFailed", details=render_failure)
        elif self.auto_deliver:
            for recipient in msg["Recipients"]:
                self.settle(msg, recipient)
        message = "OK"
        if blocked:
            message = (
                "Message OK, but will not deliver to these inactive addresses: "
                f"{', '.join(blocked)}. Inactive recipients are ones that have generated a "
                "hard bounce, a spam complaint, or a manual suppression."
            )
        return {
            "To": body["To"],
            "SubmittedAt": now,
            "MessageID": msg["MessageID"],
            "ErrorCode": 0,
            "Message": message,
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

    def render_template(self, body: JSON) -> JSON:
        """The send body with the template rendered (its layout around it), Postmark-style."""
        template = self.find_template(body.get("TemplateId") or body.get("TemplateAlias"))
        if template["TemplateType"] == "Layout":
            raise fail(1123, "A layout template cannot be sent; send a standard template.")
        model = body.get("TemplateModel")
        if not isinstance(model, dict):
            raise fail(1120, "The 'TemplateModel' field is required.")
        out = {
            k: v
            for k, v in body.items()
            if k not in ("TemplateId", "TemplateAlias", "TemplateModel")
        }
        try:
            for key, source in self.template_sources(template).items():
                out[key] = (
                    templating.render(source, model, escape=key == "HtmlBody") if source else None
                )
        except templating.TemplateRenderError as exc:
            # Postmark accepts the message, then bounces it (TemplateRenderingFailed)
            out["Subject"] = out["HtmlBody"] = out["TextBody"] = None
            out[RENDER_FAILURE] = str(exc)
        return out

    def layout(self, alias: str) -> JSON:
        """The layout template aliased ``alias`` (422/1101 if there is none)."""
        for tpl in self.templates.values():
            if tpl["TemplateType"] == "Layout" and (tpl["Alias"] or "").lower() == alias.lower():
                return tpl
        raise fail(1101, f"The layout template '{alias}' does not exist.")

    def template_sources(self, template: JSON) -> dict[str, str | None]:
        """Subject, HtmlBody and TextBody sources with the template's layout applied."""
        layout = self.layout(template["LayoutTemplate"]) if template["LayoutTemplate"] else None
        out: dict[str, str | None] = {"Subject": template["Subject"]}
        for key in ("HtmlBody", "TextBody"):
            source = template[key]
            if source and layout is not None and layout[key]:
                source = templating.insert_content(layout[key], source)
            out[key] = source
        return out

    def find_template(self, id_or_alias: Any) -> JSON:
        if id_or_alias is None or id_or_alias == "":
            raise fail(1101, "TemplateId or TemplateAlias is required.")
        for tpl in self.templates.values():
            if str(tpl["TemplateId"]) == str(id_or_alias) or (
                tpl["Alias"] and tpl["Alias"].lower() == str(id_or_alias).lower()
            ):
                return tpl
        raise fail(1101, f"The template '{id_or_alias}' does not exist.")

    # -- simulated recipient activity -----------------------------------
