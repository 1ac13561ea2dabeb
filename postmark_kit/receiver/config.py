"""Receiver settings: ``POSTMARK_*`` keys from a Flask config, a dict or the environment.

Every setting is declared once, in :mod:`postmark_kit.settings`; this module
reads the receiver's and adds the checks that involve two settings.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import attrs

from .. import settings as _settings
from ..settings import POSTMARK_WEBHOOK_IPS, ConfigError, as_bool, as_int, secret

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

#: Every receiver setting with its default (drop-in use; the standalone app
#: adds a journal and a store): derived from :data:`postmark_kit.settings.SETTINGS`.
DEFAULTS: dict[str, Any] = _settings.defaults("receiver", "console", "journal")

_bool = as_bool
_int = as_int


def _default(name: str) -> Any:
    """A field's default: the declared one, as read."""
    return _settings.setting(name).parse(None)


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
    max_body_bytes: int = _default("POSTMARK_MAX_BODY_BYTES")
    failure_status: int = _default("POSTMARK_FAILURE_STATUS")
    url_prefix: str = _default("POSTMARK_URL_PREFIX")
    per_type_endpoints: bool = _default("POSTMARK_PER_TYPE_ENDPOINTS")
    dispatch: str = _default("POSTMARK_DISPATCH")
    load_entrypoints: bool = _default("POSTMARK_LOAD_ENTRYPOINTS")
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
        value = _settings.read(raw, "receiver", "console")
        secret_header = value["POSTMARK_WEBHOOK_SECRET_HEADER"]
        if (secret_header is None) != (value["POSTMARK_WEBHOOK_SECRET_VALUE"] is None):
            raise ConfigError(
                "set both POSTMARK_WEBHOOK_SECRET_HEADER and POSTMARK_WEBHOOK_SECRET_VALUE"
            )
        username = value["POSTMARK_WEBHOOK_USERNAME"]
        password = value["POSTMARK_WEBHOOK_PASSWORD"]
        if (username is None) != (password is None):
            raise ConfigError("set both POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK_PASSWORD")
        failure = value["POSTMARK_FAILURE_STATUS"]
        if failure != 200 and not 500 <= failure <= 599:
            raise ConfigError(
                "POSTMARK_FAILURE_STATUS must be a 5xx (Postmark retries) or 200 (drop)"
            )
        console = value["POSTMARK_CONSOLE"]
        console_username = value["POSTMARK_CONSOLE_USERNAME"]
        console_password = value["POSTMARK_CONSOLE_PASSWORD"]
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
        proxies, proxy_networks = value["POSTMARK_TRUSTED_PROXIES"]
        return cls(
            server_token=value["POSTMARK_SERVER_TOKEN"],
            base_url=value["POSTMARK_BASE_URL"],
            webhook_username=username,
            webhook_password=password,
            secret_header=secret_header,
            secret_value=value["POSTMARK_WEBHOOK_SECRET_VALUE"],
            allowed_ips=value["POSTMARK_ALLOWED_IPS"],
            trusted_proxies=proxies,
            proxy_networks=proxy_networks,
            max_body_bytes=value["POSTMARK_MAX_BODY_BYTES"],
            failure_status=failure,
            url_prefix=value["POSTMARK_URL_PREFIX"],
            per_type_endpoints=value["POSTMARK_PER_TYPE_ENDPOINTS"],
            dispatch=value["POSTMARK_DISPATCH"],
            load_entrypoints=value["POSTMARK_LOAD_ENTRYPOINTS"],
            plugins=value["POSTMARK_PLUGINS"],
            log_events=value["POSTMARK_LOG_EVENTS"],
            event_store=value["POSTMARK_EVENT_STORE"],
            blocked_senders=value["POSTMARK_BLOCKED_SENDERS"],
            console=console,
            console_username=console_username,
            console_password=console_password,
            metrics=value["POSTMARK_METRICS"],
            insecure_no_auth=value["POSTMARK_INSECURE_NO_AUTH"],
            raw=raw,
        )


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every ``POSTMARK_*`` variable of the environment (strings; checked later)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith("POSTMARK_")}
