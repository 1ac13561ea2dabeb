"""Postmark's template language (Mustachio) rendered offline, to preview templates.

Postmark renders templates with Mustachio, its Mustache dialect (Postmark's
template syntax page, https://postmarkapp.com/support/article/1077-template-syntax,
and the engine's own rules).  What differs from plain Mustache, and is
implemented here as Mustachio does it:

- ``{{ name }}`` is HTML-escaped (``<>&"'`` and non-ASCII Latin-1 characters as
  numeric entities), ``{{{ name }}}`` and ``{{& name }}`` are raw.  Postmark
  escapes only in the HTML body: ``render(..., escape=False)`` is what it does for
  the subject and the text body.
- A name is looked up **in the current scope only** (no walking up as Mustache
  does).  Each part of a dotted path is a scope: ``../`` goes up one, so inside
  ``{{#person}}`` the model's root is ``../``; inside ``{{#each items}}`` the item's
  parent is the list, and the root is ``../../``.  ``{{.}}`` is the current value.
- ``{{#name}}...{{/name}}`` renders once, scoped into ``name``, when it is truthy
  (``null``, ``false``, ``0``, ``""`` and empty lists or objects are not); it never
  loops.  ``{{#each items}}...{{/each}}`` loops over a list (anything else there is
  a :class:`TemplateRenderError`).  ``{{^name}}...{{/name}}`` renders, scoped into
  ``name``, when it is falsy.
- Layouts: a layout template holds ``{{{@content}}}`` where the standard
  template's body goes (:func:`render_with_layout`).
- A path may hold letters, digits, ``_``, ``.`` and ``../``; anything else
  (``{{> partial}}``, a delimiter change, ``{{@index}}``) is a syntax error, as
  on Postmark.  A ``{{`` that never closes is plain text.
- :func:`suggest_model` infers the model a template reads, as Postmark's
  ``SuggestedTemplateModel`` (``"name": "name_Value"``, a one-item list for an
  ``each`` with fields, ``["items_1", "items_2", "items_3"]`` for one of values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "CONTENT_PLACEHOLDER",
    "Template",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "insert_content",
    "render",
    "render_with_layout",
    "suggest_model",
    "validate",
]

#: What a layout must contain: where the standard template's body is inserted.
CONTENT_PLACEHOLDER = "{{{@content}}}"

_TOKEN = re.compile(r"(\{\{[^{}]+?\}\})|(\{\{\{[^{}]+?\}\}\})")
_CONTENT_TAG = re.compile(r"\{\{\{\s*@content\s*\}\}\}")
_BAD_PATH = re.compile(r"([.]{3,})|([^\w./_]+)|((?<![.]{2})[/])|([.]{2,}($|[^/]))")
_PATH_PART = re.compile(r"(\.\.[\\/])|([^.]+)")


class TemplateSyntaxError(ValueError):
    """A template Postmark would refuse, with where (1-based line and character).

    ``errors`` holds every problem found (this one is the first).
    """

    def __init__(self, message: str, line: int = 1, position: int = 1) -> None:
        super().__init__(f"{message} (line {line}, character {position})")
        self.message = message
        self.line = line
        self.position = position
        self.errors: list[TemplateSyntaxError] = [self]


class TemplateRenderError(ValueError):
    """The model does not fit the template (e.g. ``each`` over something not a list)."""


@attrs.frozen
class _Var:
    path: str
    raw: bool


@attrs.frozen
class _Content:
    """``{{{@content}}}``: empty unless a layout is filled with :func:`insert_content`."""


@attrs.frozen
class _Block:
    kind: str  # "section", "inverted" or "each"
    path: str
    children: tuple[Any, ...]


def _where(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _parse(source: str) -> tuple[Any, ...]:
    errors: list[TemplateSyntaxError] = []

    def error(message: str, offset: int) -> None:
        errors.append(TemplateSyntaxError(message, *_where(source, offset)))

    def path(token: str, offset: int) -> str:
        token = token.strip()
        if _BAD_PATH.search(token):
            error(
                f"The path '{token}' is not valid. Please see documentation for examples "
                "of valid paths.",
                offset,
            )
        return token

    # (kind, key used to match the close, path, offset, children)
    stack: list[tuple[str, str, str, int, list[Any]]] = [("root", "", "", 0, [])]

    def close() -> None:
        kind, _, name, _, children = stack.pop()
        stack[-1][4].append(_Block(kind, name, tuple(children)))

    pos = 0
    for m in _TOKEN.finditer(source):
        if m.start() > pos:
            stack[-1][4].append(source[pos : m.start()])
        pos = m.end()
        tag, at = m.group(0), m.start()
        if _CONTENT_TAG.fullmatch(tag):
            stack[-1][4].append(_Content())
        elif tag.startswith("{{#each"):
            name = tag.strip("{}").lstrip("#").strip()[4:]
            if name.startswith(" ") and name.strip():
                stack.append(("each", tag, path(name, at), at, []))
            else:
                error(
                    "The 'each' block being opened requires a model path to be specified "
                    "in the form '{{#each <name>}}'.",
                    at,
                )
        elif tag.startswith("{{/each"):
            if tag != "{{/each}}":
                error("The syntax to close the 'each' block should be: '{{/each}}'.", at)
            elif stack[-1][0] == "each":
                close()
            else:
                error(
                    "An 'each' block is being closed, but no corresponding opening element "
                    "('{{#each <name>}}') was detected.",
                    at,
                )
        elif tag.startswith(("{{#", "{{^")):
            name = tag.strip("{}")[1:].strip()
            if stack[-1][0] != "each" and stack[-1][1] == name:
                close()  # Mustachio: re-opening the open section closes it first
            kind = "section" if tag.startswith("{{#") else "inverted"
            stack.append((kind, name, path(name, at), at, []))
        elif tag.startswith("{{/"):
            name = tag.strip("{}").lstrip("/").strip()
            if stack[-1][0] in ("section", "inverted") and stack[-1][1] == name:
                close()
            else:
                error("It appears that open and closing elements are mismatched.", at)
        elif tag.startswith(("{{{", "{{&")):
            stack[-1][4].append(_Var(path(tag.strip("{}").lstrip("&"), at), True))
        elif tag.startswith("{{!"):
            pass
        else:
            stack[-1][4].append(_Var(path(tag.strip("{}"), at), False))
    if pos < len(source):
        stack[-1][4].append(source[pos:])
    for _kind, _, name, at, _ in stack[1:]:
        error(
            f"A scope block to the following path was opened but not closed: '{name}', "
            "please close it using the appropriate syntax.",
            at,
        )
    if errors:
        first = errors[0]
        first.errors = errors
        raise first
    return tuple(stack[0][4])


# -- rendering ------------------------------------------------------------------


@attrs.define
class _Ctx:
    value: Any
    parent: _Ctx | None = None

    def lookup(self, path: str) -> _Ctx:
        """Mustachio's path walk: each part a child scope, ``../`` its parent."""
        ctx = self
        for m in _PATH_PART.finditer(path):
            if m.group(1):
                ctx = ctx.parent if ctx.parent is not None else ctx
            else:
                key = m.group(2)
                value = ctx.value.get(key) if isinstance(ctx.value, Mapping) else None
                ctx = _Ctx(value, ctx)
        return ctx


