"""Receiver settings: ``POSTMARK_*`` keys from a Flask config, a dict or the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "DEFAULTS",
    "POSTMARK_WEBHOOK_IPS",
    "ConfigError",
    "ReceiverConfig",
    "as_bool",
    "as_int",
    "config_from_env",
    "secret",
]

#: Postmark's published webhook source IPs (they can change: check Postmark's
#: "IPs for firewalls" article).  ``POSTMARK_ALLOWED_IPS=postmark`` uses them.
POSTMARK_WEBHOOK_IPS = ("3.134.147.250", "50.31.156.6", "50.31.156.77", "18.217.206.57")

#: Every setting with its default (drop-in use; the standalone app adds a store).
DEFAULTS: dict[str, Any] = {
    "POSTMARK_SERVER_TOKEN": None,
    "POSTMARK_BASE_URL": None,
    "POSTMARK_WEBHOOK_USERNAME": None,
    "POSTMARK_WEBHOOK_PASSWORD": None,
    "POSTMARK_WEBHOOK_SECRET_HEADER": None,
    "POSTMARK_WEBHOOK_SECRET_VALUE": None,
    "POSTMARK_ALLOWED_IPS": None,
    # The standalone app (create_app, serve) refuses to run without auth unless this is true.
    "POSTMARK_INSECURE_NO_AUTH": False,
    # A count (proxies on this host) or the proxies' addresses/networks.
    "POSTMARK_TRUSTED_PROXIES": 0,
    # Inbound: 35 MB of attachments is ~47 MB of base64 JSON.
    "POSTMARK_MAX_BODY_BYTES": 50 * 1024 * 1024,
    "POSTMARK_FAILURE_STATUS": 503,
    "POSTMARK_URL_PREFIX": "/postmark",
    "POSTMARK_PER_TYPE_ENDPOINTS": True,
    "POSTMARK_DISPATCH": "inline",
    # Journal mode (see postmark_kit.receiver.journal.JournalSettings for defaults).
    "POSTMARK_JOURNAL": None,
    "POSTMARK_JOURNAL_MAX_ATTEMPTS": None,
    "POSTMARK_JOURNAL_RETRY_BASE": None,
    "POSTMARK_JOURNAL_RETRY_MAX": None,
    "POSTMARK_JOURNAL_LEASE": None,
    "POSTMARK_JOURNAL_POLL": None,
    "POSTMARK_JOURNAL_WORKER": None,
    "POSTMARK_JOURNAL_RETENTION_DAYS": None,
    "POSTMARK_JOURNAL_MAX_DELAY": None,
    "POSTMARK_JOURNAL_KEEP_BODY_BYTES": None,
    # Seconds one plugin call may run (0: no limit); see dispatch.PluginRunner.
    "POSTMARK_PLUGIN_TIMEOUT": None,
    "POSTMARK_LOAD_ENTRYPOINTS": True,
    "POSTMARK_PLUGINS": None,
    "POSTMARK_LOG_EVENTS": False,
    "POSTMARK_EVENT_STORE": None,
    "POSTMARK_BLOCKED_SENDERS": None,
    # The operator's console (<prefix>/console) and its own login.
    "POSTMARK_CONSOLE": False,
    "POSTMARK_CONSOLE_USERNAME": None,
    "POSTMARK_CONSOLE_PASSWORD": None,
    # Prometheus metrics at <prefix>/metrics (needs prometheus_client).
    "POSTMARK_METRICS": False,
}


class ConfigError(ValueError):
    """A ``POSTMARK_*`` setting with a value the receiver cannot use."""


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


def as_int(name: str, value: Any, low: int, high: int) -> int:
    """An integer setting between ``low`` and ``high`` (``ConfigError`` else)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
    return number


_bool = as_bool
_int = as_int


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    items = _list(value)
    if not items:
        return None
    nets = []
    for item in items:
        names: Iterable[str] = POSTMARK_WEBHOOK_IPS if item.lower() == "postmark" else (item,)
        for name in names:
            try:
                nets.append(ipaddress.ip_network(name, strict=False))
            except ValueError:
                raise ConfigError(f"POSTMARK_ALLOWED_IPS: not an IP or network: {name!r}") from None
    return tuple(nets)


def _proxies(
    value: Any,
) -> tuple[int, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None]:
    """``POSTMARK_TRUSTED_PROXIES``: a count (proxies on loopback) or addresses/networks."""
    name = "POSTMARK_TRUSTED_PROXIES"
    if value is None or isinstance(value, int) or str(value).strip().lstrip("-").isdigit():
        return _int(name, 0 if value is None else value, 0, 32), None
    nets = []
    for item in _list(value):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name}: give a number of proxies or their addresses, got {item!r}"
            ) from None
    return (32, tuple(nets)) if nets else (0, None)


def _header_name(value: str | None) -> str | None:
    """A secret header name every hop passes on: an HTTP token without underscores."""
    if value is None:
        return None
    name = value.strip()
    if "_" in name:
        raise ConfigError(
            f"POSTMARK_WEBHOOK_SECRET_HEADER {name!r} has an underscore: nginx, gunicorn and"
            " other proxies drop such headers, so every webhook would be refused. Use a"
            f" hyphen: {name.replace('_', '-')!r}"
        )
    if not name or any(c in name for c in ' \t:()<>@,;"/[]?={}') or not name.isascii():
        raise ConfigError(f"POSTMARK_WEBHOOK_SECRET_HEADER is not a header name: {name!r}")
    return name


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


