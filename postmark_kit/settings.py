"""Every ``POSTMARK_*`` setting, declared once: name, type, default, range, one-line doc.

The receiver, the journal, Celery mode, the Flask and Django extensions and the
CLI read their settings through :func:`read` / :meth:`Setting.read`, so a
default, a range or an error message lives in one place, and the settings
tables of the docs are generated from :data:`SETTINGS` (:func:`markdown_table`).
The settings classes (``ReceiverConfig``, ``JournalSettings``,
``CelerySettings``, the Flask extension's state) take their keyword arguments
from the declarations too (:class:`SettingFields`, :attr:`Setting.field`), so
a new setting is its declaration plus the field that holds it.

A setting that is missing, ``None`` or an empty string is unset: it takes its
default (``POSTMARK_URL_PREFIX`` alone reads ``""`` as "at the root").  A bad
value is a :class:`ConfigError` naming the setting, never echoing a secret.

Plugins' own settings (``POSTMARK_CSV_EXPORT_PATH``...) are not declared here:
:func:`read` reads declared names only and leaves the others to their plugins.

This module imports nothing but the standard library and attrs: ``import
postmark_kit`` stays free of Flask, pluggy and click.
"""

from __future__ import annotations

import inspect
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "COMPONENTS",
    "DURABLE_PLUGIN_TIMEOUT",
    "KEEP_BODY_WITH_STORE",
    "POSTMARK_WEBHOOK_IPS",
    "SETTINGS",
    "ConfigError",
    "Setting",
    "SettingFields",
    "as_bool",
    "as_float",
    "as_int",
    "default",
    "defaults",
    "env",
    "field_name",
    "markdown_table",
    "of",
    "read",
    "secret",
    "setting",
    "standalone_defaults",
]

#: Postmark's published webhook source IPs (they can change: check Postmark's
#: "IPs for firewalls" article).  ``POSTMARK_ALLOWED_IPS=postmark`` uses them.
POSTMARK_WEBHOOK_IPS = ("3.134.147.250", "50.31.156.6", "50.31.156.77", "18.217.206.57")

