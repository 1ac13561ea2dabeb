"""Every operation of tests/data/endpoints.yaml is reachable through a public method.

The catalog is read at test time.  ``CALLS`` maps each operation id to the
public client method that implements it, called with sample arguments; each
call goes through requests-mock and must send the operation's HTTP method and
path with the token header its ``token`` field names.  An operation missing
from ``CALLS`` fails the run unless ``SKIPPED`` gives a written reason.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests_mock
import yaml

from postmark_kit import (
    AccountClient,
    BulkEmail,
    BulkRecipient,
    Email,
    ServerClient,
    TemplatedEmail,
)
from tests.conftest import ACCOUNT_TOKEN, API, CATALOG, SERVER_TOKEN, load_response

TOKEN_HEADERS = {
    "server": ("X-Postmark-Server-Token", SERVER_TOKEN),
    "account": ("X-Postmark-Account-Token", ACCOUNT_TOKEN),
}

Call = Callable[[ServerClient, AccountClient], object]

EMAIL = Email(from_email="sender@example.com", to="rcpt@example.com", subject="Hi", text_body="Hi")
TEMPLATED = TemplatedEmail(
    from_email="sender@example.com",
    to="rcpt@example.com",
    template_alias="welcome",
    template_model={"name": "Ada"},
)
MESSAGE_ID = "0ac29aee-e1cd-480d-b08d-4f48548ff48d"

#: operation id -> the public call that implements it (sample arguments).
CALLS: dict[str, Call] = {
    # email / bulk
    "send_email": lambda s, a: s.email.send(EMAIL),
    "send_email_batch": lambda s, a: s.email.send_batch([EMAIL, EMAIL]),
    "send_email_with_template": lambda s, a: s.email.send_with_template(TEMPLATED),
    "send_email_batch_with_templates": lambda s, a: s.email.send_batch_with_templates(
        [TEMPLATED, TEMPLATED]
    ),
    "send_bulk_email": lambda s, a: s.email.send_bulk(
        BulkEmail(
            from_email="sender@example.com",
            subject="News",
            text_body="Hello",
            messages=[BulkRecipient("rcpt@example.com")],
            message_stream="broadcast",
        )
    ),
    "get_bulk_email_status": lambda s, a: s.email.get_bulk_status(
        "f24af63c-533d-4b7a-ad65-4a7b3202d3a7"
    ),
    # bounces
    "get_delivery_stats": lambda s, a: s.bounces.get_delivery_stats(),
    "list_bounces": lambda s, a: s.bounces.list(),
    "get_bounce": lambda s, a: s.bounces.get(692560173),
    "get_bounce_dump": lambda s, a: s.bounces.get_dump(692560173),
    "activate_bounce": lambda s, a: s.bounces.activate(692560173),
    # templates
    "list_templates": lambda s, a: s.templates.list(),
    "get_template": lambda s, a: s.templates.get("welcome"),
    "create_template": lambda s, a: s.templates.create(
        name="Welcome", subject="Hi {{name}}", html_body="<p>Hi {{name}}</p>"
    ),
    "edit_template": lambda s, a: s.templates.update("welcome", name="Welcome v2"),
    "delete_template": lambda s, a: s.templates.delete("welcome"),
    "validate_template": lambda s, a: s.templates.validate(
        subject="Hi {{name}}", test_render_model={"name": "Ada"}
    ),
    "push_templates": lambda s, a: a.templates.push(
        source_server_id=1, destination_server_id=2, perform_changes=False
    ),
    # server (the token's own) and servers (account)
    "get_server": lambda s, a: s.server.get(),
    "edit_server": lambda s, a: s.server.update(name="Production"),
    "list_servers": lambda s, a: a.servers.list(),
    "get_server_by_id": lambda s, a: a.servers.get(1),
    "create_server": lambda s, a: a.servers.create(name="Staging"),
    "edit_server_by_id": lambda s, a: a.servers.update(1, name="Staging v2"),
    "delete_server": lambda s, a: a.servers.delete(1),
    # message streams
    "list_message_streams": lambda s, a: s.message_streams.list(),
    "get_message_stream": lambda s, a: s.message_streams.get("news"),
    "edit_message_stream": lambda s, a: s.message_streams.update("news", name="News"),
    "create_message_stream": lambda s, a: s.message_streams.create(
        id="news", name="News", message_stream_type="Broadcasts"
    ),
    "archive_message_stream": lambda s, a: s.message_streams.archive("news"),
    "unarchive_message_stream": lambda s, a: s.message_streams.unarchive("news"),
    # messages
    "list_outbound_messages": lambda s, a: s.outbound.list(),
    "get_outbound_message_details": lambda s, a: s.outbound.get(MESSAGE_ID),
    "get_outbound_message_dump": lambda s, a: s.outbound.get_dump(MESSAGE_ID),
    "list_inbound_messages": lambda s, a: s.inbound.list(),
    "get_inbound_message_details": lambda s, a: s.inbound.get(MESSAGE_ID),
    "bypass_inbound_message": lambda s, a: s.inbound.bypass(MESSAGE_ID),
    "retry_inbound_message": lambda s, a: s.inbound.retry(MESSAGE_ID),
    "list_message_opens": lambda s, a: s.outbound.list_opens(),
    "get_message_opens": lambda s, a: s.outbound.list_message_opens(MESSAGE_ID),
    "list_message_clicks": lambda s, a: s.outbound.list_clicks(),
    "get_message_clicks": lambda s, a: s.outbound.list_message_clicks(MESSAGE_ID),
    # domains
    "list_domains": lambda s, a: a.domains.list(),
    "get_domain": lambda s, a: a.domains.get(1234),
    "create_domain": lambda s, a: a.domains.create(name="example.com"),
    "edit_domain": lambda s, a: a.domains.update(1234, return_path_domain="pm.example.com"),
    "delete_domain": lambda s, a: a.domains.delete(1234),
    "verify_domain_dkim": lambda s, a: a.domains.verify_dkim(1234),
    "verify_domain_return_path": lambda s, a: a.domains.verify_return_path(1234),
    "verify_domain_spf": lambda s, a: a.domains.verify_spf(1234),
    "rotate_domain_dkim": lambda s, a: a.domains.rotate_dkim(1234),
    # sender signatures
    "list_sender_signatures": lambda s, a: a.senders.list(),
    "get_sender_signature": lambda s, a: a.senders.get(1),
    "create_sender_signature": lambda s, a: a.senders.create(
        from_email="john@example.com", name="John"
    ),
    "edit_sender_signature": lambda s, a: a.senders.update(1, name="Jane"),
    "delete_sender_signature": lambda s, a: a.senders.delete(1),
    "resend_sender_confirmation": lambda s, a: a.senders.resend_confirmation(1),
    "verify_sender_spf": lambda s, a: a.senders.verify_spf(1),
    "request_sender_new_dkim": lambda s, a: a.senders.request_new_dkim(1),
    # stats
    "get_outbound_overview": lambda s, a: s.stats.get_outbound_overview(),
    "get_sent_counts": lambda s, a: s.stats.get_sent_counts(),
    "get_bounce_counts": lambda s, a: s.stats.get_bounce_counts(),
    "get_spam_complaint_counts": lambda s, a: s.stats.get_spam_complaint_counts(),
    "get_tracked_email_counts": lambda s, a: s.stats.get_tracked_email_counts(),
    "get_open_counts": lambda s, a: s.stats.get_open_counts(),
    "get_open_platform_usage": lambda s, a: s.stats.get_open_platform_usage(),
    "get_open_client_usage": lambda s, a: s.stats.get_open_client_usage(),
    "get_click_counts": lambda s, a: s.stats.get_click_counts(),
    "get_click_browser_usage": lambda s, a: s.stats.get_click_browser_usage(),
    "get_click_platform_usage": lambda s, a: s.stats.get_click_platform_usage(),
    "get_click_location": lambda s, a: s.stats.get_click_location(),
    "get_open_read_times": lambda s, a: s.stats.get_open_read_times(),
    # inbound rules
    "list_inbound_rules": lambda s, a: s.inbound_rules.list(),
    "create_inbound_rule": lambda s, a: s.inbound_rules.create("spam@example.com"),
    "delete_inbound_rule": lambda s, a: s.inbound_rules.delete(3),
    # webhooks
    "list_webhooks": lambda s, a: s.webhooks.list(),
    "get_webhook": lambda s, a: s.webhooks.get(1234567),
    "create_webhook": lambda s, a: s.webhooks.create(url="https://hooks.example.com/postmark"),
    "edit_webhook": lambda s, a: s.webhooks.update(
        1234567, url="https://hooks.example.com/postmark-v2"
    ),
    "delete_webhook": lambda s, a: s.webhooks.delete(1234567),
    # suppressions
    "list_suppressions": lambda s, a: s.suppressions.list("outbound"),
    "create_suppressions": lambda s, a: s.suppressions.create("outbound", ["a@example.com"]),
    "delete_suppressions": lambda s, a: s.suppressions.delete("outbound", ["a@example.com"]),
    # data removals
    "create_data_removal": lambda s, a: a.data_removals.create(
        requested_by="dpo@example.com", requested_for="someone@example.org"
    ),
    "get_data_removal": lambda s, a: a.data_removals.get(1234),
}

#: operation id -> why it has no public method.  Every entry needs a reason.
SKIPPED: dict[str, str] = {}


def _load_catalog(path: Path = CATALOG) -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there: 5x faster
    operations = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    assert isinstance(operations, list) and operations, f"{path} lists no operations"
    return operations


OPERATIONS = _load_catalog()


def path_pattern(template: str) -> re.Pattern[str]:
    """A catalog path as a regex: each ``{placeholder}`` is exactly one non-empty segment.

    Case-insensitive: Postmark's paths are (clients write verifyDKIM or verifyDkim).
    """
    parts = re.split(r"(\{[^{}/]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex, re.IGNORECASE)


def mismatches(op: dict[str, Any], requests: list[Any]) -> list[str]:
    """What the requests got wrong for ``op``: method, path or token header."""
    if not requests:
        return [f"{op['id']}: the call sent no request"]
    pattern = path_pattern(op["path"])
    header, token = TOKEN_HEADERS[op["token"]]
    others = [h for h, _ in TOKEN_HEADERS.values() if h != header]
    expected = f"{op['method']} {op['path']}"
    problems = []
    for req in requests:
        path = urlsplit(req.url).path
        if req.method != op["method"] or not pattern.fullmatch(path):
            problems.append(f"{op['id']}: sent {req.method} {path}, catalog says {expected}")
        if req.headers.get(header) != token:
            problems.append(f"{op['id']}: {header} missing or wrong")
        problems.extend(f"{op['id']}: sent {h} too" for h in others if h in req.headers)
    return problems


def test_catalog_ids_are_unique_and_well_formed() -> None:
    ids = [op["id"] for op in OPERATIONS]
    assert len(ids) == len(set(ids)), "duplicate operation ids in endpoints.yaml"
    for op in OPERATIONS:
        assert op["token"] in TOKEN_HEADERS, f"{op['id']}: unknown token kind {op['token']!r}"
        assert op["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"}, op["id"]
        assert op["path"].startswith("/"), op["id"]


def test_every_operation_has_a_public_method_or_a_written_reason() -> None:
    ids = {op["id"] for op in OPERATIONS}
    missing = sorted(ids - CALLS.keys() - SKIPPED.keys())
    assert not missing, f"operations of endpoints.yaml with no public method: {missing}"
    unknown = sorted((CALLS.keys() | SKIPPED.keys()) - ids)
    assert not unknown, f"table entries for operations not in endpoints.yaml: {unknown}"
    assert not CALLS.keys() & SKIPPED.keys(), "an operation is both called and skipped"
    unexplained = sorted(k for k, reason in SKIPPED.items() if len(reason.strip()) < 10)
    assert not unexplained, f"skipped without a written reason: {unexplained}"


@pytest.mark.parametrize("op", OPERATIONS, ids=[op["id"] for op in OPERATIONS])
def test_operation_sends_its_method_path_and_token(
    op: dict[str, Any],
    mock_api: requests_mock.Mocker,
    server_client: ServerClient,
    account_client: AccountClient,
) -> None:
    if op["id"] in SKIPPED:
        pytest.skip(SKIPPED[op["id"]])
    call = CALLS.get(op["id"])
    if call is None:
        pytest.fail(f"{op['id']} has no public method in CALLS")
    mock_api.register_uri(requests_mock.ANY, requests_mock.ANY, json=load_response(op["id"]))
    with warnings.catch_warnings():
        # Deprecated operations warn (tested in their area's tests); here only the wire counts.
        warnings.simplefilter("ignore", DeprecationWarning)
        call(server_client, account_client)
    problems = mismatches(op, mock_api.request_history)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("/domains/{domainid}/verifyDkim", "/domains/12/verifyDkim", True),
        ("/domains/{domainid}/verifyDkim", "/DOMAINS/12/VERIFYDKIM", True),
        ("/domains/{domainid}/verifyDkim", "/domains/12/34/verifyDkim", False),
        ("/domains/{domainid}/verifyDkim", "/domains//verifyDkim", False),
        ("/domains/{domainid}/verifyDkim", "/domains/12/verifyDkim/x", False),
        ("/domains/{domainid}", "/domains", False),
        ("/email/batch", "/email/batchWithTemplates", False),
        ("/message-streams/{streamId}/suppressions", "/message-streams/a%2Fb/suppressions", True),
        ("/templates/push", "/templates/7", False),
    ],
)
def test_path_pattern(template: str, path: str, matches: bool) -> None:
    assert bool(path_pattern(template).fullmatch(path)) is matches


def _op(op_id: str) -> dict[str, Any]:
    return next(op for op in OPERATIONS if op["id"] == op_id)


def test_the_comparison_catches_a_wrong_method_path_or_token(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    """The check can fail: a call that hits another operation, or with the wrong token, does."""
    mock_api.register_uri(requests_mock.ANY, requests_mock.ANY, json={})
    server_client.bounces.get_delivery_stats()
    sent = mock_api.request_history
    assert mismatches(_op("get_delivery_stats"), sent) == []
    assert mismatches(_op("get_bounce"), sent) == [
        "get_bounce: sent GET /deliverystats, catalog says GET /bounces/{bounceid}"
    ]
    # Right method and path for list_domains, but sent with a server token.
    wrong_token = SimpleNamespace(
        method="GET",
        url=f"{API}/domains?count=1&offset=0",
        headers={"X-Postmark-Server-Token": SERVER_TOKEN},
    )
    assert mismatches(_op("list_domains"), [wrong_token]) == [
        "list_domains: X-Postmark-Account-Token missing or wrong",
        "list_domains: sent X-Postmark-Server-Token too",
    ]
    assert mismatches(_op("list_domains"), []) == ["list_domains: the call sent no request"]