@attrs.frozen
class ReceiverConfig:
    """The validated settings (secrets never in ``repr``)."""

    server_token: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    webhook_username: str | None = None
    webhook_password: str | None = attrs.field(default=None, repr=False)
    secret_header: str | None = None
    secret_value: str | None = attrs.field(default=None, repr=False)
    allowed_ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    #: Proxy hops whose X-Forwarded-For entries are read (0: the header is ignored).
    trusted_proxies: int = 0
    #: The trusted proxies' addresses; ``None``: a count was given, proxies on loopback.
    proxy_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    max_body_bytes: int = DEFAULTS["POSTMARK_MAX_BODY_BYTES"]
    failure_status: int = 503
    url_prefix: str = "/postmark"
    per_type_endpoints: bool = True
    dispatch: str = "inline"
    load_entrypoints: bool = True
    plugins: tuple[str, ...] = ()
    log_events: bool = False
    event_store: str | None = None
    blocked_senders: tuple[str, ...] = ()
    console: bool = False
    console_username: str | None = None
    console_password: str | None = attrs.field(default=None, repr=False)
    metrics: bool = False
    #: The standalone receiver may run with no authentication (it refuses otherwise).
    insecure_no_auth: bool = False
    #: Every POSTMARK_* key as given (plugins read their own settings here).
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def basic_auth(self) -> bool:
        return self.webhook_username is not None or self.webhook_password is not None

    @property
    def secret_auth(self) -> bool:
        return self.secret_header is not None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ReceiverConfig:
        """Read and check the ``POSTMARK_*`` keys of ``mapping`` (a Flask config, a dict)."""
        raw = {**DEFAULTS, **{k: v for k, v in mapping.items() if k.startswith("POSTMARK_")}}
        secret_header = _header_name(_opt(raw["POSTMARK_WEBHOOK_SECRET_HEADER"]))
        secret_value = secret("POSTMARK_WEBHOOK_SECRET_VALUE", raw["POSTMARK_WEBHOOK_SECRET_VALUE"])
        if (secret_header is None) != (secret_value is None):
            raise ConfigError(
                "set both POSTMARK_WEBHOOK_SECRET_HEADER and POSTMARK_WEBHOOK_SECRET_VALUE"
            )
        username = secret("POSTMARK_WEBHOOK_USERNAME", raw["POSTMARK_WEBHOOK_USERNAME"])
        password = secret("POSTMARK_WEBHOOK_PASSWORD", raw["POSTMARK_WEBHOOK_PASSWORD"])
        if (username is None) != (password is None):
            raise ConfigError("set both POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK_PASSWORD")
        failure = _int("POSTMARK_FAILURE_STATUS", raw["POSTMARK_FAILURE_STATUS"], 200, 599)
        if failure != 200 and not 500 <= failure <= 599:
            raise ConfigError(
                "POSTMARK_FAILURE_STATUS must be a 5xx (Postmark retries) or 200 (drop)"
            )
        console = _bool("POSTMARK_CONSOLE", raw["POSTMARK_CONSOLE"])
        console_username = _opt(raw["POSTMARK_CONSOLE_USERNAME"])
        console_password = _opt(raw["POSTMARK_CONSOLE_PASSWORD"])
        if console and (console_username is None or console_password is None):
            raise ConfigError(
                "POSTMARK_CONSOLE needs its own POSTMARK_CONSOLE_USERNAME and"
                " POSTMARK_CONSOLE_PASSWORD"
            )
        if console and console_password == password:
            # Whoever can post webhooks must not be able to replay or read them all.
            raise ConfigError(
                "POSTMARK_CONSOLE_PASSWORD must differ from POSTMARK_WEBHOOK_PASSWORD"
            )
        proxies = _proxies(raw["POSTMARK_TRUSTED_PROXIES"])
        prefix = str(raw["POSTMARK_URL_PREFIX"] or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        return cls(
            server_token=secret("POSTMARK_SERVER_TOKEN", raw["POSTMARK_SERVER_TOKEN"]),
            base_url=_opt(raw["POSTMARK_BASE_URL"]),
            webhook_username=username,
            webhook_password=password,
            secret_header=secret_header,
            secret_value=secret_value,
            allowed_ips=_networks(raw["POSTMARK_ALLOWED_IPS"]),
            trusted_proxies=proxies[0],
            proxy_networks=proxies[1],
            max_body_bytes=_int(
                "POSTMARK_MAX_BODY_BYTES", raw["POSTMARK_MAX_BODY_BYTES"], 1, 2**40
            ),
            failure_status=failure,
            url_prefix=prefix,
            per_type_endpoints=_bool(
                "POSTMARK_PER_TYPE_ENDPOINTS", raw["POSTMARK_PER_TYPE_ENDPOINTS"]
            ),
            dispatch=str(raw["POSTMARK_DISPATCH"] or "inline").strip().lower(),
            load_entrypoints=_bool("POSTMARK_LOAD_ENTRYPOINTS", raw["POSTMARK_LOAD_ENTRYPOINTS"]),
            plugins=tuple(_list(raw["POSTMARK_PLUGINS"])),
            log_events=_bool("POSTMARK_LOG_EVENTS", raw["POSTMARK_LOG_EVENTS"]),
            event_store=_opt(raw["POSTMARK_EVENT_STORE"]),
            blocked_senders=tuple(_list(raw["POSTMARK_BLOCKED_SENDERS"])),
            console=console,
            console_username=console_username,
            console_password=console_password,
            metrics=_bool("POSTMARK_METRICS", raw["POSTMARK_METRICS"]),
            insecure_no_auth=_bool(
                "POSTMARK_INSECURE_NO_AUTH", raw["POSTMARK_INSECURE_NO_AUTH"] or False
            ),
            raw=raw,
        )


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every ``POSTMARK_*`` variable of the environment (strings; checked later)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith("POSTMARK_")}
