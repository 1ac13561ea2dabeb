"""Postmark's template language (Mustachio) rendered offline, to preview templates.

Postmark renders templates with Mustachio, a Mustache dialect
(https://postmarkapp.com/support/article/1077-template-syntax).  What differs from
plain Mustache, and is implemented here:

- ``{{ name }}`` is HTML-escaped, ``{{{ name }}}`` and ``{{& name }}`` are raw.
  Postmark escapes only in the HTML body: ``render(..., escape=False)`` is what it
  does for the subject and the text body.
- ``{{#name}}...{{/name}}`` scopes into ``name`` when it is truthy (``null``,
  ``false``, ``0``, ``""`` and empty lists or objects are not); it does not loop.
- ``{{#each items}}...{{/each}}`` loops over a list; ``{{.}}`` / ``{{this}}`` is the
  current item.
- ``{{^name}}...{{/name}}`` renders when ``name`` is falsy.
- A name is looked up in the current scope only: ``../name`` reaches the scope
  above (``../../name`` two above), ``~name`` the model's root.
- Layouts: a layout template holds ``{{{@content}}}`` where the standard
  template's body goes (``render_with_layout``); a layout without it is invalid.
- ``{{> partial}}`` and delimiter changes are refused, as Postmark refuses them.
- ``suggest_model`` infers the model a template needs, nested as Postmark's
  ``SuggestedTemplateModel`` (``"name": "name_Value"``, a list for ``each``).
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
    "TemplateSyntaxError",
    "insert_content",
    "render",
    "render_with_layout",
    "suggest_model",
    "validate",
]

#: What a layout must contain: where the standard template's body is inserted.
CONTENT_PLACEHOLDER = "{{{@content}}}"

_TAG = re.compile(r"\{\{\{(.*?)\}\}\}|\{\{(.*?)\}\}", re.DOTALL)
_CONTENT_TAG = re.compile(r"\{\{\{\s*@content\s*\}\}\}")
_NAME = re.compile(r"^(~|(\.\./)*)([^\s{}#^/!>&=]+|\.)$")


class TemplateSyntaxError(ValueError):
    """A template Postmark would refuse, with where (1-based line and character)."""

    def __init__(self, message: str, line: int = 1, position: int = 1) -> None:
        super().__init__(f"{message} (line {line}, character {position})")
        self.message = message
        self.line = line
        self.position = position


@attrs.frozen
class _Var:
    path: str
    raw: bool


@attrs.frozen
class _Block:
    kind: str  # "section", "inverted" or "each"
    path: str
    children: tuple[Any, ...]


def _where(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _check_name(name: str, source: str, offset: int) -> str:
    if not _NAME.match(name) and name not in ("this", "@content"):
        raise TemplateSyntaxError(f"'{name}' is not a valid name", *_where(source, offset))
    return name


def _parse(source: str) -> tuple[Any, ...]:
    stack: list[tuple[str, str, int, list[Any]]] = [("root", "", 0, [])]
    pos = 0
    for m in _TAG.finditer(source):
        if m.start() > pos:
            stack[-1][3].append(source[pos : m.start()])
        pos = m.end()
        if m.group(1) is not None:
            stack[-1][3].append(_Var(_check_name(m.group(1).strip(), source, m.start()), True))
            continue
        tag = m.group(2).strip()
        if not tag:
            raise TemplateSyntaxError("Empty tag '{{}}'", *_where(source, m.start()))
        sigil, rest = tag[0], tag[1:].strip()
        if sigil == "!":
            continue
        if sigil == ">":
            raise TemplateSyntaxError(
                f"Partials ('{{{{> {rest}}}}}') are not supported by Postmark templates",
                *_where(source, m.start()),
            )
        if sigil == "=":
            raise TemplateSyntaxError(
                "Changing delimiters is not supported by Postmark templates",
                *_where(source, m.start()),
            )
        if sigil == "&":
            stack[-1][3].append(_Var(_check_name(rest, source, m.start()), True))
        elif sigil in "#^":
            kind = "inverted" if sigil == "^" else "section"
            if sigil == "#" and (rest == "each" or rest.startswith("each ")):
                kind, rest = "each", rest[4:].strip()
                if not rest:
                    raise TemplateSyntaxError(
                        "'each' needs a collection name", *_where(source, m.start())
                    )
            stack.append((kind, _check_name(rest, source, m.start()), m.start(), []))
        elif sigil == "/":
            kind, path, start, children = stack[-1]
            if kind == "root":
                raise TemplateSyntaxError(
                    f"Closing tag '{{{{/{rest}}}}}' without an open section",
                    *_where(source, m.start()),
                )
            expected = "each" if kind == "each" else path
            if rest != expected:
                raise TemplateSyntaxError(
                    f"Section '{path}' opened at line {_where(source, start)[0]} is closed "
                    f"by '{{{{/{rest}}}}}' (expected '{{{{/{expected}}}}}')",
                    *_where(source, m.start()),
                )
            stack.pop()
            stack[-1][3].append(_Block(kind, path, tuple(children)))
        else:
            stack[-1][3].append(_Var(_check_name(tag, source, m.start()), False))
    rest_src = source[pos:]
    if "{{" in rest_src:
        offset = pos + rest_src.index("{{")
        raise TemplateSyntaxError("Unclosed tag '{{'", *_where(source, offset))
    if rest_src:
        stack[-1][3].append(rest_src)
    if len(stack) > 1:
        kind, path, start, _ = stack[-1]
        name = "each " + path if kind == "each" else path
        raise TemplateSyntaxError(f"Section '{name}' is never closed", *_where(source, start))
    return tuple(stack[0][3])


def _truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float) and value == 0:
        return False
    return not (isinstance(value, Sequence | Mapping) and not isinstance(value, str) and not value)


def _lookup(path: str, scopes: list[Any]) -> Any:
    """Resolve ``path`` against the scope stack (innermost last), Mustachio style."""
    if path in (".", "this"):
        return scopes[-1]
    depth = len(scopes) - 1
    if path.startswith("~"):
        depth, path = 0, path[1:]
    while path.startswith("../"):
        depth, path = max(depth - 1, 0), path[3:]
    value: Any = scopes[depth]
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return str(value)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _render(nodes: tuple[Any, ...], scopes: list[Any], escape: bool, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            text = _text(_lookup(node.path, scopes))
            out.append(_escape(text) if escape and not node.raw else text)
        else:
            value = _lookup(node.path, scopes)
            if node.kind == "inverted":
                if not _truthy(value):
                    _render(node.children, scopes, escape, out)
            elif node.kind == "section":
                if _truthy(value):
                    _render(node.children, [*scopes, value], escape, out)
            elif isinstance(value, list):
                for item in value:
                    _render(node.children, [*scopes, item], escape, out)


def _suggest(nodes: tuple[Any, ...], scopes: list[dict[str, Any]]) -> None:
    for node in nodes:
        if isinstance(node, str) or node.path in (".", "this", "@content"):
            continue
        path = node.path
        depth = len(scopes) - 1
        if path.startswith("~"):
            depth, path = 0, path[1:]
        while path.startswith("../"):
            depth, path = max(depth - 1, 0), path[3:]
        target = scopes[depth]
        *parents, last = path.split(".")
        for part in parents:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = target[part] = {}
            target = existing
        inner = scopes[: depth + 1]
        if isinstance(node, _Var) or node.kind == "inverted":
            target.setdefault(last, f"{last}_Value")
            if isinstance(node, _Block):
                _suggest(node.children, inner)
        elif node.kind == "section":
            existing = target.get(last)
            if not isinstance(existing, dict):
                existing = target[last] = {}
            _suggest(node.children, [*inner, existing])
        else:
            items = target.get(last)
            if not (isinstance(items, list) and items and isinstance(items[0], dict)):
                items = target[last] = [{}]
            _suggest(node.children, [*inner, items[0]])


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
        """Render with ``model``; ``escape=False`` for a subject or a text body."""
        out: list[str] = []
        _render(self.nodes, [dict(model or {})], escape, out)
        return "".join(out)

    def suggested_model(self) -> dict[str, Any]:
        """The model this template reads, with ``"<name>_Value"`` placeholders."""
        model: dict[str, Any] = {}
        _suggest(self.nodes, [model])
        return model

    @property
    def has_content_placeholder(self) -> bool:
        """True if this can be a layout: it holds ``{{{@content}}}``."""
        return bool(_CONTENT_TAG.search(self.source))


def render(source: str, model: Mapping[str, Any] | None = None, *, escape: bool = True) -> str:
    """Render a template source with ``model`` (see the module doc for the language)."""
    return Template.parse(source).render(model, escape=escape)


def validate(source: str) -> list[TemplateSyntaxError]:
    """The syntax errors Postmark would report for ``source`` (empty if it is valid)."""
    try:
        Template.parse(source)
    except TemplateSyntaxError as exc:
        return [exc]
    return []


def render_with_layout(
    layout: str, content: str, model: Mapping[str, Any] | None = None, *, escape: bool = True
) -> str:
    """Render ``content`` inside ``layout`` at ``{{{@content}}}``, both with ``model``."""
    return Template.parse(insert_content(layout, content)).render(model, escape=escape)


def insert_content(layout: str, content: str) -> str:
    """The layout source with ``content`` in place of ``{{{@content}}}`` (not rendered)."""
    if not _CONTENT_TAG.search(layout):
        raise TemplateSyntaxError(f"A layout must contain {CONTENT_PLACEHOLDER}")
    return _CONTENT_TAG.sub(lambda _: content, layout)


def suggest_model(*sources: str, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model the sources read together, merged with ``model`` (its values win)."""
    suggested: dict[str, Any] = {}
    for source in sources:
        _suggest(Template.parse(source).nodes, [suggested])
    return _merge(suggested, model or {})


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
