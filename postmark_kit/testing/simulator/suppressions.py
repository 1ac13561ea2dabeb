"""Suppressions per message stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from .http import in_dates, json_body, json_response, state
from .records import (
    EMAIL_RE,
    JSON,
    fail,
    now_iso,
    public,
)

bp = Blueprint("suppressions", __name__)


# -- suppressions ------------------------------------------------------


@bp.route("/message-streams/<sid>/suppressions/dump", methods=["GET"], endpoint="list_suppressions")
def suppression_dump(sid: str) -> Response:
    stream = state.stream_id(sid)
    a = request.args.to_dict()  # plain dict: a missing key costs no exception
    hits = [
        s
        for (st, _), s in state.suppressions.items()
        if st == stream
        and (not a.get("SuppressionReason") or a["SuppressionReason"] == s["SuppressionReason"])
        and (not a.get("Origin") or a["Origin"] == s["Origin"])
        and (not a.get("EmailAddress") or a["EmailAddress"].lower() == s["EmailAddress"].lower())
        and in_dates(s)
    ]
    return json_response({"Suppressions": [public(s) for s in hits]})


def _suppression_list(body: Any) -> list[str]:
    items = body.get("Suppressions") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise fail(402, "Expected a 'Suppressions' array.")
    return [str(i.get("EmailAddress", "")) if isinstance(i, dict) else "" for i in items]


@bp.route("/message-streams/<sid>/suppressions", methods=["POST"], endpoint="create_suppressions")
def suppress(sid: str) -> Response:
    stream = state.stream_id(sid)
    out: list[JSON] = []
    for addr in _suppression_list(json_body()):
        if not EMAIL_RE.match(addr):
            out.append(
                {"EmailAddress": addr, "Status": "Failed", "Message": "Invalid email address."}
            )
            continue
        state.suppressions[(stream, addr.lower())] = {
            "EmailAddress": addr,
            "SuppressionReason": "ManualSuppression",
            "Origin": "Customer",
            "CreatedAt": now_iso(),
            "_date": datetime.now(UTC),
        }
        out.append({"EmailAddress": addr, "Status": "Suppressed", "Message": None})
    return json_response({"Suppressions": out})


@bp.route(
    "/message-streams/<sid>/suppressions/delete", methods=["POST"], endpoint="delete_suppressions"
)
def unsuppress(sid: str) -> Response:
    stream = state.stream_id(sid)
    out: list[JSON] = []
    for addr in _suppression_list(json_body()):
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
    return json_response({"Suppressions": out})
