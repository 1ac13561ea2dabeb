"""Helpers shared by the sending tests: a requests-mock answer for every send endpoint."""

from __future__ import annotations

from typing import Any

import requests_mock as requests_mock_module

from tests.conftest import API

SEND_PATHS = ("/email", "/email/batch", "/email/withTemplate", "/email/batchWithTemplates")


def accepted(message: dict[str, Any], i: int) -> dict[str, Any]:
    return {
        "To": message.get("To"),
        "SubmittedAt": "2024-05-01T10:00:00Z",
        "MessageID": f"id-{i}",
        "ErrorCode": 0,
        "Message": "OK",
    }


def answer(request: Any, context: Any) -> Any:
    """Postmark's answer to a send: one accepted result per message (batches too)."""
    body = request.json()
    if isinstance(body, list):
        return [accepted(m, i) for i, m in enumerate(body)]
    if "Messages" in body:
        return [accepted(m, i) for i, m in enumerate(body["Messages"])]
    return accepted(body, 0)


def register_sends(mock: requests_mock_module.Mocker, base: str = API) -> None:
    for path in SEND_PATHS:
        mock.post(base + path, json=answer)
