"""Webhooks and inbound rules."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from .http import json_body, json_response, paging, state
from .records import (
    EMAIL_RE,
    JSON,
    fail,
)

bp = Blueprint("webhooks", __name__)


# -- webhooks, inbound rules ------------------------------------------


def _webhook_fields(body: Any, hook: JSON) -> JSON:
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    if "Url" in body:
        if not re.match(r"^https?://", str(body["Url"] or "")):
            raise fail(606, "The webhook URL is invalid.")
        hook["Url"] = body["Url"]
    for key in ("HttpAuth", "HttpHeaders"):
        if key in body:
            hook[key] = body[key]
    if body.get("MessageStream"):
        hook["MessageStream"] = state.stream_id(body["MessageStream"])
    if isinstance(body.get("Triggers"), dict):
        for name, conf in body["Triggers"].items():
            if name in hook["Triggers"] and isinstance(conf, dict):
                hook["Triggers"][name].update(conf)
    return hook


@bp.route("/webhooks", methods=["GET"], endpoint="list_webhooks")
def list_webhooks() -> Response:
    stream = request.args.get("MessageStream")
    hooks = [h for h in state.webhooks.values() if not stream or h["MessageStream"] == stream]
    return json_response({"Webhooks": hooks})


@bp.route("/webhooks/<wid>", methods=["GET"], endpoint="get_webhook")
def get_webhook(wid: str) -> Response:
    return json_response(_hook(wid))


def _hook(wid: str) -> JSON:
    hook = state.webhooks.get(int(wid)) if wid.isdigit() else None
    if hook is None:
        raise fail(1300, f"Webhook {wid} not found.", status=404)
    return hook


@bp.route("/webhooks", methods=["POST"], endpoint="create_webhook")
def create_webhook() -> Response:
    body = json_body()
    if not isinstance(body, dict) or not body.get("Url"):
        raise fail(606, "The webhook URL is required.")
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
    return json_response(hook)


@bp.route("/webhooks/<wid>", methods=["PUT"], endpoint="edit_webhook")
def edit_webhook(wid: str) -> Response:
    return json_response(_webhook_fields(json_body(), _hook(wid)))


@bp.route("/webhooks/<wid>", methods=["DELETE"], endpoint="delete_webhook")
def delete_webhook(wid: str) -> Response:
    hook = _hook(wid)
    del state.webhooks[hook["ID"]]
    return json_response({"ErrorCode": 0, "Message": f"Webhook {hook['ID']} removed."})


@bp.route("/triggers/inboundrules", methods=["GET"], endpoint="list_inbound_rules")
def list_rules() -> Response:
    count, offset = paging(window=False)
    rules = list(state.inbound_rules.values())
    return json_response({"TotalCount": len(rules), "InboundRules": rules[offset : offset + count]})


@bp.route("/triggers/inboundrules", methods=["POST"], endpoint="create_inbound_rule")
def create_rule() -> Response:
    body = json_body()
    rule = body.get("Rule") if isinstance(body, dict) else None
    if not rule:
        raise fail(809, "No trigger data received.")
    if not (EMAIL_RE.match(rule) or re.match(r"^[\w.-]+\.[a-z]{2,}$", rule, re.I)):
        raise fail(813, "Not a valid email address or domain.")
    if any(r["Rule"].lower() == rule.lower() for r in state.inbound_rules.values()):
        raise fail(810, "This inbound rule already exists.")
    record = {"ID": state.next_id(), "Rule": rule}
    state.inbound_rules[record["ID"]] = record
    return json_response(record)


@bp.route("/triggers/inboundrules/<rid>", methods=["DELETE"], endpoint="delete_inbound_rule")
def delete_rule(rid: str) -> Response:
    if not rid.isdigit() or int(rid) not in state.inbound_rules:
        raise fail(812, "Inbound rule not found.")
    del state.inbound_rules[int(rid)]
    return json_response({"ErrorCode": 0, "Message": f"Rule ID {rid} removed."})
