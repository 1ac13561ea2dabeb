"""The one cattrs converter: Postmark JSON <-> attrs models.

Everything about the wire format lives here, so models stay plain data:

* field names: snake_case in Python, Postmark's PascalCase on the wire.  The
  JSON name is derived from the field name (``message_id`` -> ``MessageID``,
  ``html_body`` -> ``HtmlBody``) or given explicitly with :func:`jfield` for
  Postmark's irregular names (``TemplateId``, ``SmtpApiActivated``, ``From``).
* timestamps: Postmark sends 7 fractional digits and an offset; parsed to aware
  ``datetime`` (naive ones are taken as UTC).
* unknown keys: kept in the model's ``extra`` dict instead of crashing, so a
  field Postmark adds tomorrow is still reachable.
* enum-like values stay ``str``: a bounce type or status this version does not
  know is passed through, never an error.
* request models drop fields left at ``None`` so no ``null`` reaches Postmark.

Structuring *is* validation: every hook checks the JSON type it is given
(a number where a string is due, an array where an object is due, a bad
timestamp), untyped values (``Any``, ``extra``) are checked for depth and
Unicode, and a mismatch raises :class:`StructureError` naming the path.  API
responses and webhook bodies go through this one pass; nothing walks a body
twice.  The structure functions themselves are cattrs' generated ones.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.fns import identity
from cattrs.gen import (
    make_dict_structure_fn,
    make_dict_structure_fn_from_attrs,
    make_dict_unstructure_fn,
    override,
)

__all__ = [
    "MAX_DEPTH",
    "InvalidUnicodeError",
    "Model",
    "NestingTooDeepError",
    "StructureError",
    "check_json",
    "converter",
    "jfield",
    "json_name",
    "json_type",
    "parse_datetime",
    "structure",
    "structure_list",
    "unstructure",
]

T = TypeVar("T")

#: Words Postmark spells in capitals.
_ACRONYMS = {
    "id": "ID",
    "os": "OS",
    "spf": "SPF",
    "dkim": "DKIM",
    "smtp": "SMTP",
    "ip": "IP",
    "iso": "ISO",
    "cname": "CNAME",
}

#: Postmark's bodies nest 3 or 4 levels; far deeper ones are hostile, and near the
#: recursion limit whoever re-encodes them (a plugin, a log line) would crash.
MAX_DEPTH = 64


class StructureError(TypeError, ValueError):
    """A JSON value that does not fit the model: ``str()`` names the path and the problem.

    ``path`` is filled in while the error unwinds (innermost segment first);
    ``label`` is the model or body the path starts from.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []
        self.label = ""

    @property
    def where(self) -> str:
        return "".join(reversed(self.path))

    def __str__(self) -> str:
        return f"{self.label}{self.where}{self.problem}"


class InvalidUnicodeError(StructureError):
    """A string holding a lone surrogate (``"\\ud800"`` is valid JSON, not Unicode)."""


class NestingTooDeepError(StructureError):
    """Arrays or objects nested deeper than :data:`MAX_DEPTH`."""


def jfield(name: str, default: Any = None, **kw: Any) -> Any:
    """An attrs field whose JSON name is ``name`` (for Postmark's irregular names)."""
    metadata = {**kw.pop("metadata", {}), "json": name}
    if "factory" in kw:
        return attrs.field(metadata=metadata, **kw)
    return attrs.field(default=default, metadata=metadata, **kw)


def json_name(attribute: attrs.Attribute[Any]) -> str:
    """The Postmark JSON key of a model field."""
    explicit = attribute.metadata.get("json")
    if explicit:
        return str(explicit)
    return "".join(_ACRONYMS.get(p, p.capitalize()) for p in attribute.name.split("_"))


@attrs.define(frozen=True, kw_only=True)
class Model:
    """Base of every response model.

    ``extra`` holds the JSON keys this version of postmark-kit does not model,
    so nothing Postmark sends is lost.
    """

    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _wrong(what: str, value: Any) -> StructureError:
    return StructureError(f" must be {what}, got {json_type(value)}")


# --------------------------------------------------------------------------- scalars


