"""``postmark-kit templates``: pull, push (with a review) and preview a server's templates.

The folder layout is postmark-cli's, so a folder pulled by either tool works
with both::

    DIR/templates/<alias>/meta.json      Name, Alias, Subject, LayoutTemplate, TestRenderModel
    DIR/templates/<alias>/content.html
    DIR/templates/<alias>/content.txt
    DIR/layouts/<alias>/meta.json        Name, Alias
    DIR/layouts/<alias>/content.html     holds {{{@content}}}
    DIR/layouts/<alias>/content.txt

Templates are matched by alias: one without an alias cannot be pulled or
pushed (give it one in Postmark).  ``TestRenderModel`` is the model the
preview renders with; it stays local (Postmark does not store it).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import click

from ..errors import PostmarkError
from ..models.templates import Template, TemplateType
from .common import (
    Column,
    api_failure,
    emit,
    fail,
    json_object,
    output_options,
    record,
    server_client,
    server_options,
)

__all__ = ["LocalTemplate", "TemplateChange", "load_folder", "plan_push", "templates"]

#: The sub-folder of DIR per template type, as postmark-cli lays them out.
FOLDERS = {TemplateType.STANDARD: "templates", TemplateType.LAYOUT: "layouts"}
#: What push compares and sends, meta.json key -> attribute.
_FIELDS = {
    "Name": "name",
    "Subject": "subject",
    "HtmlBody": "html_body",
    "TextBody": "text_body",
    "LayoutTemplate": "layout_template",
}
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@attrs.frozen
class LocalTemplate:
    """One template as it lives in the folder."""

    alias: str
    template_type: str
    name: str
    subject: str | None = None
    html_body: str | None = None
    text_body: str | None = None
    layout_template: str | None = None
    test_render_model: dict[str, Any] = attrs.field(factory=dict)
    path: str = ""

    @property
    def is_layout(self) -> bool:
        return self.template_type == TemplateType.LAYOUT


@attrs.frozen
class TemplateChange:
    """What push does to one template: ``create`` or ``update`` (with the fields changed)."""

    action: str
    template: LocalTemplate
    fields: tuple[str, ...] = ()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", 2)


def load_folder(root: str | os.PathLike[str]) -> list[LocalTemplate]:
    """Every template and layout under ``root`` (layouts first); bad metadata is refused."""
    base = Path(root)
    if not base.is_dir():
        fail(f"{base} is not a folder (pull templates into it first)", 2)
    found: list[LocalTemplate] = []
    for template_type in (TemplateType.LAYOUT, TemplateType.STANDARD):
        folder = base / FOLDERS[template_type]
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if not entry.is_dir():
                continue
            meta_path = entry / "meta.json"
            raw = _read_text(meta_path)
            if raw is None:
                fail(f"{entry} has no meta.json", 2)
            meta = json_object(raw, str(meta_path))
            alias = meta.get("Alias") or entry.name
            model = meta.get("TestRenderModel") or {}
            if not isinstance(alias, str) or not _ALIAS.match(alias):
                fail(f"{meta_path}: invalid Alias {alias!r}", 2)
            if not isinstance(model, dict):
                fail(f"{meta_path}: TestRenderModel must be a JSON object", 2)
            found.append(
                LocalTemplate(
                    alias=alias,
                    template_type=template_type,
                    name=str(meta.get("Name") or alias),
                    subject=None if template_type == TemplateType.LAYOUT else meta.get("Subject"),
                    html_body=_read_text(entry / "content.html"),
                    text_body=_read_text(entry / "content.txt"),
                    layout_template=meta.get("LayoutTemplate") or None,
                    test_render_model=model,
                    path=str(entry),
                )
            )
    aliases = [t.alias for t in found]
    dupes = sorted({a for a in aliases if aliases.count(a) > 1})
    if dupes:
        fail(f"alias used twice in {base}: {', '.join(dupes)}", 2)
    return found


def _remote_templates(client: Any) -> Iterator[Template]:
    """Every template of the server with its content (one call per template)."""
    for summary in client.templates.stream(template_type="All"):
        if summary.alias:
            yield client.templates.get(summary.alias)
        elif summary.template_id is not None:
            yield client.templates.get(summary.template_id)


def plan_push(local: list[LocalTemplate], remote: dict[str, Template]) -> list[TemplateChange]:
    """What push would change on the server (remote by alias); unchanged templates left out."""
    changes: list[TemplateChange] = []
    for template in local:
        current = remote.get(template.alias)
        if current is None:
            changes.append(TemplateChange("create", template))
            continue
        changed = tuple(
            key
            for key, attr in _FIELDS.items()
            if not (template.is_layout and key in ("Subject", "LayoutTemplate"))
            and (getattr(template, attr) or None) != (getattr(current, attr) or None)
        )
        if current.template_type and current.template_type != template.template_type:
            fail(
                f"{template.alias} is a {current.template_type} on the server but a "
                f"{template.template_type} here: Postmark cannot change a template's type",
                2,
            )
        if changed:
            changes.append(TemplateChange("update", template, changed))
    return changes


@click.group()
def templates() -> None:
    """Pull a server's templates into a folder, push them back, preview them locally.

    \b
    Examples:
      postmark-kit templates pull ./emails
      postmark-kit templates push ./emails --dry-run
      postmark-kit templates preview ./emails
    """


@templates.command("list")
@click.option(
    "--type",
    "template_type",
    type=click.Choice(["All", "Standard", "Layout"], case_sensitive=False),
    default="All",
    show_default=True,
)
@output_options
@server_options
def list_templates(
    template_type: str,
    output: str,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """List the server's templates and layouts (without their content).

    \b
    Example:
      postmark-kit templates list --type Layout --json
    """
    columns = [
        Column("ID", lambda r: r.get("TemplateId"), 12),
        Column("TYPE", lambda r: r.get("TemplateType"), 8),
        Column("ALIAS", lambda r: r.get("Alias"), 30),
        Column("LAYOUT", lambda r: r.get("LayoutTemplate"), 20),
        Column("ACTIVE", lambda r: r.get("Active"), 6),
        Column("NAME", lambda r: r.get("Name"), 50),
    ]
    try:
        with server_client(server_token, base_url, timeout, retries) as client:
            items = client.templates.stream(template_type=template_type.capitalize())
            emit((record(t) for t in items), columns, output, empty="No templates.")
    except PostmarkError as exc:
        api_failure(exc)


def _meta(template: Template) -> dict[str, Any]:
    meta: dict[str, Any] = {"Name": template.name, "Alias": template.alias}
    if template.template_type == TemplateType.LAYOUT:
        return meta
    meta["Subject"] = template.subject
    if template.layout_template:
        meta["LayoutTemplate"] = template.layout_template
    return meta


def _files_for(template: Template, model: dict[str, Any]) -> dict[str, str]:
    meta = _meta(template)
    if template.template_type != TemplateType.LAYOUT:
        meta["TestRenderModel"] = model
    files = {"meta.json": json.dumps(meta, indent=2, ensure_ascii=False) + "\n"}
    if template.html_body is not None:
        files["content.html"] = template.html_body
    if template.text_body is not None:
        files["content.txt"] = template.text_body
    return files


def _suggested(template: Template) -> dict[str, Any]:
    """The model the template reads (``"name": "name_Value"``), when it parses."""
    from .. import templating

    sources = [s for s in (template.subject, template.html_body, template.text_body) if s]
    try:
        return templating.suggest_model(*sources)
    except templating.TemplateSyntaxError:
        return {}


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


@templates.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Overwrite changed local files without asking.")
@server_options
def pull(
    folder: str,
    yes: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Download every template and layout into FOLDER (one folder per template).

    A local file that differs from the server's is overwritten only after
    you confirm (or with --yes); a local TestRenderModel is kept.

    \b
    Example:
      postmark-kit templates pull ./emails
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        fail(f"{root} exists and is not a folder", 2)
    try:
        with server_client(server_token, base_url, timeout, retries) as client:
            remote = list(_remote_templates(client))
    except PostmarkError as exc:
        api_failure(exc)
    no_alias = [t for t in remote if not t.alias]
    writes: dict[Path, str] = {}
    for template in remote:
        if not template.alias:
            continue
        kind = TemplateType.LAYOUT if template.template_type == TemplateType.LAYOUT else "Standard"
        target = root / FOLDERS[TemplateType(kind)] / template.alias
        model = _existing_model(target / "meta.json")
        if model is None:
            model = {} if kind == TemplateType.LAYOUT else _suggested(template)
        for name, text in _files_for(template, model).items():
            writes[target / name] = text
    changed = [p for p, text in writes.items() if p.exists() and _read_text(p) != text]
    if changed and not yes:
        for path in changed:
            click.echo(f"  changed locally: {path}", err=True)
        if not _confirm(f"Overwrite {len(changed)} local file(s)?"):
            fail(f"nothing pulled: {len(changed)} local file(s) differ (--yes overwrites them)")
    for path, text in writes.items():
        _write(path, text)
    layouts = sum(1 for t in remote if t.alias and t.template_type == TemplateType.LAYOUT)
    standard = sum(1 for t in remote if t.alias) - layouts
    click.echo(f"Pulled {standard} template(s) and {layouts} layout(s) into {root}.", err=True)
    if no_alias:
        names = ", ".join(str(t.template_id) for t in no_alias)
        click.echo(f"Skipped {len(no_alias)} template(s) without an alias (ids {names}).", err=True)


def _confirm(question: str) -> bool:
    """Ask on the terminal; no answer (stdin closed, as in CI) is no."""
    try:
        return click.confirm(question, err=True)
    except click.Abort:
        click.echo("", err=True)
        return False


def _existing_model(meta_path: Path) -> dict[str, Any] | None:
    if not meta_path.exists():
        return None
    raw = _read_text(meta_path)
    try:
        meta = json.loads(raw or "")
    except ValueError:
        return None
    model = meta.get("TestRenderModel") if isinstance(meta, dict) else None
    return model if isinstance(model, dict) else None


def _check_local(local: list[LocalTemplate]) -> None:
    """Refuse before any call what Postmark would refuse: missing bodies, broken Mustache."""
    from .. import templating

    for template in local:
        if template.html_body is None and template.text_body is None:
            fail(f"{template.path}: needs content.html or content.txt", 2)
        if not template.is_layout and not template.subject:
            fail(f"{template.path}: meta.json needs a Subject", 2)
        for label, source in (
            ("Subject", template.subject),
            ("content.html", template.html_body),
            ("content.txt", template.text_body),
        ):
            if not source:
                continue
            errors = templating.validate(source)
            if errors:
                fail(f"{template.path} {label}: {errors[0]}", 2)
            placeholder = templating.Template.parse(source).has_content_placeholder
            if template.is_layout and label != "Subject" and not placeholder:
                fail(
                    f"{template.path} {label}: a layout must contain "
                    f"{templating.CONTENT_PLACEHOLDER}",
                    2,
                )


@templates.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Push without asking (for CI).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@server_options
def push(
    folder: str,
    yes: bool,
    dry_run: bool,
    server_token: str | None,
    base_url: str,
    timeout: float,
    retries: int,
) -> None:
    """Create or update the server's templates from FOLDER, after a review.

    A table shows each template that would be created or changed (and which
    fields); you confirm, or pass --yes (CI).  Layouts go first, so
    templates can use a new layout.  Templates only on the server are left
    alone.

    \b
    Examples:
      postmark-kit templates push ./emails --dry-run
      postmark-kit templates push ./emails --yes
    """
    local = load_folder(folder)
    if not local:
        fail(f"no templates in {folder} (expected {folder}/templates/<alias>/meta.json)", 2)
    _check_local(local)
    try:
        with server_client(server_token, base_url, timeout, retries) as client:
            remote = {t.alias: t for t in _remote_templates(client) if t.alias}
            known_layouts = {
                a for a, t in remote.items() if t.template_type == TemplateType.LAYOUT
            } | {t.alias for t in local if t.is_layout}
            for template in local:
                if template.layout_template and template.layout_template not in known_layouts:
                    fail(
                        f"{template.path}: LayoutTemplate {template.layout_template!r} is "
                        "neither on the server nor in the folder",
                        2,
                    )
            changes = plan_push(local, remote)
            if not changes:
                click.echo("Nothing to push: the server has these templates already.", err=True)
                return
            _show_changes(changes)
            if dry_run:
                click.echo(f"Dry run: {len(changes)} change(s) not pushed.", err=True)
                return
            if not yes and not _confirm(f"Push {len(changes)} change(s)?"):
                fail("nothing pushed (--yes pushes without asking, for CI)")
            done = 0
            for change in changes:
                try:
                    _apply(client, change)
                except PostmarkError as exc:
                    api_failure(
                        exc, f" (pushing {change.template.alias}; {done} of {len(changes)} done)"
                    )
                done += 1
    except PostmarkError as exc:
        api_failure(exc)
    click.echo(f"Pushed {done} change(s).", err=True)


def _show_changes(changes: list[TemplateChange]) -> None:
    from .common import table

    rows = [
        [
            c.action,
            "layout" if c.template.is_layout else "template",
            c.template.alias,
            c.template.name,
            ", ".join(c.fields) if c.fields else "(new)",
        ]
        for c in changes
    ]
    table(["ACTION", "TYPE", "ALIAS", "NAME", "CHANGES"], rows, [6, 8, 30, 30, 60])


def _apply(client: Any, change: TemplateChange) -> None:
    t = change.template
    if change.action == "create":
        client.templates.create(
            name=t.name,
            alias=t.alias,
            subject=t.subject,
            html_body=t.html_body,
            text_body=t.text_body,
            template_type=t.template_type,
            layout_template=t.layout_template,
        )
        return
    values = {attr: getattr(t, attr) for key, attr in _FIELDS.items() if key in change.fields}
    if "layout_template" in values and values["layout_template"] is None:
        values["layout_template"] = ""  # Postmark: "" detaches the layout
    client.templates.update(t.alias, **values)


@templates.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=3005,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a browser.")
def preview(folder: str, port: int, open_browser: bool) -> None:
    """Serve a live-reloading preview of FOLDER's templates on 127.0.0.1.

    Each template is rendered locally (Postmark's Mustachio, inside its
    layout) with the TestRenderModel of its meta.json merged over the model
    it suggests; pages reload when a file changes.  Nothing is sent to
    Postmark.  Ctrl-C stops it.

    \b
    Example:
      postmark-kit templates preview ./emails --port 3005
    """
    from .preview import PreviewServer

    load_folder(folder)  # refuse a folder that is not one, before binding
    try:
        server = PreviewServer(folder, port=port, load=load_folder)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", 2)
    click.echo(f"Previewing {folder} at {server.url} (Ctrl-C to stop)", err=True)
    sys.stderr.flush()
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
