"""Sending and tracking: email, outbound and inbound messages, opens, clicks, bounces."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from ... import templating
from .http import (
    api_test_token,
    in_dates,
    is_api_test,
    json_body,
    json_response,
    page_of,
    paging,
    state,
)
from .records import (
    JSON,
    MAX_BATCH,
    SUMMARY_DROP,
    ApiFailure,
    api_inbound,
    fail,
    now_iso,
    public,
)

bp = Blueprint("sending", __name__)


# -- email ----------------------------------------------------------


def _send(body: Any, *, from_template: bool = False) -> JSON:
    return state.send(body, from_template=from_template, test_mode=is_api_test())


@bp.route("/email", methods=["POST"], endpoint="send_email")
@api_test_token
def send_email() -> Response:
    return json_response(_send(json_body()))


def _batch(items: Any, one: Callable[[Any], JSON]) -> Response:
    if not isinstance(items, list):
        raise fail(402, "A batch request body must be a JSON array.")
    if len(items) > MAX_BATCH:
        raise fail(410, "You may send at most 500 messages in a batch.")
    out: list[JSON] = []
    for item in items:
        try:
            out.append(one(item))
        except ApiFailure as exc:
            to = item.get("To", "") if isinstance(item, dict) else ""
            out.append({"ErrorCode": exc.code, "Message": exc.message, "To": to})
    return json_response(out)


@bp.route("/email/batch", methods=["POST"], endpoint="send_email_batch")
@api_test_token
def send_batch() -> Response:
    return _batch(json_body(), _send)


def _with_template(item: Any) -> JSON:
    if not isinstance(item, dict):
        raise fail(402, "Received invalid JSON input.")
    if is_api_test():  # no server, so no templates: check the request, render nothing
        if not item.get("TemplateId") and not item.get("TemplateAlias"):
            raise fail(1101, "TemplateId or TemplateAlias is required.")
        if not isinstance(item.get("TemplateModel"), dict):
            raise fail(1120, "The 'TemplateModel' field is required.")
        fields = ("TemplateId", "TemplateAlias", "TemplateModel", "InlineCss")
        return _send({k: v for k, v in item.items() if k not in fields}, from_template=True)
    return _send(state.render_template(item), from_template=True)


@bp.route("/email/withTemplate", methods=["POST"], endpoint="send_email_with_template")
@api_test_token
def send_template() -> Response:
    return json_response(_with_template(json_body()))


@bp.route("/email/batchWithTemplates", methods=["POST"], endpoint="send_email_batch_with_templates")
@api_test_token
def send_batch_templates() -> Response:
    body = json_body()
    items = body.get("Messages") if isinstance(body, dict) else None
    return _batch(items, _with_template)


@bp.route("/email/bulk", methods=["POST"], endpoint="send_bulk_email")
def send_bulk() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    messages = body.get("Messages")
    if not isinstance(messages, list) or not messages:
        raise fail(300, "A bulk request needs a non-empty 'Messages' array.")
    stream = body.get("MessageStream") or "broadcast"
    if state.streams.get(stream, {}).get("MessageStreamType") != "Broadcasts":
        raise fail(300, f"Bulk sends need a broadcast message stream, not '{stream}'.")
    state.sender_for(str(body.get("From") or ""))
    per_message = ("To", "Cc", "Bcc", "TemplateModel", "Metadata", "Headers")
    common = {k: v for k, v in body.items() if k not in ("Messages", *per_message)}
    common["MessageStream"] = stream
    bulk_id = str(uuid.uuid4())
    now = now_iso()
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
                        one[key] = templating.render(one[key], model, escape=key == "HtmlBody")
            state.send(one, from_template=templated)
            sent += 1
        except (ApiFailure, templating.TemplateSyntaxError, templating.TemplateRenderError):
            pass  # Postmark reports per-recipient failures as bounces/events, not here
    state.bulk[bulk_id] = {
        "Id": bulk_id,
        "SubmittedAt": now,
        "TotalMessages": len(messages),
        "PercentageCompleted": 100.0,
        "Status": "Completed",
        "Subject": body.get("Subject") or "",
    }
    return json_response({"ID": bulk_id, "Status": "Accepted", "SubmittedAt": now})


@bp.route("/email/bulk/<bulk_id>", methods=["GET"], endpoint="get_bulk_email_status")
def bulk_status(bulk_id: str) -> Response:
    if bulk_id not in state.bulk:
        raise fail(1300, f"Bulk request '{bulk_id}' not found.", status=404)
    return json_response(state.bulk[bulk_id])


# -- outbound messages ---------------------------------------------


@bp.route("/messages/outbound", methods=["GET"], endpoint="list_outbound_messages")
def outbound_search() -> Response:
    count, offset = paging()
    a = request.args.to_dict()  # plain dict: a missing key costs no exception
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
        return in_dates(m)

    hits = [m for m in state.outbound if keep(m)]
    items = [
        {k: v for k, v in m.items() if k not in SUMMARY_DROP} for m in page_of(hits, count, offset)
    ]
    return json_response({"TotalCount": len(hits), "Messages": items})


@bp.route(
    "/messages/outbound/<mid>/details", methods=["GET"], endpoint="get_outbound_message_details"
)
def outbound_details(mid: str) -> Response:
    return json_response(public(state.message(mid)))


@bp.route("/messages/outbound/<mid>/dump", methods=["GET"], endpoint="get_outbound_message_dump")
def outbound_dump(mid: str) -> Response:
    return json_response({"Body": state.message(mid)["Body"]})


def _events(records: list[JSON], key: str, mid: str | None) -> Response:
    count, offset = paging()
    hits = [r for r in records if mid is None or r["MessageID"] == mid]
    if mid is None:
        a = request.args.to_dict()  # plain dict: a missing key costs no exception
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
    return json_response({"TotalCount": len(hits), key: page})


@bp.route("/messages/outbound/opens", methods=["GET"], endpoint="list_message_opens")
def opens() -> Response:
    return _events(state.opens, "Opens", None)


@bp.route("/messages/outbound/opens/<mid>", methods=["GET"], endpoint="get_message_opens")
def message_opens(mid: str) -> Response:
    return _events(state.opens, "Opens", mid)


@bp.route("/messages/outbound/clicks", methods=["GET"], endpoint="list_message_clicks")
def clicks() -> Response:
    return _events(state.clicks, "Clicks", None)


@bp.route("/messages/outbound/clicks/<mid>", methods=["GET"], endpoint="get_message_clicks")
def message_clicks(mid: str) -> Response:
    return _events(state.clicks, "Clicks", mid)


# -- inbound messages ----------------------------------------------


def _inbound(mid: str) -> JSON:
    for msg in state.inbound:
        if msg["MessageID"] == mid:
            return msg
    raise fail(701, f"Message with ID '{mid}' does not exist.")


@bp.route("/messages/inbound", methods=["GET"], endpoint="list_inbound_messages")
def inbound_search() -> Response:
    count, offset = paging()
    a = request.args.to_dict()  # plain dict: a missing key costs no exception

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
        return in_dates(m)

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
        {k: v for k, v in api_inbound(m).items() if k not in drop}
        for m in page_of(hits, count, offset)
    ]
    return json_response({"TotalCount": len(hits), "InboundMessages": items})


@bp.route(
    "/messages/inbound/<mid>/details", methods=["GET"], endpoint="get_inbound_message_details"
)
def inbound_details(mid: str) -> Response:
    return json_response(api_inbound(_inbound(mid)))


@bp.route("/messages/inbound/<mid>/bypass", methods=["PUT"], endpoint="bypass_inbound_message")
def inbound_bypass(mid: str) -> Response:
    msg = _inbound(mid)
    if msg["Status"] != "Blocked":
        raise fail(702, "Only blocked inbound messages can be bypassed.")
    msg["Status"], msg["BlockedReason"] = "Processed", ""
    state.post_inbound(msg)
    return json_response({"ErrorCode": 0, "Message": f"Successfully bypassed message: {mid}"})


@bp.route("/messages/inbound/<mid>/retry", methods=["PUT"], endpoint="retry_inbound_message")
def inbound_retry(mid: str) -> Response:
    msg = _inbound(mid)
    if msg["Status"] != "Failed":
        raise fail(703, "Only failed inbound messages can be retried.")
    msg["Status"] = "Processed"
    state.post_inbound(msg)
    return json_response({"ErrorCode": 0, "Message": "Successfully rescheduled failed message."})


# -- bounces ---------------------------------------------------------


def _bounce(bid: str) -> JSON:
    for b in state.bounces:
        if str(b["ID"]) == bid:
            return b
    raise fail(1001, f"Bounce {bid} not found.")


@bp.route("/deliverystats", methods=["GET"], endpoint="get_delivery_stats")
def delivery_stats() -> Response:
    by_type: dict[str, int] = {}
    for b in state.bounces:
        by_type[b["Name"]] = by_type.get(b["Name"], 0) + 1
    rows = [{"Name": "All", "Count": len(state.bounces)}]
    rows += [
        {"Name": n, "Count": c, "Type": n.title().replace(" ", "")} for n, c in by_type.items()
    ]
    inactive = len({b["Email"].lower() for b in state.bounces if b["Inactive"]})
    return json_response({"InactiveMails": inactive, "Bounces": rows})


@bp.route("/bounces", methods=["GET"], endpoint="list_bounces")
def bounces() -> Response:
    count, offset = paging()
    a = request.args.to_dict()  # plain dict: a missing key costs no exception

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
        return in_dates(b)

    hits = [b for b in state.bounces if keep(b)]
    items = [
        {k: v for k, v in b.items() if k not in ("Content", "Metadata")}
        for b in page_of(hits, count, offset)
    ]
    return json_response({"TotalCount": len(hits), "Bounces": items})


@bp.route("/bounces/<bid>", methods=["GET"], endpoint="get_bounce")
def get_bounce(bid: str) -> Response:
    return json_response({k: v for k, v in public(_bounce(bid)).items() if k != "Metadata"})


@bp.route("/bounces/<bid>/dump", methods=["GET"], endpoint="get_bounce_dump")
def bounce_dump(bid: str) -> Response:
    return json_response({"Body": _bounce(bid)["Content"]})


@bp.route("/bounces/<bid>/activate", methods=["PUT"], endpoint="activate_bounce")
def activate(bid: str) -> Response:
    b = _bounce(bid)
    if not b["CanActivate"]:
        raise fail(1003, "This bounce cannot be activated.")
    b["Inactive"] = False
    state.suppressions.pop((b["MessageStream"], b["Email"].lower()), None)
    shown = {k: v for k, v in public(b).items() if k != "Metadata"}
    return json_response({"Message": "OK", "Bounce": shown})
