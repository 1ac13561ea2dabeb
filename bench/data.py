"""Canned Postmark responses for the benchmarks, built from the documented examples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "responses"
EST = timezone(timedelta(hours=-5))
BASE_TIME = datetime(2026, 11, 20, 12, 0, 0, tzinfo=EST)


def fixture(op_id: str) -> Any:
    return json.loads((FIXTURES / f"{op_id}.json").read_text())


_TEMPLATE = fixture("list_outbound_messages")["Messages"][0]


def postmark_time(t: datetime, fraction: int = 8782715) -> str:
    """Postmark's wire format: 7 fractional digits and an offset."""
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:07d}-05:00"


def outbound_message(i: int) -> dict[str, Any]:
    """Message ``i`` of the canned mailbox: newest first, one second apart."""
    item = dict(_TEMPLATE)
    item["MessageID"] = f"0ac29aee-e1cd-480d-b08d-{i:012d}"
    item["ReceivedAt"] = postmark_time(BASE_TIME - timedelta(seconds=i), 1000000 + i % 8999999)
    item["Recipients"] = [f"user{i}@example.com"]
    item["To"] = [{"Email": f"user{i}@example.com", "Name": None}]
    return item


def outbound_page(start: int, count: int, total: int) -> bytes:
    items = [outbound_message(i) for i in range(start, min(start + count, total))]
    return json.dumps({"TotalCount": total, "Messages": items}).encode()


def details() -> bytes:
    return json.dumps(fixture("get_outbound_message_details")).encode()


def batch_results(n: int) -> bytes:
    results = [
        {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": f"b7bc2f4a-e38e-4336-af7d-{i:012d}",
            "SubmittedAt": "2026-11-20T12:01:05.1794748-05:00",
            "To": f"receiver{i}@example.com",
        }
        for i in range(n)
    ]
    return json.dumps(results).encode()