#: What reads a setting (a setting may belong to several).
COMPONENTS = ("receiver", "console", "journal", "celery", "flask", "django", "cli")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A ``POSTMARK_*`` setting with a value that cannot be used (the message names it)."""


# -- parsers --------------------------------------------------------------------


def as_bool(name: str, value: Any) -> bool:
    """A boolean setting: a bool, or 1/0, true/false, yes/no, on/off (``ConfigError`` else)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _bounds(name: str, number: float, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and not low <= number <= high:
        raise ConfigError(
            f"{name} must be between {_num(low)} and {_num(high)}, got {_num(number)}"
        )
    if low is not None and number < low:
        raise ConfigError(f"{name} must be at least {_num(low)}, got {_num(number)}")
    if high is not None and number > high:
        raise ConfigError(f"{name} must be at most {_num(high)}, got {_num(number)}")


def as_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer setting between ``low`` and ``high`` (``ConfigError`` else)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number (an integer), got {value!r}") from None
    _bounds(name, number, low, high)
    return number


def as_float(name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    """A number setting between ``low`` and ``high`` (``ConfigError`` else)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number != number:  # NaN passes every comparison
        raise ConfigError(f"{name} must be a number, got {value!r}")
    _bounds(name, number, low, high)
    return number


def _opt(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def secret(name: str, value: Any) -> str | None:
    """A token, password or secret setting; ``None`` when unset.

    Surrounding whitespace, a line break (an env file with CRLF endings) or a
    control character is a ``ConfigError`` naming the setting, never the value:
    such a secret never matches what Postmark sends.
    """
    text = _opt(value)
    if text is None:
        return None
    if text != text.strip():
        raise ConfigError(
            f"{name} has leading or trailing whitespace or a line break (CR/LF): "
            "check how it is loaded (an env file with CRLF endings?)"
        )
    if not text.isprintable():
        raise ConfigError(f"{name} contains a control character")
    return text


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _networks(name: str, value: Any) -> tuple[Network, ...] | None:
    items = _list(value)
    if not items:
        return None
    nets = []
    for item in items:
        names: Iterable[str] = POSTMARK_WEBHOOK_IPS if item.lower() == "postmark" else (item,)
        for address in names:
            try:
                nets.append(ipaddress.ip_network(address, strict=False))
            except ValueError:
                raise ConfigError(f"{name}: not an IP or network: {address!r}") from None
    return tuple(nets)


def _proxies(name: str, value: Any) -> tuple[int, tuple[Network, ...] | None]:
    """A count (proxies on loopback) or addresses/networks (then up to 32 hops)."""
    if isinstance(value, int) or str(value).strip().lstrip("-").isdigit():
        return as_int(name, value, 0, 32), None
    nets = []
    for item in _list(value):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name}: give a number of proxies or their addresses, got {item!r}"
            ) from None
    return (32, tuple(nets)) if nets else (0, None)


def _header_name(name: str, value: Any) -> str:
    """A header name every hop passes on: an HTTP token without underscores."""
    header = str(value).strip()
    if "_" in header:
        raise ConfigError(
            f"{name} {header!r} has an underscore: nginx, gunicorn and"
            " other proxies drop such headers, so every webhook would be refused. Use a"
            f" hyphen: {header.replace('_', '-')!r}"
        )
    if not header or any(c in header for c in ' \t:()<>@,;"/[]?={}') or not header.isascii():
        raise ConfigError(f"{name} is not a header name: {header!r}")
    return header


def _redis_url(name: str, value: Any) -> str:
    from urllib.parse import urlsplit

    url = str(value).strip()
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        # Never echo the URL: it may hold a password.
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return url


def _prefix(name: str, value: Any) -> str:
    prefix = str(value).strip().rstrip("/")
    return "/" + prefix if prefix and not prefix.startswith("/") else prefix


# -- the declaration --------------------------------------------------------------

#: A mode's own prefix, dropped from the field name of its settings by :func:`field_name`.
_MODE_PREFIXES = ("JOURNAL_", "CELERY_")


def field_name(name: str) -> str:
    """The field that holds setting ``name`` unless its declaration says otherwise.

    ``POSTMARK_`` and then a mode's own prefix (``JOURNAL_``, ``CELERY_``) are
    dropped and the rest lower-cased: ``POSTMARK_MAX_BODY_BYTES`` ->
    ``max_body_bytes``, ``POSTMARK_JOURNAL_LEASE`` -> ``lease``,
    ``POSTMARK_CELERY_QUEUE`` -> ``queue``.  The exceptions are declared with
    ``Setting(..., field=...)``.
    """
    rest = name.removeprefix("POSTMARK_")
    for prefix in _MODE_PREFIXES:
        rest = rest.removeprefix(prefix)
    return rest.lower()


#: Kind -> what a value of that kind looks like in the docs' "Allowed" column.
_KIND_DOC = {
    "str": "text",
    "text": "text",
    "name": "a name",
    "secret": "text (no surrounding whitespace)",
    "bool": "true / false",
    "list": "comma-separated",
    "networks": "IPs or CIDR networks, comma-separated; `postmark`",
    "proxies": "a count (0-32) or IPs/networks",
    "header": "an HTTP header name (no `_`)",
    "redis_url": "`redis://`, `rediss://` or `unix://` URL",
    "prefix": "a URL path (`''`: the root)",
    "size_or_all": "bytes, or `all`",
    "optional_bool": "true / false",
}


@attrs.frozen
class Setting:
    """One ``POSTMARK_*`` setting: how it is read, what it defaults to, what it is for."""

    name: str
    #: ``str``, ``text`` (stripped; blank is the default), ``name`` (stripped,
    #: lower-case), ``secret``, ``bool``, ``optional_bool``, ``int``, ``float``,
    #: ``list``, ``choice``, ``networks``, ``proxies``, ``header``, ``redis_url``,
    #: ``prefix``, ``size_or_all``.
    kind: str
    default: Any
    #: One line for the docs.
    doc: str
    #: Who reads it (see :data:`COMPONENTS`).
    components: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    #: Never echoed in an error or a ``repr`` (tokens, passwords, URLs with credentials).
    secret: bool = False
    #: The default as the docs put it, when it depends on something else.
    default_doc: str | None = None
    #: The standalone receiver's default (``create_app``, ``postmark-kit serve``), if other.
    standalone: Any = None
    #: Non-empty values must not be blank after stripping (``ConfigError`` else).
    required_text: bool = False
    #: The values allowed, as the docs put it, when the kind and range do not say it all.
    allowed_doc: str | None = None
    #: The attribute (keyword argument) that holds the value in the classes built from
    #: it (:class:`SettingFields`); by default :func:`field_name` of the name.
    field: str = attrs.field(
        default=attrs.Factory(lambda self: field_name(self.name), takes_self=True)
    )

    def __attrs_post_init__(self) -> None:
        unknown = set(self.components) - set(COMPONENTS)
        if unknown or not self.components:
            raise ValueError(f"{self.name}: unknown component(s) {sorted(unknown)}")
        if self.kind not in _PARSERS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    def is_unset(self, value: Any) -> bool:
        """``None`` or ``""`` (``POSTMARK_URL_PREFIX=""`` is a value: the root)."""
        return value is None or (value == "" and self.kind != "prefix")

    def parse(self, value: Any) -> Any:
        """``value`` checked and converted (the default, converted, when unset)."""
        if self.is_unset(value):
            if self.default is None:
                return None
            value = self.default
        return _PARSERS[self.kind](self, value)

    def read(self, mapping: Mapping[str, Any]) -> Any:
        """This setting's value in ``mapping`` (a Flask config, a dict, ``os.environ``)."""
        return self.parse(mapping.get(self.name))

    def allowed(self) -> str:
        """The "Allowed" column of the docs."""
        if self.allowed_doc is not None:
            return self.allowed_doc
        if self.choices is not None:
            return ", ".join(f"`{c}`" for c in self.choices)
        if self.kind in ("int", "float"):
            unit = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                return f"{unit}, {_num(self.low)}-{_num(self.high)}"
            if self.low is not None:
                return f"{unit} ≥ {_num(self.low)}"
            return unit
        if self.kind == "size_or_all":
            return f"bytes ({_num(self.low or 0)}-{_num(self.high or 0)}), or `all`"
        return _KIND_DOC[self.kind]

    def default_text(self) -> str:
        """The "Default" column of the docs."""
        if self.default_doc is not None:
            text = self.default_doc
        elif self.default is None:
            text = "none"
        elif isinstance(self.default, bool):
            text = "`true`" if self.default else "`false`"
        else:
            text = f"`{_num(self.default)}`"
        if self.standalone is not None and self.standalone != self.default:
            text += f"; standalone: `{_num(self.standalone)}`"
        return text


def _num(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text(setting: Setting, value: Any) -> str:
    text = str(value).strip()
    if not text:
        if setting.required_text:
            raise ConfigError(f"{setting.name} must not be empty")
        return str(setting.default)
    return text


def _choice(setting: Setting, value: Any) -> str:
    text = str(value).strip()
    choices = setting.choices or ()
    if text not in choices:
        known = ", ".join(choices)
        shown = "(hidden)" if setting.secret else repr(value)
        raise ConfigError(f"{setting.name} must be one of {known}, got {shown}")
    return text


def _optional_bool(setting: Setting, value: Any) -> bool | None:
    if isinstance(value, str) and not value.strip():
        return None
    return as_bool(setting.name, value)


def _size_or_all(setting: Setting, value: Any) -> int | None:
    if str(value).strip().lower() in ("all", "none"):
        return None
    return as_int(setting.name, value, _int_bound(setting.low), _int_bound(setting.high))


def _int_bound(value: float | None) -> int | None:
    return None if value is None else int(value)


_PARSERS: dict[str, Callable[[Setting, Any], Any]] = {
    # Blank text is unset like "": the default, not a file named "   " or "None".
    "str": lambda s, v: _opt(v) or s.default,
    "text": _text,
    "name": lambda s, v: str(v).strip().lower() or s.default,
    "secret": lambda s, v: secret(s.name, v),
    "bool": lambda s, v: as_bool(s.name, v),
    "optional_bool": _optional_bool,
    "int": lambda s, v: as_int(s.name, v, _int_bound(s.low), _int_bound(s.high)),
    "float": lambda s, v: as_float(s.name, v, s.low, s.high),
    "list": lambda s, v: tuple(_list(v)),
    "choice": _choice,
    "networks": lambda s, v: _networks(s.name, v),
    "proxies": lambda s, v: _proxies(s.name, v),
    "header": lambda s, v: _header_name(s.name, v),
    "redis_url": lambda s, v: _redis_url(s.name, v),
    "prefix": lambda s, v: _prefix(s.name, v),
    "size_or_all": _size_or_all,
}

_R, _CON, _J, _CEL, _F, _D, _CLI = COMPONENTS

#: The journal file when ``POSTMARK_JOURNAL`` is unset (relative: the working directory).
_JOURNAL_FILE = "postmark-journal.sqlite3"

#: ``POSTMARK_PLUGIN_TIMEOUT`` when unset, in the modes that run plugins off the request
#: (journal, Celery); inline mode sets no limit unless told.
DURABLE_PLUGIN_TIMEOUT = 30.0

#: ``POSTMARK_JOURNAL_KEEP_BODY_BYTES`` when unset and an event store keeps every
#: body anyway: a 40 MB inbound message is then not on disk twice.
KEEP_BODY_WITH_STORE = 64 * 1024

#: Every setting, in the order the docs list them.
SETTINGS: tuple[Setting, ...] = (
    # -- the receiver
    Setting(
        "POSTMARK_SERVER_TOKEN",
        "secret",
        None,
        "server API token: sending (Flask, Django, CLI) and the client plugins receive",
        (_R, _F, _D, _CLI),
        secret=True,
    ),
    Setting(
        "POSTMARK_ACCOUNT_TOKEN",
        "secret",
        None,
        "account API token (CLI: domains, sender signatures, servers)",
        (_CLI,),
        secret=True,
    ),
    Setting(
        "POSTMARK_BASE_URL",
        "str",
        None,
        "API address; point it at the simulator in tests",
        (_R, _F, _D, _CLI),
        default_doc="`https://api.postmarkapp.com`",
    ),
    Setting(
        "POSTMARK_WEBHOOK_USERNAME",
        "secret",
        None,
        "basic-auth user Postmark sends (set both or neither)",
        (_R, _CLI),
        secret=True,
    ),
    Setting(
        "POSTMARK_WEBHOOK_PASSWORD",
        "secret",
        None,
        "basic-auth password Postmark sends (set both or neither)",
        (_R, _CLI),
        secret=True,
    ),
    Setting(
        "POSTMARK_WEBHOOK_SECRET_HEADER",
        "header",
        None,
        "name of a shared-secret header (set both or neither)",
        (_R,),
        field="secret_header",
    ),
    Setting(
        "POSTMARK_WEBHOOK_SECRET_VALUE",
        "secret",
        None,
        "value of that header (set both or neither)",
        (_R,),
        secret=True,
        field="secret_value",
    ),
    Setting(
        "POSTMARK_ALLOWED_IPS",
        "networks",
        None,
        "source addresses allowed to post webhooks (`postmark`: Postmark's published IPs)",
        (_R,),
        default_doc="any",
    ),
    Setting(
        "POSTMARK_TRUSTED_PROXIES",
        "proxies",
        0,
        "proxies in front whose `X-Forwarded-For` is trusted: a number on this host,"
        " or their addresses/networks",
        (_R,),
    ),
    Setting(
        "POSTMARK_INSECURE_NO_AUTH",
        "bool",
        False,
        "let the standalone receiver run with no webhook authentication",
        (_R, _CLI),
    ),
    Setting(
        "POSTMARK_MAX_BODY_BYTES",
        "int",
        50 * 1024 * 1024,  # 35 MB of inbound attachments is ~47 MB of base64 JSON
        "larger webhook bodies get a 413",
        (_R,),
        low=1,
        high=2**40,
    ),
    Setting(
        "POSTMARK_FAILURE_STATUS",
        "int",
        503,
        "answer when a plugin fails inline: a 5xx (Postmark retries) or 200 (dropped)",
        (_R,),
        low=200,
        high=599,
        allowed_doc="`200`, or 500-599",
    ),
    Setting(
        "POSTMARK_URL_PREFIX",
        "prefix",
        "/postmark",
        "where the receiver's routes are mounted",
        (_R,),
    ),
    Setting(
        "POSTMARK_PER_TYPE_ENDPOINTS",
        "bool",
        True,
        "add `<prefix>/webhook/<kind>` next to `<prefix>/webhook`",
        (_R,),
    ),
    Setting(
        "POSTMARK_DISPATCH",
        "name",
        "inline",
        "how events reach plugins (a mode added with `register_dispatcher` too)",
        (_R, _CLI),
        allowed_doc="`inline`, `journal`, `celery`",
        standalone="journal",
    ),
    Setting(
        "POSTMARK_PLUGIN_TIMEOUT",
        "float",
        None,
        "seconds one plugin call may run before it counts as failed (0: no limit)",
        (_R, _J, _CEL),
        low=0,
        high=86400,
        default_doc=f"`{DURABLE_PLUGIN_TIMEOUT:g}` in journal and Celery modes; inline: no limit",
    ),
    Setting(
        "POSTMARK_LOAD_ENTRYPOINTS",
        "bool",
        True,
        "load plugins from the `postmark_kit` entry-point group",
        (_R,),
    ),
    Setting(
        "POSTMARK_PLUGINS",
        "list",
        (),
        "more plugins by import path, `pkg.mod` or `pkg.mod:Class`",
        (_R,),
        default_doc="none",
    ),
    Setting(
        "POSTMARK_LOG_EVENTS",
        "bool",
        False,
        "the logging plugin: one line per event",
        (_R,),
        standalone=True,
    ),
    Setting(
        "POSTMARK_EVENT_STORE",
        "str",
        None,
        "SQLite file every event is stored in (`''`: none)",
        (_R, _CON, _CLI),
        standalone="postmark-events.sqlite3",
    ),
    Setting(
        "POSTMARK_BLOCKED_SENDERS",
        "list",
        (),
        "inbound sender patterns to refuse and block",
        (_R,),
        default_doc="none",
    ),
    Setting(
        "POSTMARK_FLASK_APP",
        "str",
        None,
        "the host app (`pkg.mod:app` or `pkg.mod:create_app`) whose receiver runs events"
        " outside a request (Celery workers, `events replay --now`)",
        (_R, _CEL, _CLI),
    ),
    Setting(
        "POSTMARK_RECEIVER",
        "str",
        None,
        "which receiver of that app, by `name`, when it has several",
        (_CEL, _CLI),
        default_doc="the app's only receiver",
    ),
    # -- console and metrics
    Setting(
        "POSTMARK_CONSOLE",
        "bool",
        False,
        "serve the operator's console under `<prefix>/console/`",
        (_CON,),
    ),
    Setting(
        "POSTMARK_CONSOLE_USERNAME",
        "str",
        None,
        "the console's login (required with it; never the webhook's)",
        (_CON, _CLI),
    ),
    Setting(
        "POSTMARK_CONSOLE_PASSWORD",
        "secret",
        None,
        "the console's password (required with it; must differ from the webhook's)",
        (_CON, _CLI),
        secret=True,
    ),
    Setting(
        "POSTMARK_METRICS",
        "bool",
        False,
        "Prometheus metrics at `<prefix>/metrics` (`pip install 'postmark-kit[metrics]'`)",
        (_CON,),
    ),
    # -- journal mode
    Setting(
        "POSTMARK_JOURNAL",
        "str",
        _JOURNAL_FILE,
        "the journal file (SQLite; one per host, shared by its receiver processes)",
        (_J, _CON, _CLI),
        standalone=_JOURNAL_FILE,
        field="path",
    ),
    Setting(
        "POSTMARK_JOURNAL_MAX_ATTEMPTS",
        "int",
        8,
        "failures of one plugin on one event before it is dead-lettered",
        (_J,),
        low=1,
        high=1000,
    ),
    Setting(
        "POSTMARK_JOURNAL_RETRY_BASE",
        "float",
        5.0,
        "seconds before the first retry, doubled each time",
        (_J,),
        low=0,
        high=86400,
    ),
    Setting(
        "POSTMARK_JOURNAL_RETRY_MAX",
        "float",
        3600.0,
        "cap on the wait between retries, in seconds",
        (_J,),
        low=0,
        high=7 * 86400,
    ),
    Setting(
        "POSTMARK_JOURNAL_LEASE",
        "float",
        300.0,
        "seconds after which another worker takes over a claimed event",
        (_J,),
        low=1,
        high=86400,
    ),
    Setting(
        "POSTMARK_JOURNAL_POLL",
        "float",
        1.0,
        "seconds between looks for due retries and other processes' events",
        (_J,),
        low=0.001,
        high=3600,
    ),
    Setting(
        "POSTMARK_JOURNAL_WORKER",
        "bool",
        True,
        "run the worker thread in this process (off: it only journals)",
        (_J,),
    ),
    Setting(
        "POSTMARK_JOURNAL_RETENTION_DAYS",
        "float",
        7.0,
        "days finished events (and their dedupe keys) are kept",
        (_J,),
        low=0,
        high=36500,
    ),
    Setting(
        "POSTMARK_JOURNAL_MAX_DELAY",
        "float",
        600.0,
        "seconds a due event may wait for a worker before `/health` answers 503",
        (_J,),
        low=1,
        high=7 * 86400,
    ),
    Setting(
        "POSTMARK_JOURNAL_KEEP_BODY_BYTES",
        "size_or_all",
        None,
        "a finished event's body over this size is dropped from the journal",
        (_J,),
        low=0,
        high=2**40,
        default_doc=f"`{KEEP_BODY_WITH_STORE}` with an event store, else `all`",
    ),
    # -- Celery mode
    Setting(
        "POSTMARK_CELERY_BROKER",
        "redis_url",
        "redis://127.0.0.1:6379/0",
        "Celery broker (Redis)",
        (_CEL,),
        secret=True,
    ),
    Setting(
        "POSTMARK_CELERY_REDIS",
        "redis_url",
        None,
        "Redis for dedupe keys, per-plugin outcomes and dead letters",
        (_CEL,),
        secret=True,
        default_doc="the broker",
        field="redis_url",
    ),
    Setting(
        "POSTMARK_CELERY_QUEUE",
        "text",
        "postmark",
        "queue the tasks go to (start workers with `-Q` if you change it)",
        (_CEL,),
        required_text=True,
    ),
    Setting(
        "POSTMARK_CELERY_MAX_RETRIES",
        "int",
        8,
        "retries of a failing plugin before the dead-letter list",
        (_CEL,),
        low=0,
    ),
    Setting(
        "POSTMARK_CELERY_RETRY_BACKOFF",
        "float",
        10.0,
        "seconds before the first retry, doubled each time",
        (_CEL,),
        low=0,
    ),
    Setting(
        "POSTMARK_CELERY_VISIBILITY_TIMEOUT",
        "int",
        3600,
        "seconds before a dead worker's task goes to another; retry waits are capped at half",
        (_CEL,),
        low=1,
    ),
    Setting(
        "POSTMARK_CELERY_KEY_PREFIX",
        "text",
        "postmark-kit",
        "prefix of every Redis key this mode writes",
        (_CEL,),
    ),
    Setting(
        "POSTMARK_CELERY_TIME_LIMIT",
        "float",
        None,
        "soft time limit of one task, in seconds: raised in the running plugin (its failure)",
        (_CEL,),
        low=0.1,
        default_doc="half the visibility timeout",
    ),
    Setting(
        "POSTMARK_CELERY_REDIS_TIMEOUT",
        "float",
        5.0,
        "seconds the receiver (and `/health`) waits for Redis before a 503",
        (_CEL,),
        low=0.05,
    ),
    Setting(
        "POSTMARK_CELERY_LOCK_TIMEOUT",
        "float",
        30.0,
        "seconds a dead worker's per-event lock outlives it",
        (_CEL,),
        low=1,
    ),
    Setting(
        "POSTMARK_CELERY_STATE_WAIT",
        "float",
        30.0,
        "seconds a worker waits for Redis to come back before giving a task back",
        (_CEL,),
        low=0,
    ),
    Setting(
        "POSTMARK_CELERY_ALLOW_UNSAFE_REDIS",
        "bool",
        False,
        "skip the Redis durability check (no AOF, evicting policy, `CONFIG` disabled)",
        (_CEL,),
    ),
    Setting(
        "POSTMARK_DEDUPE_TTL",
        "int",
        7 * 24 * 3600,
        "seconds an event's key and its plugins' outcomes are kept (Postmark retries ~10 h)",
        (_CEL,),
        low=1,
        default_doc="`604800` (7 days)",
    ),
    # -- sending: the Flask and Django extensions
    Setting(
        "POSTMARK_DEFAULT_SENDER",
        "str",
        None,
        "`From` of messages that give none",
        (_F,),
    ),
    Setting(
        "POSTMARK_MESSAGE_STREAM",
        "str",
        None,
        "stream of messages that name none",
        (_F, _D),
        default_doc="none (Postmark's `outbound`)",
    ),
    Setting(
        "POSTMARK_TRACK_OPENS",
        "optional_bool",
        None,
        "default `TrackOpens` of messages that set none",
        (_F, _D),
        default_doc="none (the server's setting)",
    ),
    Setting(
        "POSTMARK_TRACK_LINKS",
        "choice",
        None,
        "default `TrackLinks` of messages that set none",
        (_F, _D),
        choices=("None", "HtmlAndText", "HtmlOnly", "TextOnly"),
        default_doc="none (the server's setting)",
    ),
    Setting(
        "POSTMARK_TIMEOUT",
        "str",
        None,
        "Django backend: seconds per request, or (connect, read)",
        (_D,),
        default_doc="the client's",
    ),
    Setting(
        "POSTMARK_RETRIES",
        "int",
        None,
        "Django backend: retries of what is safe to retry",
        (_D,),
        low=0,
        default_doc="the client's",
    ),
    # -- the command line
    Setting(
        "POSTMARK_KIT_DEBUG",
        "bool",
        False,
        "let an unexpected CLI error through with its traceback (for a bug report)",
        (_CLI,),
    ),
    Setting(
        "POSTMARK_FAKE_CONTROL",
        "str",
        None,
        "control API URL of a running `postmark-kit fake-server` (`fake-*` commands)",
        (_CLI,),
    ),
)

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
if len(_BY_NAME) != len(SETTINGS):  # pragma: no cover - a declaration mistake
    raise RuntimeError("a POSTMARK_* setting is declared twice")


def setting(name: str) -> Setting:
    """The declaration of ``name`` (``KeyError`` for an undeclared one)."""
    return _BY_NAME[name]


def env(name: str) -> str:
    """``name``, checked to be declared: for ``click.option(envvar=...)`` and the like."""
    return setting(name).name


def of(*components: str) -> tuple[Setting, ...]:
    """The settings read by any of ``components``, in declaration order."""
    return tuple(s for s in SETTINGS if set(s.components) & set(components))


def read(mapping: Mapping[str, Any], *components: str) -> dict[str, Any]:
    """Every declared setting of ``components`` (all: none given) read from ``mapping``.

    Values are checked and converted; unset ones take their defaults.  The
    first bad value raises :class:`ConfigError` naming the setting.
    """
    chosen = of(*components) if components else SETTINGS
    return {s.name: s.read(mapping) for s in chosen}


def _strings(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


def _name_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@attrs.frozen
class SettingFields:
    """The settings of ``components`` as the keyword arguments of a class.

    Each setting feeds the field named by its :attr:`Setting.field`, so a new
    setting is declared once, in :data:`SETTINGS`, plus the field that holds it.
    What does not follow that rule is said here, and :meth:`problems` (run by the
    tests) checks the class against it:

    * ``computed``: the class's fields that no setting feeds by name: the
      reader works them out (``ReceiverConfig.proxy_networks``, ``raw``);
    * ``elsewhere``: settings of ``components`` the class does not hold, read
      by other code (``POSTMARK_PLUGIN_TIMEOUT``: the dispatcher's).
    """

    components: tuple[str, ...] = attrs.field(converter=_strings)
    computed: frozenset[str] = attrs.field(default=frozenset(), converter=_name_set)
    elsewhere: frozenset[str] = attrs.field(default=frozenset(), converter=_name_set)

    def read(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """:func:`read` of these components: name -> checked value."""
        return read(mapping, *self.components)

    def kwargs(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """Field -> value for each setting of ``value`` (:meth:`read`'s result) but
        those read elsewhere: the class's keyword arguments, bar the computed ones."""
        return {_BY_NAME[name].field: v for name, v in value.items() if name not in self.elsewhere}

    def problems(self, cls: type) -> list[str]:
        """Where ``cls`` and this mapping disagree (empty: every field of ``cls`` is
        fed or computed, every setting of the components held or read elsewhere)."""
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = inspect.signature(cls).parameters.values()
        fields = {p.name for p in params if p.kind in keyword}
        chosen = of(*self.components)
        held = [s for s in chosen if s.name not in self.elsewhere]
        fed = {s.field for s in held}
        name = cls.__name__
        found = [
            f"{s.name} feeds {name}.{s.field}, which is no field of it"
            " (add the field, or list the setting as read elsewhere)"
            for s in held
            if s.field not in fields
        ]
        found += [
            f"{name}.{field} is fed by two settings: "
            + " and ".join(s.name for s in held if s.field == field)
            for field in sorted(fed)
            if sum(s.field == field for s in held) > 1
        ]
        found += [
            f"{name}.{field} is fed by no setting of {', '.join(self.components)}"
            " (declare one with this field, or list the field as computed)"
            for field in sorted(fields - fed - self.computed)
        ]
        found += [
            f"{setting_name} is listed as read elsewhere but is no setting of"
            f" {', '.join(self.components)}"
            for setting_name in sorted(self.elsewhere - {s.name for s in chosen})
        ]
        found += [
            f"{name}.{field} is listed as computed but "
            + ("a setting feeds it" if field in fed else "is no field of it")
            for field in sorted((self.computed & fed) | (self.computed - fields))
        ]
        return found


def default(name: str) -> Any:
    """The setting ``name``'s default as read (parsed): an attrs field's default."""
    return setting(name).parse(None)


def defaults(*components: str) -> dict[str, Any]:
    """Name -> default of the settings of ``components`` (all: none given)."""
    return {s.name: s.default for s in (of(*components) if components else SETTINGS)}


def standalone_defaults() -> dict[str, Any]:
    """What the standalone receiver sets unless told otherwise (journal, log, store)."""
    return {s.name: s.standalone for s in SETTINGS if s.standalone is not None}


def markdown_table(*components: str, readers: bool = False) -> str:
    """The docs' table of the settings of ``components`` (all: none given).

    Generated, never hand-edited: ``python docs/settings_tables.py`` writes it
    into the pages, and a test fails when a page's copy is stale.  ``readers``
    adds a column naming the components that read each setting.
    """
    head = ["Setting", "Default", "Allowed", "Meaning"] + (["Read by"] if readers else [])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in of(*components) if components else SETTINGS:
        cells = [f"`{s.name}`", s.default_text(), s.allowed(), s.doc]
        if readers:
            cells.append(", ".join(s.components))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
