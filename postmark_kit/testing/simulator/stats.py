"""Outbound statistics computed from the simulated messages and events."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from .http import in_dates, json_response, state
from .records import (
    JSON,
)

bp = Blueprint("stats", __name__)


# -- stats -------------------------------------------------------------


def _stat_messages() -> list[JSON]:
    a = request.args.to_dict()  # plain dict: a missing key costs no exception
    return [
        m
        for m in state.outbound
        if (not a.get("tag") or a["tag"] == m["Tag"])
        and (not a.get("messagestream") or a["messagestream"] == m["MessageStream"])
        and in_dates(m)
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


@bp.route("/stats/outbound", methods=["GET"], endpoint="get_outbound_overview")
def overview() -> Response:
    msgs = _stat_messages()
    sent = len(msgs)
    bounces = _stat_records(state.bounces)
    bounced = sum(1 for b in bounces if b["RecordType"] == "Bounce")
    spam = sum(1 for b in bounces if b["RecordType"] == "SpamComplaint")
    opens, clicks = _stat_records(state.opens), _stat_records(state.clicks)
    tracked_opens = sum(1 for m in msgs if m["TrackOpens"])
    tracked_links = sum(1 for m in msgs if m["TrackLinks"] != "None")
    return json_response(
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


@bp.route("/stats/outbound/sends", methods=["GET"], endpoint="get_sent_counts")
def sends() -> Response:
    msgs = _stat_messages()
    return json_response({"Days": _days(msgs, "Sent", "ReceivedAt"), "Sent": len(msgs)})


@bp.route("/stats/outbound/bounces", methods=["GET"], endpoint="get_bounce_counts")
def bounce_counts() -> Response:
    bs = [b for b in _stat_records(state.bounces) if b["RecordType"] == "Bounce"]
    per: dict[str, JSON] = {}
    for b in bs:
        row = per.setdefault(b["BouncedAt"][:10], {"Date": b["BouncedAt"][:10]})
        row[b["Type"]] = row.get(b["Type"], 0) + 1
    totals: JSON = {"Days": [per[d] for d in sorted(per)]}
    for b in bs:
        totals[b["Type"]] = totals.get(b["Type"], 0) + 1
    return json_response(totals)


@bp.route("/stats/outbound/spam", methods=["GET"], endpoint="get_spam_complaint_counts")
def spam_counts() -> Response:
    bs = [b for b in _stat_records(state.bounces) if b["RecordType"] == "SpamComplaint"]
    return json_response(
        {"Days": _days(bs, "SpamComplaint", "BouncedAt"), "SpamComplaint": len(bs)}
    )


@bp.route("/stats/outbound/tracked", methods=["GET"], endpoint="get_tracked_email_counts")
def tracked() -> Response:
    msgs = [m for m in _stat_messages() if m["TrackOpens"]]
    return json_response({"Days": _days(msgs, "Tracked", "ReceivedAt"), "Tracked": len(msgs)})


@bp.route("/stats/outbound/opens", methods=["GET"], endpoint="get_open_counts")
def open_counts() -> Response:
    opens = _stat_records(state.opens)
    days = _days(opens, "Opens", "ReceivedAt")
    for d in days:
        d["Unique"] = len(
            {(o["MessageID"], o["Recipient"]) for o in opens if o["ReceivedAt"][:10] == d["Date"]}
        )
    unique = len({(o["MessageID"], o["Recipient"]) for o in opens})
    return json_response({"Days": days, "Opens": len(opens), "Unique": unique})


@bp.route("/stats/outbound/clicks", methods=["GET"], endpoint="get_click_counts")
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
    return json_response({"Days": days, "Clicks": len(clicks), "Unique": unique})


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
    return json_response({"Days": days, **totals})


@bp.route("/stats/outbound/opens/platforms", methods=["GET"], endpoint="get_open_platform_usage")
def open_platforms() -> Response:
    fixed = ("Desktop", "Mobile", "WebMail", "Unknown")
    return _breakdown(state.opens, lambda o: str(o["Platform"]), fixed)


@bp.route("/stats/outbound/opens/emailclients", methods=["GET"], endpoint="get_open_client_usage")
def open_clients() -> Response:
    return _breakdown(state.opens, lambda o: str(o["Client"]["Family"]))


@bp.route("/stats/outbound/opens/readtimes", methods=["GET"], endpoint="get_open_read_times")
def open_read_times() -> Response:
    def bucket(o: JSON) -> str:
        secs = int(o["ReadSeconds"])
        return f"{secs}s" if secs < 20 else "20s+"

    return _breakdown(state.opens, bucket)


@bp.route(
    "/stats/outbound/clicks/browserfamilies", methods=["GET"], endpoint="get_click_browser_usage"
)
def click_browsers() -> Response:
    return _breakdown(state.clicks, lambda c: str(c["Client"]["Family"]))


@bp.route("/stats/outbound/clicks/platforms", methods=["GET"], endpoint="get_click_platform_usage")
def click_platforms() -> Response:
    fixed = ("Desktop", "Mobile", "Unknown")
    return _breakdown(state.clicks, lambda c: str(c["Platform"]), fixed)


@bp.route("/stats/outbound/clicks/location", methods=["GET"], endpoint="get_click_location")
def click_location() -> Response:
    return _breakdown(state.clicks, lambda c: str(c["ClickLocation"]), ("HTML", "Text"))
