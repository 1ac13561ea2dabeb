"""client.inbound_rules: list, stream, create, delete."""

from __future__ import annotations

from typing import Any

import pytest

from postmark_kit import ClientValidationError, Page
from postmark_kit.models.common import ActionResult
from postmark_kit.models.inbound_rules import InboundRule
from tests.api._wire import assert_request, only_request, query_of
from tests.conftest import API, load_response

PATH = "/triggers/inboundrules"


def test_list(mock_api, server_client) -> None:
    mock_api.get(f"{API}{PATH}", json=load_response("list_inbound_rules"))

    page = server_client.inbound_rules.list(count=3, offset=0)

    assert_request(only_request(mock_api), "GET", PATH, query={"count": "3", "offset": "0"})
    assert isinstance(page, Page)
    assert page.total == 3
    assert page.items == [
        InboundRule(id=3, rule="someone@example.com"),
        InboundRule(id=5, rule="badsender@example.com"),
        InboundRule(id=7, rule="baddomain.com"),
    ]
    assert all(isinstance(r, InboundRule) and r.extra == {} for r in page)


def test_list_defaults_and_limits(mock_api, server_client) -> None:
    mock_api.get(f"{API}{PATH}", json=load_response("list_inbound_rules"))

    server_client.inbound_rules.list()
    # Rules have no 10,000 window: only count is capped.
    server_client.inbound_rules.list(count=500, offset=20_000)
    with pytest.raises(ClientValidationError):
        server_client.inbound_rules.list(count=501)

    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "100", "offset": "0"},
        {"count": "500", "offset": "20000"},
    ]


def test_stream_walks_every_page(mock_api, server_client) -> None:
    total = 1_203

    def serve(request: Any, context: Any) -> dict[str, Any]:
        q = query_of(request)
        count, offset = int(q["count"]), int(q["offset"])
        rules = [
            {"ID": i, "Rule": f"r{i}.example.com"}
            for i in range(offset, min(total, offset + count))
        ]
        return {"TotalCount": total, "InboundRules": rules}

    mock_api.get(f"{API}{PATH}", json=serve)

    rules = list(server_client.inbound_rules.stream())

    assert [r.id for r in rules] == list(range(total))
    assert rules[1202].rule == "r1202.example.com"
    assert [query_of(r) for r in mock_api.request_history] == [
        {"count": "500", "offset": o} for o in ("0", "500", "1000")
    ]
    for request in mock_api.request_history:
        assert_request(request, "GET", PATH, query=query_of(request))

    assert len(list(server_client.inbound_rules.stream(max_items=2))) == 2
    assert query_of(mock_api.last_request) == {"count": "2", "offset": "0"}


def test_create_posts_the_rule(mock_api, server_client) -> None:
    mock_api.post(f"{API}{PATH}", json=load_response("create_inbound_rule"))

    rule = server_client.inbound_rules.create("someone@example.com")

    assert_request(only_request(mock_api), "POST", PATH, body={"Rule": "someone@example.com"})
    assert isinstance(rule, InboundRule)
    assert rule.id == 15
    assert rule.rule == "someone@example.com"
    assert rule.extra == {}


def test_delete(mock_api, server_client) -> None:
    mock_api.delete(f"{API}{PATH}/15", json=load_response("delete_inbound_rule"))

    result = server_client.inbound_rules.delete(15)

    assert_request(only_request(mock_api), "DELETE", f"{PATH}/15")
    assert isinstance(result, ActionResult)
    assert result.error_code == 0
    assert result.message == "Rule someone@example.com removed."
    assert result.extra == {}
