"""The two clients: one per kind of Postmark token.

``ServerClient`` holds a *server* token (sending, bounces, messages, stats,
templates, ...); ``AccountClient`` an *account* token (servers, domains,
sender signatures, template push, data removals).  Each owns one pooled
``requests.Session``; close it with :meth:`close` or a ``with`` block.

A client is safe to share between threads: calls keep no per-call state on
it, its pool keeps up to ``POOL_SIZE`` (32) connections open for reuse (8
threads each walking or sending at the default concurrency of 4; beyond that,
extra connections are closed after use), and a 429 seen by any thread makes
every thread wait (``transport.throttle``).  Create one per process and reuse
it; do not create one per request.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import requests

from .api.bounces import BouncesApi
from .api.data_removals import DataRemovalsApi
from .api.domains import DomainsApi
from .api.email import EmailApi
from .api.inbound_rules import InboundRulesApi
from .api.message_streams import MessageStreamsApi
from .api.messages import InboundApi, OutboundApi
from .api.senders import SendersApi
from .api.server import ServerApi
from .api.servers import ServersApi
from .api.stats import StatsApi
from .api.suppressions import SuppressionsApi
from .api.templates import AccountTemplatesApi, TemplatesApi
from .api.webhooks import WebhooksApi
from .transport import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, RetryPolicy, Transport

__all__ = ["TEST_SERVER_TOKEN", "AccountClient", "ServerClient"]

#: Postmark's special server token: sends are validated, never delivered.
TEST_SERVER_TOKEN = "POSTMARK_API_TEST"  # noqa: S105 - documented public value


class _BaseClient:
    _token_header: str
    #: The constructor argument holding the token, named in errors (never the value).
    _token_name: str

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._transport = Transport(
            token,
            token_header=self._token_header,
            token_name=self._token_name,
            base_url=base_url,
            timeout=timeout,
            retries=retries,
            session=session,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def session(self) -> requests.Session:
        """The pooled session (shared by every call of this client)."""
        return self._transport.session

    def close(self) -> None:
        """Close the pooled connections (not a session passed in by the caller)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class ServerClient(_BaseClient):
    """Client for one Postmark server, authenticated with its server API token."""

    _token_header = "X-Postmark-Server-Token"  # noqa: S105 - a header name
    _token_name = "server_token"  # noqa: S105 - an argument name

    def __init__(
        self,
        server_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(
            server_token, base_url=base_url, timeout=timeout, retries=retries, session=session
        )
        t = self._transport
        self.email = EmailApi(t)
        self.outbound = OutboundApi(t)
        self.inbound = InboundApi(t)
        self.bounces = BouncesApi(t)
        self.stats = StatsApi(t)
        self.inbound_rules = InboundRulesApi(t)
        self.templates = TemplatesApi(t)
        self.server = ServerApi(t)
        self.message_streams = MessageStreamsApi(t)
        self.webhooks = WebhooksApi(t)
        self.suppressions = SuppressionsApi(t)


class AccountClient(_BaseClient):
    """Client for account-wide management, authenticated with the account API token."""

    _token_header = "X-Postmark-Account-Token"  # noqa: S105 - a header name
    _token_name = "account_token"  # noqa: S105 - an argument name

    def __init__(
        self,
        account_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(
            account_token, base_url=base_url, timeout=timeout, retries=retries, session=session
        )
        self.templates = AccountTemplatesApi(self._transport)
        self.servers = ServersApi(self._transport)
        self.domains = DomainsApi(self._transport)
        self.senders = SendersApi(self._transport)
        self.data_removals = DataRemovalsApi(self._transport)
