"""client.templates and account.templates: every operation's request and typed answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests_mock

from postmark_kit import (
    AccountClient,
    ClientValidationError,
    InvalidTokenError,
    NotFoundError,
    ServerClient,
    UnprocessableEntityError,
)
from postmark_kit.models import (
    ActionResult,
    PushedTemplate,
    Template,
    TemplateContentValidation,
    TemplatePushAction,
    TemplatePushResult,
    TemplateSummary,
    TemplateType,
    TemplateValidation,
    TemplateValidationIssue,
)
from tests.api._wire import all_modelled as _all_modelled
from tests.api._wire import sent_exactly as _sent
from tests.conftest import API, load_response


def test_list_sends_capitalised_paging_and_returns_summaries(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/templates", json=load_response("list_templates"))

    page = server_client.templates.list()

    _sent(mock_api, "GET", "/templates", query={"Count": "100", "Offset": "0"})
    assert page.total == 2
    assert all(isinstance(t, TemplateSummary) for t in page)
    _all_modelled(page.items)
    first, second = page.items
    assert (first.template_id, first.name, first.alias, first.active) == (
        1234,
        "Account Activation Email",
        None,
        True,
    )
    assert first.template_type == TemplateType.STANDARD
    assert first.layout_template is None
    assert (second.template_id, second.alias, second.layout_template) == (
        5678,
        "password-recovery",
        "my-layout",
    )


def test_list_filters_by_type_and_layout(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/templates", json={"TotalCount": 0, "Templates": []})

    page = server_client.templates.list(
        count=20, offset=40, template_type=TemplateType.LAYOUT, layout_template="my-layout"
    )

    _sent(
        mock_api,
        "GET",
        "/templates",
        query={
            "Count": "20",
            "Offset": "40",
            "TemplateType": "Layout",
            "LayoutTemplate": "my-layout",
        },
    )
    assert (page.total, page.items) == (0, [])


def test_list_refuses_a_page_over_500_before_sending(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="count"):
        server_client.templates.list(count=501)
    assert mock_api.call_count == 0


def test_stream_walks_every_page(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    doc = load_response("list_templates")
    mock_api.get(
        f"{API}/templates",
        [
            {"json": {"TotalCount": 2, "Templates": doc["Templates"][:1]}},
            {"json": {"TotalCount": 2, "Templates": doc["Templates"][1:]}},
        ],
    )

    ids = [t.template_id for t in server_client.templates.stream(page_size=1, template_type="All")]

    assert ids == [1234, 5678]
    queries = [dict(parse_qsl(urlsplit(r.url).query)) for r in mock_api.request_history]
    assert queries == [
        {"Count": "1", "Offset": "0", "TemplateType": "All"},
        {"Count": "1", "Offset": "1", "TemplateType": "All"},
    ]


def test_get_by_id_returns_the_full_template(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(f"{API}/templates/1234", json=load_response("get_template"))

    template = server_client.templates.get(1234)

    _sent(mock_api, "GET", "/templates/1234")
    assert isinstance(template, Template)
    _all_modelled(template)
    assert template.template_id == 1234
    assert template.name == "Onboarding Email"
    assert template.subject == "Hi there, {{Name}}"
    assert template.html_body == "Hello dear Postmark user. {{Name}}"
    assert template.text_body == "{{Name}} is a {{Occupation}}"
    assert template.associated_server_id == 1
    assert template.active is False
    assert template.alias == "onboarding-email"
    assert template.template_type == "Standard"
    assert template.layout_template is None


def test_get_by_alias_escapes_the_path_segment(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(requests_mock.ANY, json=load_response("get_template"))

    server_client.templates.get("welcome/v2 ü")

    _sent(mock_api, "GET", "/templates/welcome%2Fv2%20%C3%BC")


def test_create_sends_the_given_fields(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/templates", json=load_response("create_template"))

    created = server_client.templates.create(
        name="Onboarding Email",
        alias="onboarding-v1",
        subject="Hello {{name}}",
        html_body="<p>Hi {{name}}</p>",
        text_body="Hi {{name}}",
        layout_template="my-layout",
    )

    _sent(
        mock_api,
        "POST",
        "/templates",
        body={
            "Name": "Onboarding Email",
            "Alias": "onboarding-v1",
            "Subject": "Hello {{name}}",
            "HtmlBody": "<p>Hi {{name}}</p>",
            "TextBody": "Hi {{name}}",
            "LayoutTemplate": "my-layout",
        },
    )
    assert isinstance(created, TemplateSummary)
    _all_modelled(created)
    assert (created.template_id, created.name, created.active, created.alias) == (
        1234,
        "Onboarding Email",
        True,
        "onboarding-v1",
    )
    assert (created.template_type, created.layout_template) == ("Standard", None)


def test_create_layout_needs_no_subject(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/templates", json=load_response("create_template"))

    server_client.templates.create(
        name="Base", html_body="<html>{{{@content}}}</html>", template_type=TemplateType.LAYOUT
    )

    _sent(
        mock_api,
        "POST",
        "/templates",
        body={"Name": "Base", "HtmlBody": "<html>{{{@content}}}</html>", "TemplateType": "Layout"},
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "subject": "s"}, "html_body or text_body"),
        ({"name": "x", "text_body": "t"}, "subject"),
        ({"name": "", "subject": "s", "text_body": "t"}, "name"),
    ],
)
def test_create_refuses_incomplete_templates_before_sending(
    mock_api: requests_mock.Mocker,
    server_client: ServerClient,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ClientValidationError, match=message):
        server_client.templates.create(**kwargs)
    assert mock_api.call_count == 0


def test_update_sends_every_editable_field(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/templates/onboarding-v1", json=load_response("edit_template"))

    updated = server_client.templates.update(
        "onboarding-v1",
        name="Onboarding Emailzzzzz",
        alias="onboarding-v2",
        subject="S",
        html_body="<b>H</b>",
        text_body="T",
        layout_template="other-layout",
    )

    _sent(
        mock_api,
        "PUT",
        "/templates/onboarding-v1",
        body={
            "Name": "Onboarding Emailzzzzz",
            "Alias": "onboarding-v2",
            "Subject": "S",
            "HtmlBody": "<b>H</b>",
            "TextBody": "T",
            "LayoutTemplate": "other-layout",
        },
    )
    assert isinstance(updated, TemplateSummary)
    _all_modelled(updated)
    assert (updated.template_id, updated.name, updated.alias) == (
        1234,
        "Onboarding Emailzzzzz",
        "onboarding-v1",
    )


def test_update_sends_only_the_fields_set(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.put(f"{API}/templates/1234", json=load_response("edit_template"))

    server_client.templates.update(1234, subject="New subject", layout_template="")

    # Name, bodies and alias are absent (not null): Postmark keeps them.
    # An empty string is a value the caller set, so it is sent.
    _sent(
        mock_api,
        "PUT",
        "/templates/1234",
        body={"Subject": "New subject", "LayoutTemplate": ""},
    )


def test_update_with_nothing_to_change_is_refused(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError, match="at least one"):
        server_client.templates.update(1234)
    assert mock_api.call_count == 0


def test_delete(mock_api: requests_mock.Mocker, server_client: ServerClient) -> None:
    mock_api.delete(f"{API}/templates/1234", json=load_response("delete_template"))

    result = server_client.templates.delete(1234)

    _sent(mock_api, "DELETE", "/templates/1234")
    assert isinstance(result, ActionResult)
    assert (result.error_code, result.message) == (0, "Template 1234 removed.")


def test_validate_returns_rendering_and_errors_as_data(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(f"{API}/templates/validate", json=load_response("validate_template"))

    result = server_client.templates.validate(
        subject="{{company.name}} {{subjectHeadline}}",
        html_body="{{company.address}} {{#each person}}{{name}}{{/each}}",
        text_body="{{company.phone}}{{#each person}}{{name}}{{/each}}",
        test_render_model={"userName": "bobby joe"},
        inline_css_for_html_test_render=True,
        template_type="Standard",
        layout_template="my-layout",
    )

    _sent(
        mock_api,
        "POST",
        "/templates/validate",
        body={
            "Subject": "{{company.name}} {{subjectHeadline}}",
            "HtmlBody": "{{company.address}} {{#each person}}{{name}}{{/each}}",
            "TextBody": "{{company.phone}}{{#each person}}{{name}}{{/each}}",
            "TestRenderModel": {"userName": "bobby joe"},
            "InlineCssForHtmlTestRender": True,
            "TemplateType": "Standard",
            "LayoutTemplate": "my-layout",
        },
    )
    assert isinstance(result, TemplateValidation)
    _all_modelled(result)
    assert result.all_content_is_valid is True
    assert isinstance(result.html_body, TemplateContentValidation)
    assert result.html_body.content_is_valid is True
    assert result.html_body.validation_errors == []
    assert result.html_body.rendered_content == "address_Value name_Value "
    assert result.subject is not None
    assert result.subject.rendered_content == "name_Value subjectHeadline_Value"
    assert result.text_body is not None
    assert result.text_body.rendered_content == "phone_Value name_Value "
    assert result.text_body.validation_errors == [
        TemplateValidationIssue(
            message="The syntax for this template is invalid.", line=1, character_position=1
        )
    ]
    assert result.errors == result.text_body.validation_errors
    assert result.suggested_template_model == {
        "userName": "bobby joe",
        "company": {"address": "address_Value", "phone": "phone_Value", "name": "name_Value"},
        "person": [{"name": "name_Value"}],
        "subjectHeadline": "subjectHeadline_Value",
    }


def test_validate_sends_only_what_was_given(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(
        f"{API}/templates/validate",
        json={
            "AllContentIsValid": False,
            "Subject": {
                "ContentIsValid": False,
                "ValidationErrors": [
                    {"Message": "Unclosed tag", "Line": 1, "CharacterPosition": 4}
                ],
                "RenderedContent": None,
            },
            "HtmlBody": None,
            "TextBody": None,
            "SuggestedTemplateModel": {},
        },
    )

    result = server_client.templates.validate(subject="Hi {{name")

    _sent(mock_api, "POST", "/templates/validate", body={"Subject": "Hi {{name"})
    assert result.all_content_is_valid is False
    assert result.html_body is None and result.text_body is None
    assert [(e.message, e.line, e.character_position) for e in result.errors] == [
        ("Unclosed tag", 1, 4)
    ]


def test_validate_needs_some_content(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    with pytest.raises(ClientValidationError):
        server_client.templates.validate(test_render_model={"a": 1})
    assert mock_api.call_count == 0


@pytest.mark.parametrize("perform_changes", [True, False])
def test_push_uses_the_account_token(
    mock_api: requests_mock.Mocker, account_client: AccountClient, perform_changes: bool
) -> None:
    mock_api.put(f"{API}/templates/push", json=load_response("push_templates"))

    result = account_client.templates.push(
        source_server_id=997, destination_server_id=998, perform_changes=perform_changes
    )

    _sent(
        mock_api,
        "PUT",
        "/templates/push",
        body={
            "SourceServerID": 997,
            "DestinationServerID": 998,
            "PerformChanges": perform_changes,
        },
        account=True,
    )
    assert isinstance(result, TemplatePushResult)
    _all_modelled(result)
    assert result.total_count == 1
    assert result.templates == [
        PushedTemplate(
            action=TemplatePushAction.CREATE,
            template_id=7270,
            alias="comment-notification",
            name="Comment notification",
        )
    ]


def test_push_to_the_same_server_is_refused(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    with pytest.raises(ClientValidationError):
        account_client.templates.push(
            source_server_id=1, destination_server_id=1, perform_changes=True
        )
    assert mock_api.call_count == 0


def test_unknown_template_raises_not_found(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.get(
        f"{API}/templates/nope",
        status_code=422,
        json={"ErrorCode": 1101, "Message": "The Template 'nope' could not be found."},
    )

    with pytest.raises(NotFoundError) as info:
        server_client.templates.get("nope")

    assert (info.value.status_code, info.value.error_code) == (422, 1101)
    assert info.value.message == "The Template 'nope' could not be found."


def test_rejected_template_raises_unprocessable(
    mock_api: requests_mock.Mocker, server_client: ServerClient
) -> None:
    mock_api.post(
        f"{API}/templates",
        status_code=422,
        json={"ErrorCode": 1105, "Message": "Template limit would be exceeded."},
    )

    with pytest.raises(UnprocessableEntityError) as info:
        server_client.templates.create(name="n", subject="s", text_body="t")

    assert info.value.error_code == 1105


def test_push_with_a_server_token_fails_as_invalid_token(
    mock_api: requests_mock.Mocker, account_client: AccountClient
) -> None:
    mock_api.put(
        f"{API}/templates/push",
        status_code=401,
        json={"ErrorCode": 10, "Message": "Request does not contain a valid API token."},
    )

    with pytest.raises(InvalidTokenError):
        account_client.templates.push(
            source_server_id=1, destination_server_id=2, perform_changes=False
        )
    assert mock_api.call_count == 1  # a 401 is not retried
