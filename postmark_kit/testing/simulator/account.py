"""The account: servers, message streams, sender signatures, domains, data removals."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request

from .http import account_token, json_body, json_response, paging, state
from .records import (
    DATA_REMOVAL_PENDING_READS,
    EMAIL_RE,
    JSON,
    SERVER_COLORS,
    SERVER_READ_ONLY,
    SIGNATURE_SUMMARY,
    check_return_path,
    fail,
    now_iso,
    public,
    resolves,
    signature_dns,
    verify_dkim,
)

bp = Blueprint("account", __name__)


# -- server, streams, senders -----------------------------------------


@bp.route("/server", methods=["GET"], endpoint="get_server")
def get_server() -> Response:
    return json_response(state.server)


@bp.route("/server", methods=["PUT"], endpoint="edit_server")
def edit_server() -> Response:
    body = json_body()
    if not isinstance(body, dict) or not body:
        raise fail(609, "No updated server data received.")
    for key, value in body.items():
        if key in state.server and key not in (
            "ID",
            "ApiTokens",
            "ServerLink",
            "InboundAddress",
        ):
            state.server[key] = value
    return json_response(state.server)


def _server_settings(body: Any, server: JSON, *, creating: bool) -> JSON:
    """Validate ``body`` (Postmark's codes), then apply it to ``server``."""
    if not isinstance(body, dict) or not body:
        raise fail(609, "No updated server data received.")
    if "Name" in body or creating:
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise fail(608, "Server name is missing or invalid.")
        if any(
            s["Name"].lower() == name.lower() and s is not server for s in state.servers.values()
        ):
            raise fail(603, f"A server named '{name}' already exists.")
    if "Color" in body and str(body["Color"]).lower() not in SERVER_COLORS:
        raise fail(607, f"Invalid server color '{body['Color']}'.")
    if "InboundSpamThreshold" in body:
        t = body["InboundSpamThreshold"]
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= 30 or t % 5:
            raise fail(611, "InboundSpamThreshold must be 0-30 in steps of 5.")
    if body.get("InboundDomain") and any(
        s["InboundDomain"].lower() == str(body["InboundDomain"]).lower() and s is not server
        for s in state.servers.values()
    ):
        raise fail(602, "This inbound domain is already used by another server.")
    if body.get("TrackLinks", "None") not in ("None", "HtmlAndText", "HtmlOnly", "TextOnly"):
        raise fail(511, f"Invalid TrackLinks value '{body['TrackLinks']}'.")
    if creating and body.get("DeliveryType", "Live") not in ("Live", "Sandbox"):
        raise fail(511, f"Invalid DeliveryType '{body['DeliveryType']}'.")
    for key, value in body.items():
        if key in server and key not in SERVER_READ_ONLY:
            server[key] = value.lower() if key == "Color" else value
    if creating and "DeliveryType" in body:
        server["DeliveryType"] = body["DeliveryType"]  # set at creation only
    return server


@bp.route("/servers", methods=["GET"], endpoint="list_servers")
@account_token
def list_servers() -> Response:
    count, offset = paging(window=False)
    name = (request.args.get("name") or "").lower()
    hits = [s for s in state.servers.values() if name in s["Name"].lower()]
    return json_response({"TotalCount": len(hits), "Servers": hits[offset : offset + count]})


@bp.route("/servers/<sid>", methods=["GET"], endpoint="get_server_by_id")
@account_token
def get_server_by_id(sid: str) -> Response:
    return json_response(state.server_by_id(sid))


@bp.route("/servers", methods=["POST"], endpoint="create_server")
@account_token
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
    _server_settings(json_body(), server, creating=True)
    state.servers[sid] = server
    state.server_templates[sid] = {}
    return json_response(server)


@bp.route("/servers/<sid>", methods=["PUT"], endpoint="edit_server_by_id")
@account_token
def edit_server_by_id(sid: str) -> Response:
    server = state.server_by_id(sid)
    return json_response(_server_settings(json_body(), server, creating=False))


@bp.route("/servers/<sid>", methods=["DELETE"], endpoint="delete_server")
@account_token
def delete_server(sid: str) -> Response:
    server = state.server_by_id(sid)
    if not state.allow_server_delete:
        raise fail(
            604,
            "Server deletion is not enabled for this account; ask Postmark support "
            "(simulator: set state.allow_server_delete = True).",
        )
    if server["ID"] == 1:
        raise fail(605, "Unable to delete server 1: the simulator serves it.")
    del state.servers[server["ID"]]
    del state.server_templates[server["ID"]]
    return json_response({"ErrorCode": 0, "Message": f"Server {server['Name']} removed."})


@bp.route("/message-streams", methods=["GET"], endpoint="list_message_streams")
def list_streams() -> Response:
    kind = request.args.get("MessageStreamType", "All")
    archived = request.args.get("IncludeArchivedStreams", "false").lower() == "true"
    hits = [
        s
        for s in state.streams.values()
        if (kind == "All" or s["MessageStreamType"] == kind) and (archived or not s["ArchivedAt"])
    ]
    return json_response({"MessageStreams": hits, "TotalCount": len(hits)})


@bp.route("/message-streams/<sid>", methods=["GET"], endpoint="get_message_stream")
def get_stream(sid: str) -> Response:
    if sid not in state.streams:
        raise fail(1226, f"The message stream '{sid}' was not found.")
    return json_response(state.streams[sid])


@bp.route("/message-streams", methods=["POST"], endpoint="create_message_stream")
def create_stream() -> Response:
    body = json_body()
    if not isinstance(body, dict) or not body.get("ID") or not body.get("Name"):
        raise fail(1120, "ID and Name are required to create a message stream.")
    if body.get("MessageStreamType") not in ("Transactional", "Broadcasts"):
        raise fail(1122, "MessageStreamType must be Transactional or Broadcasts.")
    if body["ID"] in state.streams:
        raise fail(1122, f"A message stream with ID '{body['ID']}' already exists.")
    now = now_iso()
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
    return json_response(stream)


@bp.route("/senders", methods=["GET"], endpoint="list_sender_signatures")
@account_token
def list_senders() -> Response:
    count, offset = paging(window=False)
    items = [{k: s[k] for k in SIGNATURE_SUMMARY} for s in state.senders.values()]
    return json_response(
        {"TotalCount": len(items), "SenderSignatures": items[offset : offset + count]}
    )


@bp.route("/senders", methods=["POST"], endpoint="create_sender_signature")
@account_token
def create_sender() -> Response:
    body = json_body()
    if not isinstance(body, dict) or not body.get("FromEmail") or not body.get("Name"):
        raise fail(520, "FromEmail and Name are required.")
    addr = body["FromEmail"]
    if not EMAIL_RE.match(addr):
        raise fail(522, f"Invalid email address '{addr}'.")
    if any(s["EmailAddress"].lower() == addr.lower() for s in state.senders.values()):
        raise fail(504, "This signature already exists.")
    sig = {
        "ID": state.next_id() + 1000,
        "Domain": addr.split("@", 1)[1],
        "EmailAddress": addr,
        "ReplyToEmailAddress": "",
        "Name": "",
        "Confirmed": False,
    }
    signature_dns(sig, verified=False)
    _signature_fields(body, sig)
    state.senders[sig["ID"]] = sig
    return json_response(sig)


def _signature_fields(body: JSON, sig: JSON) -> None:
    """Validate and apply the editable signature fields (Postmark's 52x codes)."""
    if "Name" in body:
        if not isinstance(body["Name"], str) or not body["Name"].strip():
            raise fail(520, "Name is required.")
        if len(body["Name"]) > 255:
            raise fail(521, "Name is too long.")
    reply = body.get("ReplyToEmail")
    if reply and not EMAIL_RE.match(str(reply)):
        raise fail(522, f"Invalid ReplyToEmail '{reply}'.")
    note = body.get("ConfirmationPersonalNote")
    if note is not None and len(str(note)) > 400:
        raise fail(521, "ConfirmationPersonalNote is longer than 400 characters.")
    rpd = body.get("ReturnPathDomain")
    if rpd:
        check_return_path(str(rpd), sig["Domain"], 522)
    for src, dst in (
        ("Name", "Name"),
        ("ReplyToEmail", "ReplyToEmailAddress"),
        ("ConfirmationPersonalNote", "ConfirmationPersonalNote"),
    ):
        if src in body and body[src] is not None:
            sig[dst] = body[src]
    if rpd is not None and rpd != sig["ReturnPathDomain"]:
        sig["ReturnPathDomain"], sig["ReturnPathDomainVerified"] = rpd, False


@bp.route("/senders/<sid>", methods=["GET"], endpoint="get_sender_signature")
@account_token
def get_sender(sid: str) -> Response:
    return json_response(state.signature(sid))


@bp.route("/senders/<sid>", methods=["PUT"], endpoint="edit_sender_signature")
@account_token
def edit_sender(sid: str) -> Response:
    sig = state.signature(sid)
    body = json_body()
    if not isinstance(body, dict) or not body:
        raise fail(502, "No updated sender signature data received.")
    if "Name" not in body:
        raise fail(520, "Name is required to edit a sender signature.")
    _signature_fields(body, sig)
    return json_response(sig)


@bp.route("/senders/<sid>", methods=["DELETE"], endpoint="delete_sender_signature")
@account_token
def delete_sender(sid: str) -> Response:
    sig = state.signature(sid)
    del state.senders[sig["ID"]]
    return json_response({"ErrorCode": 0, "Message": f"Signature ID {sig['ID']} removed."})


@bp.route("/senders/<sid>/resend", methods=["POST"], endpoint="resend_sender_confirmation")
@account_token
def resend_confirmation(sid: str) -> Response:
    sig = state.signature(sid)
    if sig["Confirmed"]:
        raise fail(506, f"Sender signature {sig['EmailAddress']} is already confirmed.")
    return json_response(
        {
            "ErrorCode": 0,
            "Message": f"Confirmation email for Sender Signature {sig['EmailAddress']} "
            "was re-sent.",
        }
    )


@bp.route("/senders/<sid>/verifyspf", methods=["POST"], endpoint="verify_sender_spf")
@account_token
def verify_sender_spf(sid: str) -> Response:
    sig = state.signature(sid)
    sig["SPFVerified"] = resolves(sig["Domain"])
    return json_response(sig)


@bp.route("/senders/<sid>/requestnewdkim", methods=["POST"], endpoint="request_sender_new_dkim")
@account_token
def request_sender_new_dkim(sid: str) -> Response:
    sig = state.signature(sid)
    if sig["DKIMPendingHost"]:
        raise fail(505, "A new DKIM key is already scheduled for this signature.")
    sig["DKIMPendingHost"], sig["DKIMPendingTextValue"] = state.dkim_key(sig["Domain"])
    sig["DKIMUpdateStatus"] = "Pending"
    return json_response(
        {"ErrorCode": 0, "Message": f"New DKIM key requested for Sender Signature {sid}."}
    )


def _stream_or_404(sid: str) -> JSON:
    if sid not in state.streams:
        raise fail(1226, f"The message stream '{sid}' was not found.")
    return state.streams[sid]


@bp.route("/message-streams/<sid>", methods=["PATCH"], endpoint="edit_message_stream")
def edit_stream(sid: str) -> Response:
    stream = _stream_or_404(sid)
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    for key in ("Name", "Description", "SubscriptionManagementConfiguration"):
        if key in body:
            stream[key] = body[key]
    stream["UpdatedAt"] = now_iso()
    return json_response(stream)


@bp.route("/message-streams/<sid>/archive", methods=["POST"], endpoint="archive_message_stream")
def archive_stream(sid: str) -> Response:
    stream = _stream_or_404(sid)
    if sid in ("outbound", "inbound"):
        raise fail(1235, "Default message streams cannot be archived.")
    stream["ArchivedAt"] = now_iso()
    stream["ExpectedPurgeDate"] = (datetime.now(UTC) + timedelta(days=45)).isoformat()
    return json_response(
        {"ID": sid, "ServerID": 1, "ExpectedPurgeDate": stream["ExpectedPurgeDate"]}
    )


@bp.route("/message-streams/<sid>/unarchive", methods=["POST"], endpoint="unarchive_message_stream")
def unarchive_stream(sid: str) -> Response:
    stream = _stream_or_404(sid)
    stream["ArchivedAt"] = stream["ExpectedPurgeDate"] = None
    return json_response(stream)


def _domain(did: str) -> JSON:
    dom = state.domains.get(int(did)) if did.isdigit() else None
    if dom is None:
        raise fail(510, f"Domain {did} not found.")
    return dom


@bp.route("/domains", methods=["GET"], endpoint="list_domains")
@account_token
def list_domains() -> Response:
    count, offset = paging(window=False)
    keys = ("Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified", "ID")
    items = [{k: d[k] for k in keys} for d in state.domains.values()]
    return json_response({"TotalCount": len(items), "Domains": items[offset : offset + count]})


@bp.route("/domains/<did>", methods=["GET"], endpoint="get_domain")
@account_token
def get_domain(did: str) -> Response:
    return json_response(_domain(did))


@bp.route("/domains", methods=["POST"], endpoint="create_domain")
@account_token
def create_domain() -> Response:
    body = json_body()
    name = body.get("Name") if isinstance(body, dict) else None
    if not name:
        raise fail(514, "Name is required to create a domain.")
    if not re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", name, re.I):
        raise fail(516, "Domain name format is invalid.")
    if any(d["Name"].lower() == name.lower() for d in state.domains.values()):
        raise fail(512, "This domain already exists.")
    rpd = body.get("ReturnPathDomain")
    if rpd:
        check_return_path(str(rpd), name, 511)
    return json_response(state.add_domain(name, verified=False, return_path=rpd or None))


@bp.route("/domains/<did>", methods=["DELETE"], endpoint="delete_domain")
@account_token
def delete_domain(did: str) -> Response:
    dom = _domain(did)
    del state.domains[dom["ID"]]
    return json_response({"ErrorCode": 0, "Message": f"Domain {dom['Name']} removed."})


@bp.route("/domains/<did>", methods=["PUT"], endpoint="edit_domain")
@account_token
def edit_domain(did: str) -> Response:
    dom = _domain(did)
    body = json_body()
    rpd = body.get("ReturnPathDomain") if isinstance(body, dict) else None
    if not isinstance(rpd, str) or not rpd:
        raise fail(511, "ReturnPathDomain is the field to edit.")
    check_return_path(rpd, dom["Name"], 511)
    if rpd.lower() != dom["ReturnPathDomain"].lower():
        dom["ReturnPathDomain"], dom["ReturnPathDomainVerified"] = rpd, False
    return json_response(dom)


@bp.route("/domains/<did>/verifydkim", methods=["PUT"], endpoint="verify_domain_dkim")
@account_token
def verify_domain_dkim(did: str) -> Response:
    dom = _domain(did)
    verify_dkim(dom, dom["Name"])
    return json_response(dom)


@bp.route("/domains/<did>/verifyreturnpath", methods=["PUT"], endpoint="verify_domain_return_path")
@account_token
def verify_domain_return_path(did: str) -> Response:
    dom = _domain(did)
    dom["ReturnPathDomainVerified"] = resolves(dom["ReturnPathDomain"])
    return json_response(dom)


@bp.route("/domains/<did>/verifyspf", methods=["POST"], endpoint="verify_domain_spf")
@account_token
def verify_domain_spf(did: str) -> Response:
    dom = _domain(did)
    dom["SPFVerified"] = resolves(dom["Name"])
    return json_response(dom)


@bp.route("/domains/<did>/rotatedkim", methods=["POST"], endpoint="rotate_domain_dkim")
@account_token
def rotate_domain_dkim(did: str) -> Response:
    dom = _domain(did)
    if dom["DKIMPendingHost"]:
        raise fail(505, "A DKIM key is already scheduled for renewal on this domain.")
    dom["DKIMPendingHost"], dom["DKIMPendingTextValue"] = state.dkim_key(dom["Name"])
    dom["DKIMUpdateStatus"] = "Pending"
    return json_response(dom)


# -- data removals -----------------------------------------------------


@bp.route("/data-removals", methods=["POST"], endpoint="create_data_removal")
@account_token
def create_data_removal() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    for key in ("RequestedBy", "RequestedFor"):
        if not EMAIL_RE.match(str(body.get(key) or "")):
            raise fail(511, f"'{key}' must be an email address.")
    rid = state.next_id() + 4000
    state.data_removals[rid] = {
        "ID": rid,
        "Status": "Pending",
        "_for": body["RequestedFor"],
        "_reads": 0,
    }
    return json_response({"ID": rid, "Status": "Pending"})


@bp.route("/data-removals/<rid>", methods=["GET"], endpoint="get_data_removal")
@account_token
def get_data_removal(rid: str) -> Response:
    removal = state.data_removals.get(int(rid)) if rid.isdigit() else None
    if removal is None:
        raise fail(1300, f"Data removal request {rid} not found.", status=404)
    removal["_reads"] += 1
    if removal["Status"] == "Pending" and removal["_reads"] > DATA_REMOVAL_PENDING_READS:
        state.erase_recipient(removal["_for"])
        removal["Status"] = "Done"
    return json_response(public(removal))
