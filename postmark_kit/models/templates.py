"""Stored templates: standard and layout templates, validation results, pushes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from ..convert import Model, jfield

__all__ = [
    "PushedTemplate",
    "Template",
    "TemplateContentValidation",
    "TemplatePushAction",
    "TemplatePushResult",
    "TemplateSummary",
    "TemplateType",
    "TemplateValidation",
    "TemplateValidationIssue",
]


class TemplateType(StrEnum):
    """Kinds of template.  Fields stay ``str``: a new kind passes through."""

    STANDARD = "Standard"
    LAYOUT = "Layout"


class TemplatePushAction(StrEnum):
    """What a push did (or would do) to a template on the destination server."""

    CREATE = "Create"
    EDIT = "Edit"


@attrs.define(frozen=True)
class TemplateSummary(Model):
    """A template without its content: list items and create/update answers."""

    template_id: int | None = jfield("TemplateId")
    name: str | None = None
    alias: str | None = None
    active: bool | None = None
    template_type: str | None = None
    #: Alias of the layout this template uses, if any.
    layout_template: str | None = None


@attrs.define(frozen=True)
class Template(TemplateSummary):
    """A template with its content, as ``get`` returns it."""

    subject: str | None = None
    html_body: str | None = None
    text_body: str | None = None
    associated_server_id: int | None = jfield("AssociatedServerId")


@attrs.define(frozen=True)
class TemplateValidationIssue(Model):
    """One Mustache problem found by ``validate`` (data, not an exception)."""

    message: str | None = None
    line: int | None = None
    character_position: int | None = None


@attrs.define(frozen=True)
class TemplateContentValidation(Model):
    """Validation of one part (subject, HTML or text body) and its test rendering."""

    content_is_valid: bool | None = None
    validation_errors: list[TemplateValidationIssue] = attrs.field(factory=list)
    rendered_content: str | None = None


@attrs.define(frozen=True)
class TemplateValidation(Model):
    """Answer of ``validate``: per-part results and a model inferred from the template.

    A part that was not submitted is ``None``.
    """

    all_content_is_valid: bool | None = None
    subject: TemplateContentValidation | None = None
    html_body: TemplateContentValidation | None = None
    text_body: TemplateContentValidation | None = None
    #: A model with every variable the template uses, filled with sample values.
    suggested_template_model: dict[str, Any] = attrs.field(factory=dict)

    @property
    def errors(self) -> list[TemplateValidationIssue]:
        """Every issue of every part, so one check covers the whole template."""
        return [
            issue
            for part in (self.subject, self.html_body, self.text_body)
            if part is not None
            for issue in part.validation_errors
        ]


@attrs.define(frozen=True)
class PushedTemplate(Model):
    """One template a push created or changed (or would, in a dry run)."""

    action: str | None = None
    template_id: int | None = jfield("TemplateId")
    alias: str | None = None
    name: str | None = None


@attrs.define(frozen=True)
class TemplatePushResult(Model):
    """Answer of ``push``: the templates affected on the destination server."""

    total_count: int | None = None
    templates: list[PushedTemplate] = attrs.field(factory=list)


@attrs.define(frozen=True, kw_only=True)
class TemplateFields:
    """Body of create/update: fields left ``None`` are not sent (kept unchanged)."""

    name: str | None = None
    alias: str | None = None
    subject: str | None = None
    html_body: str | None = None
    text_body: str | None = None
    template_type: str | None = None
    layout_template: str | None = None


@attrs.define(frozen=True, kw_only=True)
class TemplateValidationRequest:
    """Body of ``templates.validate``."""

    subject: str | None = None
    html_body: str | None = None
    text_body: str | None = None
    test_render_model: dict[str, Any] | None = None
    inline_css_for_html_test_render: bool | None = None
    template_type: str | None = None
    layout_template: str | None = None


@attrs.define(frozen=True, kw_only=True)
class TemplatePushRequest:
    """Body of ``account.templates.push``."""

    source_server_id: int
    destination_server_id: int
    perform_changes: bool