def _exists(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float) and value == 0:
        return False
    return not (isinstance(value, Sequence | Mapping) and not isinstance(value, str) and not value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # .NET's bool.ToString()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value).replace("e", "E")
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return str(value)


def _escape(text: str) -> str:
    """HTML-encode as .NET's ``HttpUtility.HtmlEncode`` (Mustachio's) does."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&#39;")
        elif 160 <= code <= 255 or code > 0xFFFF:
            out.append(f"&#{code};")
        else:
            out.append(ch)
    return "".join(out)


def _render(nodes: tuple[Any, ...], ctx: _Ctx, escape: bool, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            value = ctx.lookup(node.path).value
            if value is not None:
                text = _text(value)
                out.append(_escape(text) if escape and not node.raw else text)
        elif isinstance(node, _Block):
            inner = ctx.lookup(node.path)
            if node.kind == "section":
                if _exists(inner.value):
                    _render(node.children, inner, escape, out)
            elif node.kind == "inverted":
                if not _exists(inner.value):
                    _render(node.children, inner, escape, out)
            elif _exists(inner.value):
                if not isinstance(inner.value, list):
                    raise TemplateRenderError(
                        f"'{node.path}' is used like an array by the template, but is a "
                        "scalar value or object in your model."
                    )
                for item in inner.value:
                    _render(node.children, _Ctx(item, inner), escape, out)


# -- model inference ----------------------------------------------------------------


@attrs.define
class _Inferred:
    key: str = ""
    parent: _Inferred | None = None
    usages: set[str] = attrs.field(factory=set)
    children: dict[str, _Inferred] = attrs.field(factory=dict)

    def at(self, path: str, usage: str) -> _Inferred:
        node = self
        for m in _PATH_PART.finditer(path):
            if m.group(1):
                node = node.parent if node.parent is not None else node
            else:
                key = m.group(2)
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Inferred(key, node)
                node = child
        node.usages.add(usage)
        return node

    def representation(self) -> Any:
        fields = {k: v.representation() for k, v in self.children.items()}
        if self.usages == {"scalar"}:
            return f"{self.key}_Value"
        if "collection" in self.usages:
            return [fields] if fields else [f"{self.key}_{n}" for n in (1, 2, 3)]
        return fields


def _infer(nodes: tuple[Any, ...], scope: _Inferred) -> None:
    for node in nodes:
        if isinstance(node, _Var):
            scope.at(node.path, "scalar")
        elif isinstance(node, _Block):
            usage = "collection" if node.kind == "each" else "conditional"
            _infer(node.children, scope.at(node.path, usage))


# -- public API -----------------------------------------------------------------------


@attrs.frozen
class Template:
    """A parsed template: parse once (``Template.parse``), render many times."""

    source: str
    nodes: tuple[Any, ...] = attrs.field(repr=False)

    @classmethod
    def parse(cls, source: str) -> Template:
        """Parse ``source``; raises ``TemplateSyntaxError`` where Postmark would refuse it."""
        return cls(source, _parse(source))

    def render(self, model: Mapping[str, Any] | None = None, *, escape: bool = True) -> str:
        """Render with ``model``; ``escape=False`` for a subject or a text body.

        Raises ``TemplateRenderError`` when the model does not fit (``each`` over a
        value that is not a list).
        """
        out: list[str] = []
        _render(self.nodes, _Ctx(dict(model or {})), escape, out)
        return "".join(out)

    def suggested_model(self) -> dict[str, Any]:
        """The model this template reads, with ``"<name>_Value"`` placeholders."""
        root = _Inferred()
        _infer(self.nodes, root)
        model = root.representation()
        return model if isinstance(model, dict) else {}

    @property
    def has_content_placeholder(self) -> bool:
        """True if this can be a layout: it holds ``{{{@content}}}``."""
        return bool(_CONTENT_TAG.search(self.source))


def render(source: str, model: Mapping[str, Any] | None = None, *, escape: bool = True) -> str:
    """Render a template source with ``model`` (see the module doc for the language)."""
    return Template.parse(source).render(model, escape=escape)


def validate(source: str) -> list[TemplateSyntaxError]:
    """Every syntax error Postmark would report for ``source`` (empty if it is valid)."""
    try:
        Template.parse(source)
    except TemplateSyntaxError as exc:
        return list(exc.errors)
    return []


def insert_content(layout: str, content: str) -> str:
    """The layout source with ``content`` in place of ``{{{@content}}}`` (not rendered)."""
    if not _CONTENT_TAG.search(layout):
        raise TemplateSyntaxError(f"A layout must contain {CONTENT_PLACEHOLDER}")
    return _CONTENT_TAG.sub(lambda _: content, layout)


def render_with_layout(
    layout: str, content: str, model: Mapping[str, Any] | None = None, *, escape: bool = True
) -> str:
    """Render ``content`` inside ``layout`` at ``{{{@content}}}``, both with ``model``."""
    return Template.parse(insert_content(layout, content)).render(model, escape=escape)


def suggest_model(*sources: str, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model the sources read together, merged with ``model`` (its values win)."""
    root = _Inferred()
    for source in sources:
        _infer(Template.parse(source).nodes, root)
    suggested = root.representation()
    return _merge(suggested if isinstance(suggested, dict) else {}, model or {})


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
