"""Templates: ``client.templates`` (server token) and ``account.templates`` (push)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..convert import unstructure
from ..errors import ClientValidationError
from ..models.common import ActionResult
from ..models.templates import (
    Template,
    TemplateFields,
    TemplatePushRequest,
    TemplatePushResult,
    TemplateSummary,
    TemplateType,
    TemplateValidation,
    TemplateValidationRequest,
)
from ..pagination import MAX_COUNT, Page, paginate
from ._base import Resource, query, seg

__all__ = ["AccountTemplatesApi", "TemplatesApi"]


def _path(template_id_or_alias: int | str) -> str:
    if isinstance(template_id_or_alias, bool) or template_id_or_alias == "":
        raise ClientValidationError("a template id or alias is required")
    return f"/templates/{seg(template_id_or_alias)}"


def _opt_str(value: str | None) -> str | None:
    return None if value is None else str(value)


class TemplatesApi(Resource):
    """``client.templates``: the server's standard and layout templates.

    A template is addressed by its numeric ``TemplateId`` or by its alias.
    Sending with a template is :meth:`EmailApi.send_with_template`.
    """

    def list(
        self,
        *,
        count: int = 100,
        offset: int = 0,
        template_type: str | TemplateType | None = None,
        layout_template: str | None = None,
    ) -> Page[TemplateSummary]:
        """One page of templates (without content).

        ``template_type``: ``Standard``, ``Layout`` or ``All`` (Postmark's default);
        ``layout_template``: only templates using the layout with this alias.
        """
        params = query(TemplateType=_opt_str(template_type), LayoutTemplate=layout_template)
        return self._page(
            "/templates",
            "Templates",
            TemplateSummary,
            params,
            count,
            offset,
            count_name="Count",
            offset_name="Offset",
        )

    def stream(
        self,
        *,
        max_items: int | None = None,
        page_size: int = MAX_COUNT,
        template_type: str | TemplateType | None = None,
        layout_template: str | None = None,
    ) -> Iterator[TemplateSummary]:
        """Every matching template, lazily, page by page."""
        return paginate(
            lambda c, o, _: self.list(
                count=c, offset=o, template_type=template_type, layout_template=layout_template
            ),
            page_size=page_size,
            max_items=max_items,
            max_window=None,
        )

    def get(self, template_id_or_alias: int | str) -> Template:
        return self._call("GET", _path(template_id_or_alias), Template)

    def create(
        self,
        *,
        name: str,
        subject: str | None = None,
        html_body: str | None = None,
        text_body: str | None = None,
        alias: str | None = None,
        template_type: str | TemplateType | None = None,
        layout_template: str | None = None,
    ) -> TemplateSummary:
        """Create a standard template (the default) or, with ``template_type="Layout"``, a layout.

        A layout's HTML and text bodies must contain ``{{{@content}}}``; a
        standard template needs a ``subject``.  Either body is required.
        """
        if not name:
            raise ClientValidationError("a template needs a name")
        if html_body is None and text_body is None:
            raise ClientValidationError("a template needs html_body or text_body")
        is_layout = str(template_type).lower() == TemplateType.LAYOUT.lower()
        if not is_layout and subject is None:
            raise ClientValidationError("a standard template needs a subject")
        fields = TemplateFields(
            name=name,
            alias=alias,
            subject=subject,
            html_body=html_body,
            text_body=text_body,
            template_type=_opt_str(template_type),
            layout_template=layout_template,
        )
        return self._call("POST", "/templates", TemplateSummary, json_body=unstructure(fields))

    def update(
        self,
        template_id_or_alias: int | str,
        *,
        name: str | None = None,
        alias: str | None = None,
        subject: str | None = None,
        html_body: str | None = None,
        text_body: str | None = None,
        layout_template: str | None = None,
    ) -> TemplateSummary:
        """Change only the fields given; Postmark keeps the others as they are.

        A template's type cannot be changed.
        """
        fields = TemplateFields(
            name=name,
            alias=alias,
            subject=subject,
            html_body=html_body,
            text_body=text_body,
            layout_template=layout_template,
        )
        body = unstructure(fields)
        if not body:
            raise ClientValidationError("update needs at least one field to change")
        return self._call("PUT", _path(template_id_or_alias), TemplateSummary, json_body=body)

    def delete(self, template_id_or_alias: int | str) -> ActionResult:
        return self._call("DELETE", _path(template_id_or_alias), ActionResult)

    def validate(
        self,
        *,
        subject: str | None = None,
        html_body: str | None = None,
        text_body: str | None = None,
        test_render_model: Mapping[str, Any] | None = None,
        inline_css_for_html_test_render: bool | None = None,
        template_type: str | TemplateType | None = None,
        layout_template: str | None = None,
    ) -> TemplateValidation:
        """Check the syntax (Mustachio) and render with ``test_render_model``, without saving.

        Invalid content is reported in the result (``all_content_is_valid``,
        per-part ``validation_errors``), not raised.
        """
        if subject is None and html_body is None and text_body is None:
            raise ClientValidationError("validate needs subject, html_body or text_body")
        request = TemplateValidationRequest(
            subject=subject,
            html_body=html_body,
            text_body=text_body,
            test_render_model=None if test_render_model is None else dict(test_render_model),
            inline_css_for_html_test_render=inline_css_for_html_test_render,
            template_type=_opt_str(template_type),
            layout_template=layout_template,
        )
        return self._call(
            "POST", "/templates/validate", TemplateValidation, json_body=unstructure(request)
        )


class AccountTemplatesApi(Resource):
    """``account.templates``: operations across servers (account token)."""

    def push(
        self,
        *,
        source_server_id: int,
        destination_server_id: int,
        perform_changes: bool,
    ) -> TemplatePushResult:
        """Copy every template of one server to another.

        With ``perform_changes=False`` nothing changes: the result lists what
        a real push would create or edit.
        """
        if source_server_id == destination_server_id:
            raise ClientValidationError("source and destination server must differ")
        request = TemplatePushRequest(
            source_server_id=source_server_id,
            destination_server_id=destination_server_id,
            perform_changes=perform_changes,
        )
        return self._call(
            "PUT", "/templates/push", TemplatePushResult, json_body=unstructure(request)
        )