def _unicode(value: str) -> str:
    """``value`` if every character can be encoded (no lone surrogate)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidUnicodeError(": not valid Unicode") from None
    return value


def _str(value: Any, _: Any = None) -> str:
    if value.__class__ is str and value.isascii():
        return value
    if not isinstance(value, str):
        raise _wrong("a string", value)
    return _unicode(value)


def _int(value: Any, _: Any = None) -> int:
    if value.__class__ is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("an integer", value)
    return value


def _float(value: Any, _: Any = None) -> float:
    if value.__class__ is float or value.__class__ is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong("a number", value)
    return value


def _bool(value: Any, _: Any = None) -> bool:
    if value is True or value is False:
        return value
    raise _wrong("a boolean", value)


def _optional_str(value: Any, _: Any = None) -> str | None:
    if value is None or (value.__class__ is str and value.isascii()):
        return value
    return _str(value)


def _optional_int(value: Any, _: Any = None) -> int | None:
    if value is None or value.__class__ is int:
        return value
    return _int(value)


def _optional_float(value: Any, _: Any = None) -> float | None:
    if value is None or value.__class__ is float or value.__class__ is int:
        return value
    return _float(value)


def _optional_bool(value: Any, _: Any = None) -> bool | None:
    if value is None or value is True or value is False:
        return value
    raise _wrong("a boolean", value)


def parse_datetime(value: str | datetime | date) -> datetime:
    """Parse Postmark's timestamps (7 fractional digits, ``Z`` or an offset)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        # Python 3.11 reads 7 fractional digits but not every offset spelling.
        head, dot, rest = value.replace("Z", "+00:00").partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            rest = rest[: min(digits, 6)] + rest[digits:]
        parsed = datetime.fromisoformat(head + dot + rest)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _datetime(value: Any, _: Any = None) -> datetime:
    if value.__class__ is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = parse_datetime(value)
            except ValueError:
                raise StructureError(": not a valid timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime | date):
        return parse_datetime(value)
    raise _wrong("a timestamp string", value)


def _optional_datetime(value: Any, _: Any = None) -> datetime | None:
    if value.__class__ is str and value:
        # Postmark's own format parses in one call (this runs for every item of a page).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _datetime(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if value is None or value == "":
        return None
    return _datetime(value)


def _date(value: Any, _: Any = None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if not isinstance(value, str):
        raise _wrong("a date string", value)
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise StructureError(": not a valid date") from None


# --------------------------------------------------------------------------- untyped JSON


def check_json(value: Any, depth: int = 1) -> Any:
    """``value`` (decoded JSON) if it nests at most :data:`MAX_DEPTH` deep and is valid Unicode.

    ``depth`` is the level ``value`` sits at (a body is at level 1).  Iterative,
    so the check itself cannot hit the recursion limit.
    """
    if value.__class__ is str:
        return _unicode(value)
    if not value or not isinstance(value, dict | list):
        return value
    if depth <= MAX_DEPTH:
        # The usual untyped value (event details, extra keys): flat, all ASCII strings.
        if isinstance(value, dict):
            if _all_ascii_str(value.values()) and _all_ascii_str(value):
                return value
        elif _all_ascii_str(value):
            return value
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        container, level = stack.pop()
        if level > MAX_DEPTH:
            raise NestingTooDeepError(f": JSON nested deeper than {MAX_DEPTH} levels")
        items: Any
        if isinstance(container, dict):
            for key in container:
                if not key.isascii():
                    _unicode(key)
            items = container.values()
        else:
            items = container
        for item in items:
            if item.__class__ is str:
                if not item.isascii():
                    _unicode(item)
            elif isinstance(item, dict | list):
                stack.append((item, level + 1))
    return value


def _any(value: Any, _: Any = None) -> Any:
    return check_json(value, 2)


def _object(value: Any, _: Any = None) -> dict[str, Any]:
    if value.__class__ is not dict:
        raise _wrong("an object", value)
    return check_json(value, 2) if value else value


def _array(value: Any, _: Any = None) -> list[Any]:
    if value.__class__ is not list:
        raise _wrong("an array", value)
    return check_json(value, 2) if value else value


def _all_ascii_str(values: Any) -> bool:
    """Every value an ASCII ``str`` (checked in one C-level pass: the usual metadata)."""
    try:
        return all(map(str.isascii, values))
    except TypeError:  # not a str
        return False


def _dict_of(item: Callable[[Any, Any], Any]) -> Callable[[Any, Any], dict[str, Any]]:
    plain_str = item is _str

    def structure_dict(value: Any, _: Any = None) -> dict[str, Any]:
        if value.__class__ is not dict:
            raise _wrong("an object", value)
        if plain_str and _all_ascii_str(value.values()) and _all_ascii_str(value):
            return value
        for key, v in value.items():
            if not key.isascii():
                _unicode(key)
            try:
                item(v, None)
            except StructureError as bad:
                bad.path.append(" values")
                raise
        return value

    return structure_dict


def _list_of(item: Callable[[Any, Any], Any], tp: Any) -> Callable[[Any, Any], list[Any]]:
    many = _MODEL_LISTS.get(item)

    def structure_list_of(value: Any, _: Any = None) -> list[Any]:
        if value.__class__ is not list:
            raise _wrong("an array", value)
        if not value:
            return value
        try:
            if many is not None:
                return many(value)
            if len(value) == 1:  # most address lists are empty or hold one
                return [item(value[0], tp)]
            return [item(x, tp) for x in value]
        except StructureError:
            for i, x in enumerate(value):
                try:
                    item(x, tp)
                except StructureError as bad:
                    bad.path.append(f"[{i}]")
                    raise
            raise

    return structure_list_of


def _keep_list(item: Callable[[Any, Any], Any]) -> Callable[[Any, Any], list[Any]]:
    """A list of scalars: checked item by item, the decoded list itself kept."""

    plain_str = item is _str

    def structure_scalars(value: Any, _: Any = None) -> list[Any]:
        if value.__class__ is not list:
            raise _wrong("an array", value)
        if plain_str and _all_ascii_str(value):
            return value
        for i, x in enumerate(value):
            try:
                item(x, None)
            except StructureError as bad:
                bad.path.append(f"[{i}]")
                raise
        return value

    return structure_scalars


_NOT_NULL: dict[Any, Callable[[Any, Any], Any]] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    datetime: _datetime,
    date: _date,
    Any: _any,
}


_OPTIONAL: dict[Any, Callable[[Any, Any], Any]] = {
    str | None: _optional_str,
    int | None: _optional_int,
    float | None: _optional_float,
    bool | None: _optional_bool,
    datetime | None: _optional_datetime,
    date | None: _date,
}


def _null(value: Any, _: Any = None) -> None:
    raise _wrong("not null", value)


# --------------------------------------------------------------------------- models


#: A model's structure function -> its list function (see ``structure_models``).
_MODEL_LISTS: dict[Callable[[Any, Any], Any], Callable[[list[Any]], list[Any]]] = {}

#: Key sets per model given their own generated function (the first ones seen;
#: past that, dicts take cattrs' general function).
_MAX_KEY_SETS = 8


def _model_structure_fn(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """cattrs' generated function for ``cls``, plus ``extra``, the object check and error paths.

    cattrs generates one function per set of keys a dict has, as if those
    fields were required: it passes each value straight to ``__init__``, with
    no ``in`` test and no ``**kwargs`` per field.  The usual dict has every
    documented key (Postmark sends them all, ``null`` or empty when unset);
    nested ones often have fewer (an outbound ``To`` item has no
    ``MailboxHash``), and that set repeats on every item of a page.  Other
    dicts (unknown keys, or past :data:`_MAX_KEY_SETS` sets) take cattrs'
    ordinary function, which leaves missing keys to their defaults; unknown
    keys go to ``extra``.
    """
    is_model = issubclass(cls, Model)
    fields = [a for a in attrs.fields(cls) if not (is_model and a.name == "extra") and a.init]
    keys = {a.name: json_name(a) for a in fields}
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in keys.items()}
    if is_model:
        overrides["extra"] = override(omit=True)
    general = make_dict_structure_fn(cls, conv, _cattrs_detailed_validation=False, **overrides)
    by_key = {key: a for a in fields for key in [keys[a.name]]}

    def for_keys(present: tuple[str, ...]) -> Callable[[Any], Any]:
        # Keyword-only, so any subset of the fields can be passed in any order.
        chosen = [by_key[k].evolve(default=attrs.NOTHING, kw_only=True) for k in present]
        return make_dict_structure_fn_from_attrs(
            chosen,
            cls,
            conv,
            _cattrs_detailed_validation=False,
            **{a.name: overrides[a.name] for a in chosen},
        )

    # Every field, passed by position (the usual dict).
    every = [a.evolve(default=attrs.NOTHING) for a in fields]
    exact = make_dict_structure_fn_from_attrs(
        every,
        cls,
        conv,
        _cattrs_detailed_validation=False,
        **{a.name: overrides[a.name] for a in every},
    )
    known = frozenset(keys.values())
    required = frozenset(keys[a.name] for a in fields if a.default is attrs.NOTHING)
    count = len(known)
    #: key set -> its function, or None: not all known, or a required key missing.
    subsets: dict[tuple[str, ...], Callable[[Any], Any] | None] = {}
    hooks = [
        (key, conv.get_structure_hook(a.type), a.type) for a in fields for key in [keys[a.name]]
    ]

    def explain(data: dict[str, Any]) -> None:
        """Find the field that failed and raise its error with the key in the path."""
        for key, hook, tp in hooks:
            if key in data:
                try:
                    hook(data[key], tp)
                except StructureError as bad:
                    bad.path.append(f": {key}")
                    raise

    def structure_model(data: Any, _: Any = None) -> Any:
        if data.__class__ is not dict:
            raise _wrong("an object", data)
        try:
            if len(data) == count:
                try:
                    # Every one of the model's keys was read, and there are no others.
                    return exact(data)
                except KeyError:
                    pass
            elif len(data) < count:
                present = tuple(data)
                try:
                    fn = subsets[present]
                except KeyError:
                    fn = None
                    if len(subsets) < _MAX_KEY_SETS:
                        fits = known.issuperset(present) and required.issubset(present)
                        fn = subsets[present] = for_keys(present) if fits else None
                if fn is not None:
                    return fn(data)
            obj = general(data, cls)
        except StructureError:
            explain(data)
            raise
        if known.issuperset(data):
            return obj
        extra = {k: data[k] for k in data.keys() - known}
        check_json(extra)
        if is_model:
            # attrs' documented way to set a field of a frozen instance after init.
            object.__setattr__(obj, "extra", extra)
        return obj

    def structure_models(values: list[Any]) -> list[Any]:
        """:func:`structure_model` over a list: a dict whose key set has its function goes to it.

        One Python call per item fewer (a page, a batch's results).  A
        :class:`StructureError` leaves the path to the caller, which finds the
        item by structuring them one by one.
        """
        out: list[Any] = []
        append = out.append
        for data in values:
            if data.__class__ is dict:
                size = len(data)
                if size == count:
                    try:
                        append(exact(data))
                        continue
                    except KeyError:
                        pass
                elif size < count:
                    fn = subsets.get(tuple(data))  # None: not generated yet, or does not fit
                    if fn is not None:
                        append(fn(data))
                        continue
            append(structure_model(data))
        return out

    _MODEL_LISTS[structure_model] = structure_models
    return structure_model


# --------------------------------------------------------------------------- the converter


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()

    def is_optional(tp: Any) -> bool:
        return (
            typing.get_origin(tp) in (typing.Union, types.UnionType)
            and type(None) in typing.get_args(tp)
            and len(typing.get_args(tp)) == 2
        )

    def optional_factory(tp: Any) -> Callable[[Any, Any], Any]:
        if tp in _OPTIONAL:
            return _OPTIONAL[tp]
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        hook = conv.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any = None) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    def is_dict(tp: Any) -> bool:
        return tp is dict or typing.get_origin(tp) is dict

    def dict_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        item = args[1] if len(args) == 2 else Any
        if item is Any:
            return _object
        return _dict_of(conv.get_structure_hook(item))

    def is_list(tp: Any) -> bool:
        return tp is list or typing.get_origin(tp) is list

    def list_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        item = args[0] if args else Any
        if item is Any or (is_dict(item) and (typing.get_args(item) or (str, Any))[1] is Any):
            return _array
        hook = conv.get_structure_hook(item)
        if item in _NOT_NULL:
            return _keep_list(hook)
        return _list_of(hook, item)

    def structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        return _model_structure_fn(cls, conv)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a)) for a in attrs.fields(cls) if a.name != "extra"
        }
        if issubclass(cls, Model):
            overrides["extra"] = override(omit=True)
        return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)

    conv.register_structure_hook_factory(is_optional, optional_factory)
    conv.register_structure_hook_factory(is_dict, dict_factory)
    conv.register_structure_hook_factory(is_list, list_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    # Registered after the factories: later registrations win.
    for tp, hook in (_NOT_NULL | _OPTIONAL).items():
        conv.register_structure_hook(tp, hook)
    # Values JSON takes as they are: cattrs then inlines them (no call per field).
    for tp in (str, int, float, bool, str | None, int | None, float | None, bool | None):
        conv.register_unstructure_hook(tp, identity)
    plain = {dict[str, str], dict[str, str] | None, dict[str, Any], dict[str, Any] | None}
    conv.register_unstructure_hook_func(lambda tp: tp in plain, identity)
    conv.register_structure_hook(type(None), _null)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_unstructure_hook(date, lambda d: d.isoformat())
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


#: The project's one converter.  Use :func:`structure` / :func:`unstructure`.
converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """JSON-decoded data -> model.  A value that does not fit raises :class:`StructureError`."""
    try:
        result: T = converter.get_structure_hook(cls)(data, cls)
    except StructureError as bad:
        bad.label = bad.label or cls.__name__
        raise
    return result


def structure_list(items: Any, cls: type[T]) -> list[T]:
    """A JSON array of objects -> list of models (``None`` -> ``[]``)."""
    if items is None:
        return []
    try:
        return converter.get_structure_hook(list[cls])(items, list[cls])  # type: ignore[valid-type, no-any-return]
    except StructureError as bad:
        bad.label = bad.label or cls.__name__
        raise


def unstructure(obj: Any) -> Any:
    """Model (or list of models) -> JSON-ready data, ``None`` fields dropped."""
    return converter.unstructure(obj)
