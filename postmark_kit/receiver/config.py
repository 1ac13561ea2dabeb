"""Receiver settings: ``POSTMARK_*`` keys from a Flask config, a dict or the environment.

Every setting is declared once, in :mod:`postmark_kit.settings`; this module
reads the receiver's and adds the checks that involve two settings.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, ClassVar

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
    max_body_bytes: int = _settings.default("POSTMARK_MAX_BODY_BYTES")
    failure_status: int = _settings.default("POSTMARK_FAILURE_STATUS")
    url_prefix: str = _settings.default("POSTMARK_URL_PREFIX")
    per_type_endpoints: bool = _settings.default("POSTMARK_PER_TYPE_ENDPOINTS")
    dispatch: str = _settings.default("POSTMARK_DISPATCH")
    load_entrypoints: bool = _settings.default("POSTMARK_LOAD_ENTRYPOINTS")
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

    #: Which settings feed which fields (each its :attr:`~postmark_kit.settings.Setting.field`).
    setting_fields: ClassVar[_settings.SettingFields] = _settings.SettingFields(
        ("receiver", "console"),
        # POSTMARK_TRUSTED_PROXIES is a count or networks: the reader splits it.
        computed=("proxy_networks", "raw"),
        elsewhere=(
            "POSTMARK_PLUGIN_TIMEOUT",  # dispatch.plugin_timeout, per mode
            "POSTMARK_FLASK_APP",  # Celery workers and the CLI find the app with it
            "POSTMARK_JOURNAL",  # JournalSettings (the console opens it too)
        ),
    )

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
        fields = cls.setting_fields.kwargs(cls.setting_fields.read(raw))
        if (fields["secret_header"] is None) != (fields["secret_value"] is None):
            raise ConfigError(
                "set both POSTMARK_WEBHOOK_SECRET_HEADER and POSTMARK_WEBHOOK_SECRET_VALUE"
            )
        password = fields["webhook_password"]
        if (fields["webhook_username"] is None) != (password is None):
            raise ConfigError("set both POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK_PASSWORD")
        failure = fields["failure_status"]
        if failure != 200 and not 500 <= failure <= 599:
            raise ConfigError(
                "POSTMARK_FAILURE_STATUS must be a 5xx (Postmark retries) or 200 (drop)"
            )
        console, console_password = fields["console"], fields["console_password"]
        if console and (fields["console_username"] is None or console_password is None):
            raise ConfigError(
                "POSTMARK_CONSOLE needs its own POSTMARK_CONSOLE_USERNAME and"
                " POSTMARK_CONSOLE_PASSWORD"
            )
        if console and console_password == password:
            # Whoever can post webhooks must not be able to replay or read them all.
            raise ConfigError(
                "POSTMARK_CONSOLE_PASSWORD must differ from POSTMARK_WEBHOOK_PASSWORD"
            )
        fields["trusted_proxies"], fields["proxy_networks"] = fields["trusted_proxies"]
        return cls(**fields, raw=raw)


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every ``POSTMARK_*`` variable of the environment (strings; checked later)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith("POSTMARK_")}
