"""Templates: CRUD, validation and push between servers."""

from __future__ import annotations

import re
from typing import Any

import chevron  # type: ignore[import-untyped]
from flask import Blueprint, Response, request

from .http import account_token, json_body, json_response, paging, state
from .records import (
    JSON,
    TEMPLATE_CONTENT,
    fail,
    validate_template_source,
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


def _template_fields(body: Any, tpl: JSON) -> JSON:
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    for key in (
        "Name",
        "Subject",
        "HtmlBody",
        "TextBody",
        "Alias",
        "TemplateType",
        "LayoutTemplate",
    ):
        if key in body:
            tpl[key] = body[key]
    return tpl


@bp.route("/templates", methods=["POST"], endpoint="create_template")
def create_template() -> Response:
    tpl = _template_fields(
        json_body(),
        {
            "TemplateId": state.next_id(),
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
    for key in ("Subject", "HtmlBody", "TextBody"):
        validate_template_source(tpl[key], key)
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
    tpl = _template_fields(json_body(), state.find_template(key))
    return json_response(_template_summary(tpl))


@bp.route("/templates/<key>", methods=["DELETE"], endpoint="delete_template")
def delete_template(key: str) -> Response:
    tpl = state.find_template(key)
    del state.templates[tpl["TemplateId"]]
    return json_response({"ErrorCode": 0, "Message": f"Template {tpl['TemplateId']} removed."})


@bp.route("/templates/validate", methods=["POST"], endpoint="validate_template")
def validate_template() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise fail(402, "Received invalid JSON input.")
    model = body.get("TestRenderModel") or {}
    out: JSON = {"AllContentIsValid": True}
    for key in ("Subject", "HtmlBody", "TextBody"):
        src = body.get(key)
        if src is None:
            out[key] = {"ContentIsValid": True, "ValidationErrors": [], "RenderedContent": ""}
            continue
        try:
            rendered = chevron.render(src, model)
            out[key] = {
                "ContentIsValid": True,
                "ValidationErrors": [],
                "RenderedContent": rendered,
            }
        except chevron.ChevronError as exc:
            out["AllContentIsValid"] = False
            out[key] = {
                "ContentIsValid": False,
                "ValidationErrors": [{"Message": str(exc), "Line": 1, "CharacterPosition": 1}],
                "RenderedContent": "",
            }
    names = re.findall(
        r"{{\s*[#^/]?\s*([\w.]+)\s*}}", " ".join(str(body.get(k) or "") for k in out)
    )
    out["SuggestedTemplateModel"] = {n.split(".")[0]: f"{n}_Value" for n in names}
    return json_response(out)
