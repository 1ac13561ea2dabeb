"""What recipients and receiving servers do to sent mail, and inbound mail arriving.

Mixed into :class:`~.state.SimulatorState` (the account's data lives there): each
event is recorded, added to the message's history and posted to the webhooks that
asked for it.  Nothing here knows about HTTP.
"""

from __future__ import annotations

import base64
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..hooks import Delivery, WebhookDispatcher
from . import rules
from .records import GEO, JSON, SimulationError, addresses, client_info, now_iso, public


class RecipientActivity:
    """Deliveries, bounces, opens, clicks, complaints, subscription changes, inbound."""

    lock: AbstractContextManager[Any]
    server: JSON
    outbound: list[JSON]
    inbound: list[JSON]
    bounces: list[JSON]
    suppressions: dict[tuple[str, str], JSON]
    opens: list[JSON]
    clicks: list[JSON]
    webhooks: dict[int, JSON]
    inbound_rules: dict[int, JSON]
    dispatcher: WebhookDispatcher

    if TYPE_CHECKING:

        def next_id(self) -> int: ...

        def message(self, message_id: str) -> JSON: ...

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

    def _base_event(self, msg: JSON, recipient: str) -> JSON:
        return {
            "MessageID": msg["MessageID"],
            "Recipient": recipient,
            "Tag": msg["Tag"],
            "Metadata": msg["Metadata"],
            "MessageStream": msg["MessageStream"],
            "ServerID": 1,
        }

    def recipient_of(self, msg: JSON, recipient: str | None) -> str:
        """``recipient`` as the message has it (its first recipient by default)."""
        if recipient is None:
            if not msg["Recipients"]:
                raise SimulationError(f"Message {msg['MessageID']} has no active recipient.")
            return str(msg["Recipients"][0])
        for address in msg["Recipients"]:
            if address.lower() == recipient.lower():
                return str(address)
        raise SimulationError(f"{recipient} is not a recipient of message {msg['MessageID']}.")

    def settle(self, msg: JSON, recipient: str) -> None:
        """What the receiving server does: deliver, or bounce a bounce-testing address."""
        kind = rules.bounce_type_for(recipient)
        if kind is None or kind == "SpamComplaint":
            self.deliver(msg, recipient)
            if kind == "SpamComplaint":
                self.spam_complaint(msg["MessageID"], recipient)
        else:
            self.bounce(msg, recipient, kind)

    def _unsettled(self, msg: JSON, recipient: str) -> None:
        if recipient.lower() in msg["_settled"]:
            raise SimulationError(
                f"Message {msg['MessageID']} was already delivered to or bounced by {recipient}."
            )
        msg["_settled"].add(recipient.lower())

    def deliver(self, msg: JSON, recipient: str) -> JSON:
        """Record a delivery to ``recipient`` and fire Delivery webhooks."""
        self._unsettled(msg, recipient)
        now = now_iso()
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
        return event

    def _bounce_record(
        self, msg: JSON, recipient: str, kind: str, details: str | None = None
    ) -> JSON:
        code, name, description, deactivates = rules.BOUNCE_TYPES[kind]
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
            "Details": details or f"Simulated {name.lower()}",
            "Email": recipient,
            "From": addresses(msg["From"])[0][1],
            "BouncedAt": now_iso(),
            "DumpAvailable": True,
            "Inactive": deactivates,
            "CanActivate": kind != "SpamComplaint",
            "Subject": msg["Subject"],
            "Content": msg["Body"],
            "_date": datetime.now(UTC),
        }

    def bounce(
        self, msg: JSON, recipient: str, kind: str = "HardBounce", *, details: str | None = None
    ) -> JSON:
        """Record a bounce of type ``kind``; one that deactivates suppresses the address."""
        if kind not in rules.BOUNCE_TYPES or kind == "SpamComplaint":
            raise SimulationError(f"Unknown bounce type {kind!r}.")
        self._unsettled(msg, recipient)
        record = self._bounce_record(msg, recipient, kind, details)
        self.bounces.append(record)
        msg["MessageEvents"].append(
            {
                "Recipient": recipient,
                "Type": "Bounced",
                "ReceivedAt": record["BouncedAt"],
                "Details": {"Summary": record["Description"], "BounceID": str(record["ID"])},
            }
        )
        self.fire("Bounce", msg["MessageStream"], public(record))
        if record["Inactive"]:
            reason = "ManualSuppression" if kind == "ManuallyDeactivated" else "HardBounce"
            self._suppress(msg, recipient, reason)
        return public(record)

    def _suppress(self, msg: JSON, recipient: str, reason: str) -> None:
        self.subscription_change(msg, recipient, suppress=True, reason=reason)

    def subscription_change(
        self,
        msg: JSON,
        recipient: str,
        *,
        suppress: bool = True,
        reason: str | None = "ManualSuppression",
        origin: str = "Recipient",
    ) -> JSON:
        """Suppress (or reactivate) ``recipient`` on the message's stream; fires webhooks.

        An unsubscribe link is ``origin="Recipient"``, reason ``ManualSuppression``;
        ``suppress=False`` is a reactivation (no reason).
        """
        stream = msg["MessageStream"]
        key = (stream, recipient.lower())
        if suppress:
            self.suppressions[key] = {
                "EmailAddress": recipient,
                "SuppressionReason": reason,
                "Origin": origin,
                "CreatedAt": now_iso(),
                "_date": datetime.now(UTC),
            }
        else:
            reason = None
            self.suppressions.pop(key, None)
        msg["MessageEvents"].append(
            {
                "Recipient": recipient,
                "Type": "SubscriptionChanged",
                "ReceivedAt": now_iso(),
                "Details": {"Origin": origin, "SuppressSending": str(suppress)},
            }
        )
        event = self._base_event(msg, recipient)
        event.update(
            {
                "RecordType": "SubscriptionChange",
                "ChangedAt": now_iso(),
                "Origin": origin,
                "SuppressSending": suppress,
                "SuppressionReason": reason,
            }
        )
        self.fire("SubscriptionChange", stream, event)
        return event

    def open(
        self,
        message_id: str,
        recipient: str | None = None,
        *,
        platform: str = "Desktop",
        client: str | None = None,
        read_seconds: int = 5,
    ) -> JSON:
        """Record an open; ``platform``/``client``/``read_seconds`` feed the breakdown stats.

        Only a message sent with ``TrackOpens`` and an HTML body can report opens
        (Postmark tracks them with a pixel in the HTML).
        """
        msg = self.message(message_id)
        if not msg["TrackOpens"] or not msg["HtmlBody"]:
            raise SimulationError(
                f"Message {message_id} was sent without open tracking (TrackOpens and an HTML "
                "body): Postmark reports no opens for it."
            )
        who = self.recipient_of(msg, recipient)
        first = not any(o["MessageID"] == message_id and o["Recipient"] == who for o in self.opens)
        record = self._base_event(msg, who)
        record.pop("ServerID")
        record.update(
            {
                "RecordType": "Open",
                "FirstOpen": first,
                "Client": client_info(client),
                "OS": {"Name": "Fake OS", "Company": "Fake", "Family": "Fake"},
                "Platform": platform,
                "UserAgent": "FakePostmark/1.0",
                "ReadSeconds": read_seconds,
                "Geo": GEO,
                "ReceivedAt": now_iso(),
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
        """Record a click; ``platform``/``browser``/``location`` feed the breakdown stats.

        Only links of a message sent with ``TrackLinks`` covering ``location`` (HTML or
        Text) are tracked, and the link must be in that body.
        """
        msg = self.message(message_id)
        if location not in ("HTML", "Text"):
            raise SimulationError("location is 'HTML' or 'Text'.")
        tracked = {"HtmlAndText": ("HTML", "Text"), "HtmlOnly": ("HTML",), "TextOnly": ("Text",)}
        if location not in tracked.get(msg["TrackLinks"], ()):
            raise SimulationError(
                f"Message {message_id} was sent with TrackLinks={msg['TrackLinks']}: Postmark "
                f"tracks no clicks in its {location} body."
            )
        if link not in msg["HtmlBody" if location == "HTML" else "TextBody"]:
            raise SimulationError(f"{link} is not in the {location} body of message {message_id}.")
        who = self.recipient_of(msg, recipient)
        record = self._base_event(msg, who)
        record.pop("ServerID")
        record.update(
            {
                "RecordType": "Click",
                "ClickLocation": location,
                "Client": client_info(browser),
                "OS": {"Name": "Fake OS", "Company": "Fake", "Family": "Fake"},
                "Platform": platform,
                "UserAgent": "FakePostmark/1.0",
                "OriginalLink": link,
                "Geo": GEO,
                "ReceivedAt": now_iso(),
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
        """The recipient marks the message as spam: recorded, suppressed, webhooks fired."""
        msg = self.message(message_id)
        who = self.recipient_of(msg, recipient)
        record = self._bounce_record(msg, who, "SpamComplaint")
        self.bounces.append(record)
        self.fire("SpamComplaint", msg["MessageStream"], public(record))
        self._suppress(msg, who, "SpamComplaint")
        return public(record)

    def inject_inbound(self, **fields: Any) -> JSON:
        """Receive an inbound email (Postmark's field names) and post it to the inbound hook.

        ``MailboxHash`` comes from the ``To`` address's ``+hash`` unless given;
        ``Attachments`` take ``Name``, ``Content`` (base64 text, or bytes encoded
        here), ``ContentType``, ``ContentID`` and ``Disposition``.
        """
        from_value = str(fields.get("From") or "sender@example.com")
        from_pairs = addresses(from_value)
        from_name, from_email = from_pairs[0] if from_pairs else ("", from_value)
        from_name = fields.get("FromName", from_name)
        to = str(fields.get("To") or self.server["InboundAddress"])
        to_addr = addresses(to)[0][1] if addresses(to) else to
        mailbox_hash = str(fields.get("MailboxHash") or _mailbox_hash(to_addr))

        def full(value: Any) -> list[JSON]:
            return [
                {"Email": a, "Name": n, "MailboxHash": _mailbox_hash(a)}
                for n, a in addresses(value)
            ]

        msg: JSON = {
            "From": from_email,
            "FromName": from_name,
            "FromFull": {"Email": from_email, "Name": from_name, "MailboxHash": ""},
            "To": to,
            "ToFull": full(to),
            "Cc": fields.get("Cc", ""),
            "CcFull": full(fields.get("Cc")),
            "Bcc": fields.get("Bcc", ""),
            "BccFull": full(fields.get("Bcc")),
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
            "Headers": list(fields.get("Headers") or []),
            "Attachments": [_inbound_attachment(a) for a in fields.get("Attachments") or []],
            "MessageID": str(fields.get("MessageID") or uuid.uuid4()),
            "BlockedReason": "",
            "Status": "Processed",
            "_date": datetime.now(UTC),
        }
        if fields.get("Metadata") is not None:
            rules.check_metadata(fields["Metadata"])
            msg["Metadata"] = dict(fields["Metadata"])
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
            self.post_inbound(msg)
        return public(msg)

    def post_inbound(self, msg: JSON) -> None:
        """POST ``msg`` to the inbound hook; out of retries (or a 403) it becomes Failed."""
        url = self.server["InboundHookUrl"]
        if not url:
            return
        payload = {k: v for k, v in public(msg).items() if k not in ("Status", "BlockedReason")}

        def settled(delivery: Delivery) -> None:
            if not delivery.delivered:
                with self.lock:
                    msg["Status"] = "Failed"

        self.dispatcher.enqueue(url, payload, inbound=True, on_done=settled)


def _mailbox_hash(address: str) -> str:
    local = address.rsplit("@", 1)[0]
    return local.split("+", 1)[1] if "+" in local else ""


def _inbound_attachment(item: Any) -> JSON:
    if not isinstance(item, dict) or not item.get("Name"):
        raise SimulationError("An inbound attachment needs at least a Name and Content.")
    content = item.get("Content", item.get("Data", b""))
    raw = content if isinstance(content, bytes) else base64.b64decode(str(content))
    out: JSON = {
        "Name": item["Name"],
        "Content": base64.b64encode(raw).decode(),
        "ContentType": item.get("ContentType") or "application/octet-stream",
        "ContentLength": len(raw),
    }
    if item.get("ContentID"):
        out["ContentID"] = item["ContentID"]
    if item.get("Disposition"):
        out["Disposition"] = item["Disposition"]
    return out
