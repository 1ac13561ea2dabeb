"""The live-reloading template preview of ``postmark-kit templates preview``.

A small standard-library HTTP server on 127.0.0.1: the folder is re-read on
every request, so what is shown is always the files as saved, and each page
polls ``/__version`` (a digest of the files' names, sizes and times) to
reload itself when one changes.  Rendering is the project's own
:mod:`postmark_kit.templating` (Postmark's Mustachio, layouts included).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import click

__all__ = ["PreviewServer", "RenderedTemplate", "folder_version", "render_local"]


@attrs.frozen
class RenderedTemplate:
    """One template rendered with its test model; ``error`` set when it does not render."""

    alias: str
    name: str
    is_layout: bool
    model: dict[str, Any]
    subject: str | None = None
    html_body: str | None = None
    text_body: str | None = None
    error: str | None = None


def folder_version(root: str) -> str:
    """A digest that changes whenever a file under ``root`` is added, removed or saved."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _body(
    source: str | None, layout: str | None, model: dict[str, Any], escape: bool
) -> str | None:
    from .. import templating

    if source is None:
        return None
    if layout is not None:
        return templating.render_with_layout(layout, source, model, escape=escape)
    return templating.render(source, model, escape=escape)


#: Reads a template folder: ``templates.load_folder``, passed in by the command
#: (this module sits below it: no import cycle).
FolderLoader = Callable[[str], list[Any]]


def render_local(root: str, load: FolderLoader) -> list[RenderedTemplate]:
    """Every template of the folder rendered as Postmark would (HTML escaped, in its layout)."""
    from .. import templating

    local = load(root)
    layouts = {t.alias: t for t in local if t.is_layout}
    out: list[RenderedTemplate] = []
    for t in local:
        sources = [s for s in (t.subject, t.html_body, t.text_body) if s]
        try:
            model = templating.suggest_model(*sources, model=t.test_render_model)
            layout = layouts.get(t.layout_template) if t.layout_template else None
            if t.layout_template and layout is None:
                raise templating.TemplateSyntaxError(
                    f"layout {t.layout_template!r} is not in this folder"
                )

            out.append(
                RenderedTemplate(
                    alias=t.alias,
                    name=t.name,
                    is_layout=t.is_layout,
                    model=model,
                    subject=None
                    if t.subject is None
                    else templating.render(t.subject, model, escape=False),
                    html_body=_body(t.html_body, layout.html_body if layout else None, model, True),
                    text_body=_body(
                        t.text_body, layout.text_body if layout else None, model, False
                    ),
                )
            )
        except templating.TemplateSyntaxError as exc:
            out.append(
                RenderedTemplate(
                    alias=t.alias,
                    name=t.name,
                    is_layout=t.is_layout,
                    model=t.test_render_model,
                    error=str(exc),
                )
            )
    return out


_RELOAD = """<script>
(function () {
  var seen = %s;
  setInterval(function () {
    fetch("/__version").then(function (r) { return r.text(); }).then(function (v) {
      if (v !== seen) { location.reload(); }
    }).catch(function () {});
  }, 1000);
})();
</script>"""

_STYLE = (
    "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "iframe{width:100%;height:32em;border:1px solid #ccc}pre{background:#f6f6f6;padding:1em;"
    "white-space:pre-wrap}.error{color:#b00020}table td{padding:.2em 1em .2em 0}</style>"
)


def _page(title: str, body: str, version: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{_STYLE}</head><body>{body}{_RELOAD % json.dumps(version)}</body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            status, content_type, text = self.server.answer(path)
        except click.exceptions.Exit:
            status, content_type, text = 500, "text/plain", "the folder cannot be read"
        except SystemExit:  # load_folder refused the folder (the message went to stderr)
            status, content_type, text = 500, "text/plain", "the folder has an invalid template"
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


class PreviewServer(ThreadingHTTPServer):
    """The preview on ``127.0.0.1:port`` (0: a free port); ``url`` says where."""

    daemon_threads = True

    def __init__(self, root: str, *, load: FolderLoader, port: int = 0) -> None:
        self.root = root
        self.load = load
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def answer(self, path: str) -> tuple[int, str, str]:
        """(status, content type, body) for a GET of ``path``."""
        version = folder_version(self.root)
        if path == "/__version":
            return 200, "text/plain", version
        rendered = {t.alias: t for t in render_local(self.root, self.load)}
        if path == "/":
            return 200, "text/html", self._index(rendered, version)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if len(parts) >= 2 and parts[0] == "t" and parts[1] in rendered:
            template = rendered[parts[1]]
            views: dict[str, Callable[[RenderedTemplate, str], tuple[int, str, str]]] = {
                "": self._detail,
                "html": self._html,
                "text": self._text,
                "model": self._model,
            }
            view = views.get(parts[2] if len(parts) > 2 else "")
            if view is not None:
                return view(template, version)
        return int(HTTPStatus.NOT_FOUND), "text/plain", "not found"

    def _index(self, rendered: dict[str, RenderedTemplate], version: str) -> str:
        rows = []
        for t in rendered.values():
            state = f"<span class='error'>{html.escape(t.error)}</span>" if t.error else "ok"
            rows.append(
                f"<tr><td><a href='/t/{urllib.parse.quote(t.alias)}/'>{html.escape(t.alias)}</a>"
                f"</td><td>{'layout' if t.is_layout else 'template'}</td>"
                f"<td>{html.escape(t.name)}</td><td>{state}</td></tr>"
            )
        body = (
            f"<h1>Templates in {html.escape(self.root)}</h1><table>{''.join(rows)}</table>"
            if rows
            else f"<h1>No templates in {html.escape(self.root)}</h1>"
        )
        return _page("Templates", body, version)

    def _detail(self, t: RenderedTemplate, version: str) -> tuple[int, str, str]:
        alias = urllib.parse.quote(t.alias)
        if t.error:
            body = f"<h1>{html.escape(t.alias)}</h1><p class='error'>{html.escape(t.error)}</p>"
        else:
            body = (
                f"<p><a href='/'>All templates</a></p><h1>{html.escape(t.name)}</h1>"
                f"<p><b>Subject:</b> {html.escape(t.subject or '')}</p>"
                f"<h2>HTML</h2><iframe src='/t/{alias}/html'></iframe>"
                f"<h2>Text</h2><pre>{html.escape(t.text_body or '')}</pre>"
                f"<h2>Test model</h2><pre>{html.escape(json.dumps(t.model, indent=2))}</pre>"
            )
        return 200, "text/html", _page(t.alias, body, version)

    def _html(self, t: RenderedTemplate, version: str) -> tuple[int, str, str]:
        if t.error:
            return 422, "text/plain", t.error
        return 200, "text/html", t.html_body or ""

    def _text(self, t: RenderedTemplate, version: str) -> tuple[int, str, str]:
        if t.error:
            return 422, "text/plain", t.error
        return 200, "text/plain", t.text_body or ""

    def _model(self, t: RenderedTemplate, version: str) -> tuple[int, str, str]:
        return 200, "application/json", json.dumps(t.model, indent=2)
