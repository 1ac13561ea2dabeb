"""Templates: CRUD, validation and push between servers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ... import templating
from .http import account_token, json_body, json_response, paging, state
from .records import (
    JSON,
    TEMPLATE_CONTENT,
    fail,
)

bp = Blueprint("templates", __name__)


# -- templates -------------------------------------------------------


def _template_summary(t: JSON) -> JSON:
    keys = ("Active", "TemplateId", "Name", "Alias", "TemplateType", "LayoutTemplate")
    return {k: t[k] for k in keys}


@bp.route("/templates", methods=["GET"], endpoint="list_templates")
def list_templates() -> Response:
    count, offset = paging(window=False)
    kind = request.args.get("TemplateType") or request.args.get("templatetype")
    hits = [
        t
        for t in state.templates.values()
        if not kind or kind == "All" or t["TemplateType"] == kind
    ]
    return json_response(
        {
            "TotalCount": len(hits),
            "Templates": [_template_summary(t) for t in hits[offset : offset + count]],
        }
    )


@bp.route("/templates/<key>", methods=["GET"], endpoint="get_template")
def get_template(key: str) -> Response:
    return json_response(state.find_template(key))


_TEMPLATE_FIELDS = (
    "Name",
    "Subject",
    "HtmlBody",
    "TextBody",
    "Alias",
    "TemplateType",
    "LayoutTemplate",
)


def _template_fields(body: Any, tpl: JSON) -> JSON:
    """``tpl`` updated from ``body``, checked as Postmark checks templates (not stored yet)."""
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    if "TemplateType" in body and body["TemplateType"] != tpl["TemplateType"]:
        if tpl.get("TemplateId") in state.templates:
            raise fail(1123, "A template's type cannot be changed.")
        if body["TemplateType"] not in ("Standard", "Layout"):
            raise fail(1122, "TemplateType must be Standard or Layout.")
    out = {**tpl, **{k: body[k] for k in _TEMPLATE_FIELDS if k in body}}
    for key in ("Subject", "HtmlBody", "TextBody"):
        if out[key]:
            try:
                templating.Template.parse(out[key])
            except templating.TemplateSyntaxError as exc:
                raise fail(1122, f"The '{key}' template is invalid: {exc}") from None
    if out["TemplateType"] == "Layout":
        if out["Subject"]:
            raise fail(1123, "A layout template has no Subject.")
        if out["LayoutTemplate"]:
            raise fail(1123, "A layout template cannot use another layout.")
        for key in ("HtmlBody", "TextBody"):
            if out[key] and not templating.Template.parse(out[key]).has_content_placeholder:
                raise fail(
                    1122,
                    f"The layout's {key} must contain the content placeholder "
                    f"{templating.CONTENT_PLACEHOLDER}.",
                )
    elif out["LayoutTemplate"]:
        state.layout(out["LayoutTemplate"])
    return out


@bp.route("/templates", methods=["POST"], endpoint="create_template")
def create_template() -> Response:
    tpl = _template_fields(
        json_body(),
        {
            "TemplateId": None,
            "Name": None,
            "Subject": None,
            "HtmlBody": None,
            "TextBody": None,
            "AssociatedServerId": 1,
            "Active": True,
            "Alias": None,
            "TemplateType": "Standard",
            "LayoutTemplate": None,
        },
    )
    if not tpl["Name"]:
        raise fail(1120, "The 'Name' field is required.")
    if tpl["TemplateType"] == "Standard" and not tpl["Subject"]:
        raise fail(1120, "The 'Subject' field is required.")
    if not tpl["HtmlBody"] and not tpl["TextBody"]:
        raise fail(1120, "Either 'HtmlBody' or 'TextBody' is required.")
    if tpl["Alias"] and any(
        (t["Alias"] or "").lower() == tpl["Alias"].lower() for t in state.templates.values()
    ):
        raise fail(1122, f"A template with the alias '{tpl['Alias']}' already exists.")
    tpl["TemplateId"] = state.next_id()
    state.templates[tpl["TemplateId"]] = tpl
    return json_response(_template_summary(tpl))


@bp.route("/templates/push", methods=["PUT"], endpoint="push_templates")
@account_token
def push_templates() -> Response:
    # registered before edit_template: "push" would match its /templates/{} pattern
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    perform = body.get("PerformChanges")
    if not isinstance(perform, bool):
        raise fail(1120, "The 'PerformChanges' field is required (true or false).")
    source = state.server_by_id(str(body.get("SourceServerID", "")))
    dest = state.server_by_id(str(body.get("DestinationServerID", "")))
    if source["ID"] == dest["ID"]:
        raise fail(1122, "The source and destination servers must differ.")
    src_tpls = state.server_templates[source["ID"]]
    dst_tpls = state.server_templates[dest["ID"]]
    by_alias = {t["Alias"].lower(): t for t in dst_tpls.values() if t["Alias"]}
    # layouts first, so standard templates that use them land after them
    ordered = sorted(src_tpls.values(), key=lambda t: t["TemplateType"] != "Layout")
    out: list[JSON] = []
    for tpl in ordered:
        if not tpl["Alias"]:
            continue  # only aliased templates can be matched across servers
        content = {k: tpl[k] for k in TEMPLATE_CONTENT}
        existing = by_alias.get(tpl["Alias"].lower())
        if existing is not None and all(existing[k] == v for k, v in content.items()):
            continue  # already identical on the destination
        action = "Create" if existing is None else "Edit"
        out.append(
            {
                "Action": action,
                "TemplateId": tpl["TemplateId"],
                "Alias": tpl["Alias"],
                "Name": tpl["Name"],
            }
        )
        if not perform:
            continue
        if existing is None:
            copy = {**tpl, **content, "TemplateId": state.next_id()}
            copy["AssociatedServerId"] = dest["ID"]
            dst_tpls[copy["TemplateId"]] = copy
        else:
            existing.update(content)
    return json_response({"TotalCount": len(out), "Templates": out})


@bp.route("/templates/<key>", methods=["PUT"], endpoint="edit_template")
def edit_template(key: str) -> Response:
    tpl = state.find_template(key)
    updated = _template_fields(json_body(), tpl)
    if updated["Alias"] and any(
        (t["Alias"] or "").lower() == updated["Alias"].lower() and t is not tpl
        for t in state.templates.values()
    ):
        raise fail(1122, f"A template with the alias '{updated['Alias']}' already exists.")
    if tpl["TemplateType"] == "Layout" and (tpl["Alias"] or "") != (updated["Alias"] or ""):
        for other in state.templates.values():
            if (other["LayoutTemplate"] or "").lower() == (tpl["Alias"] or "").lower():
                other["LayoutTemplate"] = updated["Alias"]
    tpl.update(updated)
    return json_response(_template_summary(tpl))


@bp.route("/templates/<key>", methods=["DELETE"], endpoint="delete_template")
def delete_template(key: str) -> Response:
    tpl = state.find_template(key)
    if tpl["TemplateType"] == "Layout" and tpl["Alias"]:
        users = [
            t["Name"]
            for t in state.templates.values()
            if (t["LayoutTemplate"] or "").lower() == tpl["Alias"].lower()
        ]
        if users:
            raise fail(1123, f"The layout is used by {len(users)} template(s): {', '.join(users)}.")
    del state.templates[tpl["TemplateId"]]
    return json_response({"ErrorCode": 0, "Message": f"Template {tpl['TemplateId']} removed."})


@bp.route("/templates/validate", methods=["POST"], endpoint="validate_template")
def validate_template() -> Response:
    """Parts not submitted are ``null``; the rest render with the suggested + test model."""
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    parts = {k: body.get(k) for k in ("Subject", "HtmlBody", "TextBody")}
    if all(v is None for v in parts.values()):
        raise fail(1120, "Provide at least one of Subject, HtmlBody or TextBody.")
    test_model = body.get("TestRenderModel") or {}
    if not isinstance(test_model, dict):
        raise fail(1122, "TestRenderModel must be an object.")
    is_layout = body.get("TemplateType") == "Layout"
    layout = state.layout(body["LayoutTemplate"]) if body.get("LayoutTemplate") else None
    out: JSON = {"AllContentIsValid": True}
    sources: dict[str, str] = {}
    for key, src in parts.items():
        if src is None:
            out[key] = None
            continue
        source = str(src)
        errors: list[JSON] = []
        try:
            parsed = templating.Template.parse(source)
            if is_layout and key != "Subject" and not parsed.has_content_placeholder:
                errors.append(
                    {
                        "Message": "A layout must contain the content placeholder "
                        f"{templating.CONTENT_PLACEHOLDER}.",
                        "Line": 1,
                        "CharacterPosition": 1,
                    }
                )
            if layout is not None and key != "Subject" and layout[key]:
                source = templating.insert_content(layout[key], source)
            sources[key] = source
        except templating.TemplateSyntaxError as exc:
            errors.extend(
                {"Message": e.message, "Line": e.line, "CharacterPosition": e.position}
                for e in exc.errors
            )
        out[key] = {"ContentIsValid": not errors, "ValidationErrors": errors}
        if errors:
            out["AllContentIsValid"] = False
    model = templating.suggest_model(*sources.values(), model=test_model)
    for key, source in sources.items():
        try:
            rendered = templating.render(source, model, escape=key == "HtmlBody")
        except templating.TemplateRenderError as exc:  # the test model does not fit
            rendered = ""
            out[key]["ValidationErrors"].append(
                {"Message": str(exc), "Line": 1, "CharacterPosition": 1}
            )
            out[key]["ContentIsValid"] = out["AllContentIsValid"] = False
        out[key]["RenderedContent"] = rendered if out[key]["ContentIsValid"] else ""
    for key in parts:
        if out[key] is not None:
            out[key].setdefault("RenderedContent", "")
    out["SuggestedTemplateModel"] = model
    return json_response(out)
