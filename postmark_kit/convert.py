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
"""

from __future__ import annotations

import gc
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "Model",
    "converter",
    "jfield",
    "json_name",
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


_MISSING = object()

#: Lists at least this long are structured with the cyclic GC paused.
_GC_PAUSE_MIN = 50

_MemberDescriptor = type(Model.__dict__["extra"])

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: str | datetime | date) -> datetime:
    """Parse Postmark's timestamps (7 fractional digits, ``Z`` or an offset)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _structure_datetime(value: Any, _: Any) -> datetime:
    return parse_datetime(value)


def _structure_optional_datetime(value: Any, _: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_datetime(value)


def _structure_optional_date(value: Any, _: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _passthrough(value: Any, _: Any) -> Any:
    return value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(datetime | None, _structure_optional_datetime)
    conv.register_structure_hook(date | None, _structure_optional_date)
    conv.register_structure_hook(date, _structure_optional_date)
    # Plain JSON types pass straight through: the JSON decoder already built them.
    for tp in (str, int, float, bool):
        conv.register_structure_hook(tp, _passthrough)
        conv.register_structure_hook(tp | None, _passthrough)
    # Containers of plain JSON values also pass through as decoded.
    plain: set[Any] = set()
    for container in (
        dict[str, Any],
        dict[str, str],
        dict[str, int],
        list[str],
        list[Any],
        list[dict[str, Any]],
    ):
        plain.add(container)
        plain.add(container | None)
    plain.add(Any)
    conv.register_structure_hook_func(lambda t: t in plain, _passthrough)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_unstructure_hook(date, lambda d: d.isoformat())

    def structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        names = {a.name: json_name(a) for a in attrs.fields(cls) if a.name != "extra"}
        overrides = {name: override(rename=key) for name, key in names.items()}
        if issubclass(cls, Model):
            overrides["extra"] = override(omit=True)
        fn = make_dict_structure_fn(
            cls,
            conv,
            _cattrs_detailed_validation=False,
            **overrides,  # type: ignore[arg-type]
        )
        if not issubclass(cls, Model):
            return fn
        return _model_structure_fn(cls, conv, names, fn)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a)) for a in attrs.fields(cls) if a.name != "extra"
        }
        if issubclass(cls, Model):
            overrides["extra"] = override(omit=True)
        general = make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)
        return _fast_unstructure_fn(cls, conv, general)

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


def _builder(cls: type[Any]) -> type[Any] | None:
    """A mutable twin of frozen ``cls``: same slots, plain attribute stores.

    A generated structure function fills an instance of it with ordinary
    ``obj.field = value`` stores (which CPython specialises for slots, about a
    fifth of the cost of calling each slot's ``__set__``), then turns it into a
    ``cls`` instance by assigning ``__class__``: the twin adds no slots, so the
    layouts are identical.  ``None`` if this ``cls`` does not allow it.
    """
    builder = type(
        cls.__name__,
        (cls,),
        {
            "__slots__": (),
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}.<builder>",
            "__doc__": "Not part of the API: structuring only.",
            # attrs' frozen classes override both; both must go for the fast stores.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
    try:
        probe: Any = object.__new__(builder)
        probe.__class__ = cls
    except TypeError:
        return None
    return builder


def _model_structure_fn(
    cls: type[Any],
    conv: cattrs.Converter,
    names: dict[str, str],
    general: Callable[[Any, Any], Any],
) -> Callable[[Any, Any], Any]:
    """A generated structure function for one response model (the hot path of every page).

    Postmark sends every documented key of a model on every item, so the fast
    path (the dict has exactly the model's keys) reads each key by subscript
    and stores it into a builder instance (see :func:`_builder`): no per-field
    hook calls for plain JSON values, hooks looked up once here (not per item),
    nested model lists structured inline.  A dict with missing or unknown keys
    takes the second path (``get`` with the field's default, unknown keys to
    ``extra``); one missing a required key takes the general cattrs function.
    """
    attrs.resolve_types(cls)
    fields = {a.name: a for a in attrs.fields(cls)}
    slots = {name: getattr(cls, name, None) for name in fields}
    builder = None
    if not (
        any(a.converter or a.validator or not a.init for a in fields.values())
        or any(type(d) is not _MemberDescriptor for d in slots.values())
        or hasattr(cls, "__attrs_post_init__")
        or hasattr(cls, "__attrs_pre_init__")
        or set(fields) - set(names) != {"extra"}
        or any(not name.isidentifier() or name.startswith("__") for name in fields)
    ):
        builder = _builder(cls)
    if builder is None:
        return _with_extra(cls, general, frozenset(names.values()))
    # The instance is built without __init__ (no converters, validators or
    # init hooks, checked above), each slot set once.
    env: dict[str, Any] = {
        "cls": cls,
        "builder": builder,
        "general": general,
        "new": object.__new__,
        "MISSING": _MISSING,
        "_setattr": object.__setattr__,
    }
    fast: list[str] = []
    args: list[str] = []
    for i, (name, key) in enumerate(names.items()):
        tp = fields[name].type
        hook = conv.get_structure_hook(tp)
        default = fields[name].default
        origin, targs = typing.get_origin(tp), typing.get_args(tp)
        if hook is _passthrough:
            convert = "w"
        elif hook is _structure_optional_datetime:
            env[f"dt{i}"] = _optional_datetime
            convert = f"dt{i}(w)"
        elif origin is list and len(targs) == 1 and attrs.has(targs[0]):
            env[f"h{i}"] = conv.get_structure_hook(targs[0])
            env[f"t{i}"] = targs[0]
            # Most address lists are empty (keep the decoded empty list itself)
            # or hold one address (no comprehension to set up).
            convert = (
                f"(w if w == [] else [h{i}(w[0], t{i})] if w.__class__ is list and len(w) == 1"
                f" else [h{i}(x, t{i}) for x in w])"
            )
        elif (
            origin in (typing.Union, types.UnionType)
            and len(targs) == 2
            and targs[1] is type(None)
            and attrs.has(targs[0])
        ):
            # An optional nested model (a webhook's Geo, an inbound FromFull).
            env[f"h{i}"] = conv.get_structure_hook(targs[0])
            env[f"t{i}"] = targs[0]
            convert = f"(None if w is None else h{i}(w, t{i}))"
        else:
            env[f"h{i}"] = hook
            env[f"t{i}"] = tp
            convert = f"h{i}(w, t{i})"
        if convert == "w":
            fast.append(f"        obj.{name} = d[{key!r}]")
        elif hook is _structure_optional_datetime:
            # Inlined: Postmark's timestamps parse in one fromisoformat call;
            # anything else (None, "", other formats) takes the full function.
            env["fromiso"] = datetime.fromisoformat
            env["UTC"] = UTC
            fast += [
                "        try:",
                f"            w = fromiso(d[{key!r}])",
                "        except (TypeError, ValueError):",
                f"            w = dt{i}(d[{key!r}])",
                "        else:",
                "            if w.tzinfo is None:",
                "                w = w.replace(tzinfo=UTC)",
                f"        obj.{name} = w",
            ]
        else:
            fast.append(f"        w = d[{key!r}]")
            fast.append(f"        obj.{name} = {convert}")
        # A missing key gets the field's default, exactly as leaving the argument out would.
        if default is attrs.NOTHING:
            args.append(f"        w = d[{key!r}]")  # required: the general path decides
            args.append(f"        obj.{name} = {convert}")
        elif hook is _passthrough and not isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            env[f"d{i}"] = default
            args.append(f"        obj.{name} = get({key!r}, d{i})")
        else:
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    return _with_extra(cls, general, frozenset(names.values()))
                env[f"f{i}"] = default.factory
                missing = f"f{i}()"
            else:
                env[f"d{i}"] = default
                missing = f"d{i}"
            args.append(f"        w = get({key!r}, MISSING)")
            args.append(f"        obj.{name} = {missing} if w is MISSING else {convert}")
    known = frozenset(names.values())
    env["known"] = known
    lines = [
        "def structure(d, _=None):",
        "    if d.__class__ is not dict and not isinstance(d, dict):",
        f"        raise TypeError('expected a JSON object for {cls.__name__}, got '"
        " + type(d).__name__)",
        # Exactly the modelled keys: as many keys, and every one found.
        f"    if len(d) == {len(names)}:",
        "        obj = new(builder)",
        "        try:",
        *("    " + line for line in fast),
        "        except KeyError:",
        "            pass",
        "        else:",
        "            obj.extra = {}",
        "            obj.__class__ = cls",
        "            return obj",
        "    get = d.get",
        "    obj = new(builder)",
        "    try:",
        *args,
        "    except KeyError:",
        "        obj = general(d, cls)",
        "        unknown = d.keys() - known",
        "        if unknown:",
        "            _setattr(obj, 'extra', {k: d[k] for k in unknown})",
        "        return obj",
        "    if known.issuperset(d):",
        "        obj.extra = {}",
        "    else:",
        "        obj.extra = {k: d[k] for k in d.keys() - known}",
        "    obj.__class__ = cls",
        "    return obj",
    ]
    code = "\n".join(lines)
    exec(compile(code, f"<postmark_kit structure {cls.__qualname__}>", "exec"), env)  # noqa: S102
    fn: Callable[[Any, Any], Any] = env["structure"]
    return fn


def _with_extra(
    cls: type[Any], fn: Callable[[Any, Any], Any], known: frozenset[str]
) -> Callable[[Any, Any], Any]:
    def structure_model(data: Any, _: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
        obj = fn(data, cls)
        unknown = data.keys() - known
        if unknown:
            object.__setattr__(obj, "extra", {k: data[k] for k in unknown})
        return obj

    return structure_model


def _optional_datetime(value: Any) -> datetime | None:
    """Hot-path timestamp parsing: Postmark's own format parses in one call."""
    if value.__class__ is str and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return parse_datetime(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _structure_optional_datetime(value, None)


#: Field types whose values JSON takes as they are (no copy, no conversion).
_SCALARS = frozenset({str, int, float, bool, str | None, int | None, float | None, bool | None})


def _fast_unstructure_fn(
    cls: type[Any], conv: cattrs.Converter, general: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """A generated unstructure function: what cattrs's does, without a hook call per scalar.

    Like ``_cattrs_omit_if_default``, a field equal to its default is left out;
    scalar fields are copied as they are, every other field goes through its
    hook (resolved once, here).  Batch sends encode thousands of messages.
    """
    try:
        attrs.resolve_types(cls)
    except NameError:
        return general
    env: dict[str, Any] = {}
    lines = ["def unstructure(obj):", "    out = {}"]
    for i, a in enumerate(attrs.fields(cls)):
        if a.name == "extra" and issubclass(cls, Model):
            continue
        key = json_name(a)
        lines.append(f"    v = obj.{a.name}")
        default = a.default
        if default is None:
            cond = "v is not None"
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                return general
            env[f"f{i}"] = default.factory
            cond = f"v != f{i}()"
        elif default is attrs.NOTHING:
            cond = "True"
        else:
            env[f"d{i}"] = default
            cond = f"v != d{i}"
        if a.type in _SCALARS:
            value = "v"
        else:
            env[f"h{i}"] = conv.get_unstructure_hook(a.type)
            value = f"h{i}(v)"
        lines.append(f"    if {cond}:")
        lines.append(f"        out[{key!r}] = {value}")
    lines.append("    return out")
    code = "\n".join(lines)
    exec(compile(code, f"<postmark_kit unstructure {cls.__qualname__}>", "exec"), env)  # noqa: S102
    fn: Callable[[Any], Any] = env["unstructure"]
    return fn


#: The project's one converter.  Use :func:`structure` / :func:`unstructure`.
converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """JSON-decoded data -> model."""
    hook = converter.get_structure_hook(cls)
    result: T = hook(data, cls)
    return result


def structure_list(items: Any, cls: type[T]) -> list[T]:
    """A JSON list of objects -> list of models (one hook lookup for the whole list)."""
    hook = converter.get_structure_hook(cls)
    if not items:
        return []
    if not isinstance(items, list):
        items = list(items)
    if len(items) < _GC_PAUSE_MIN or not gc.isenabled():
        return [hook(item, cls) for item in items]
    # A page builds thousands of objects that all survive: the cyclic GC would
    # rescan them (and, every few pages, the whole heap) for nothing, since
    # models hold no cycles.  Pause it for the page; it resumes right after.
    gc.disable()
    try:
        return [hook(item, cls) for item in items]
    finally:
        gc.enable()


def unstructure(obj: Any) -> Any:
    """Model (or list of models) -> JSON-ready data, ``None`` fields dropped."""
    return converter.unstructure(obj)
