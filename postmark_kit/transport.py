"""HTTP transport: the one pooled ``requests.Session``, auth, timeouts, retries, errors.

Every API call of every area goes through :meth:`Transport.request`, so the
policy on what is retried and how errors look is decided once, here.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import socket
import ssl
import time
import traceback
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import requests
import urllib3.exceptions

from . import errors
from ._version import __version__
from .concurrency import POOL_SIZE, Throttle

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "RetryPolicy", "Transport"]

log = logging.getLogger("postmark_kit")

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
#: (connect, read) seconds.  Postmark answers most calls in well under a second;
#: the read timeout leaves room for 500-message batches.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
USER_AGENT = f"postmark-kit/{__version__} {requests.utils.default_user_agent()}"
#: Methods that always carry a JSON body (``{}`` when the call has nothing to send).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@attrs.define(frozen=True)
class RetryPolicy:
    """What is retried, how often, and how long to wait.

    * Idempotent calls (GET, PUT, PATCH, DELETE) are retried on connection
      errors, timeouts, the statuses in ``retry_statuses`` (429 and 5xx).
    * Non-idempotent calls (every POST: sends, creates) are retried only when
      Postmark certainly did not act on them: a failure to connect, or a 429.
      A duplicate email is worse than an error, so a POST that timed out while
      reading, or got a 5xx, is never repeated.
    * Waits grow as ``backoff_factor * 2**attempt`` capped at ``max_backoff``,
      with full jitter; a ``Retry-After`` header is honoured (capped the same).

    ``RetryPolicy(max_retries=0)`` turns retries off.
    """

    max_retries: int = 3
    backoff_factor: float = 0.5
    max_backoff: float = 30.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    respect_retry_after: bool = True
    #: Injected for tests; defaults to ``time.sleep``.
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and self.respect_retry_after:
            return min(max(retry_after, 0.0), self.max_backoff)
        ceiling = min(self.max_backoff, self.backoff_factor * (2**attempt))
        return random.uniform(0, ceiling)


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a finite number >= 0, or ``None`` when absent or unusable.

    ``nan``, ``inf`` and garbage are ignored; a negative delay or a date in the
    past is 0.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _is_read_timeout(exc: requests.RequestException) -> bool:
    reason: Any = exc.args[0] if exc.args else None
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(
        reason,
        urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError,
    )


def _network_reason(exc: requests.RequestException) -> str:
    """Why a connection failed, in words a user can act on (never quoting headers)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = current.args[0] if current.args else None
        if not isinstance(inner, BaseException):
            inner = current.__cause__ or current.__context__
        current = inner
    for link in chain:
        if isinstance(
            link, requests.exceptions.SSLError | urllib3.exceptions.SSLError | ssl.SSLError
        ):
            detail = next(
                (str(x.reason) for x in chain if isinstance(x, ssl.SSLError) and x.reason), ""
            )
            return f"TLS handshake failed{f' ({detail})' if detail else ''}"
    for link in chain:
        if isinstance(link, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return "DNS lookup failed (no such host?)"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(link, urllib3.exceptions.ProtocolError) and "RemoteDisconnected" in str(link):
            return "the server closed the connection without answering"
    for link in reversed(chain):
        if isinstance(link, OSError) and link.strerror:
            return link.strerror[:1].lower() + link.strerror[1:]
    return f"connection failed ({type(exc).__name__})"


def _check_secret(value: object, name: str) -> None:
    """Refuse a token that would not work as a header value, naming ``name``, never the value.

    An env file with CRLF endings leaves a ``\\r`` on the token: requests would
    refuse it at the first call with the value in its message.
    """
    if not isinstance(value, str) or not value:
        raise errors.ClientValidationError(f"{name} is required (a non-empty string)")
    if value != value.strip():
        raise errors.ClientValidationError(
            f"{name} has leading or trailing whitespace or a line break (CR/LF): "
            "check how it is loaded (an env file with CRLF endings?)"
        )
    if not value.isprintable() or not value.isascii():
        raise errors.ClientValidationError(
            f"{name} contains a control character or a non-ASCII character"
        )


class Transport:
    """Sends requests for one token.  Owned by a client; shared by its API areas."""

    def __init__(
        self,
        token: str,
        *,
        token_header: str,
        token_name: str = "token",  # noqa: S107 - an argument name
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        _check_secret(token, token_name)
        if timeout is None:
            raise errors.ClientValidationError("a timeout is required (connect, read)")
        self._token = token
        self._token_header = token_header
        self.base_url = base_url.rstrip("/")
        # Named in network errors: host and port only (never userinfo).
        parts = urllib.parse.urlsplit(self.base_url)
        self._host = f"{parts.hostname or self.base_url}{f':{parts.port}' if parts.port else ''}"
        self.timeout = timeout
        if retries is None:
            retries = RetryPolicy()
        elif isinstance(retries, int):
            retries = RetryPolicy(max_retries=retries)
        self.retry_policy = retries
        self._owns_session = session is None
        if session is None:
            # One long-lived pool, big enough for several threads each running
            # a concurrent walk or batch (requests' default keeps 10: a full
            # pool closes every connection beyond it after one call).
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            # Read the proxy and CA-bundle variables once, as httpx does: with
            # trust_env on, Session.request scans all of os.environ (and
            # ~/.netrc) on every call.  Every call goes to base_url's host.
            env = session.merge_environment_settings(self.base_url + "/", {}, None, None, None)
            session.trust_env = False
            self._env_proxies: dict[str, str] | None = dict(env["proxies"] or {})
            verify = env["verify"]
            # A CA-bundle path or None (the session's own verify, True by
            # default); never False.
            self._env_verify: str | None = verify if isinstance(verify, str) and verify else None
        else:
            # The caller's session is used as given: requests reads the
            # environment per call (if its trust_env says so), as without us.
            self._env_proxies = None
            self._env_verify = None
        self.session = session
        #: Shared by every call of this transport, whatever thread makes it.
        self.throttle = Throttle()
        self._headers = {
            token_header: token,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    def __repr__(self) -> str:  # the token is deliberately absent
        return f"<Transport {self.base_url} header={self._token_header}>"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one API call and return its decoded JSON.

        ``json_body`` is serialised here; ``body`` is pre-serialised JSON bytes.
        ``idempotent`` defaults from the HTTP method (POST is not).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        elif body is None and method in _BODY_METHODS:
            body = b"{}"  # as the official clients: Postmark wants a JSON body on these
        headers = self._json_headers if body is not None else self._headers
        url = self.base_url + path
        policy = self.retry_policy
        attempt = 0
        throttle = self.throttle
        covered = 0  # the client-wide pause this call already waited out
        while True:
            retry_after: float | None = None
            cause: BaseException | None = None
            wait = throttle.pause(covered)
            if wait > 0:
                # Another thread of this client was told to slow down: so are we.
                policy.sleep(wait)
            try:
                # The session's own request(): a Session subclass (OAuth, base
                # URL, instrumentation) passed by the caller is honoured as is.
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                    # Postmark never redirects; requests would re-send our
                    # token header (it strips only Authorization) to any host.
                    allow_redirects=False,
                    **self._send_settings(),
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                cause = exc
                failure, sent = self._connection_failure(exc, method, path)
                retryable = idempotent or not sent
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                # The answer broke off mid-body (Content-Length not reached, bad
                # chunking): Postmark did act, so only idempotent calls repeat.
                cause = exc
                failure = errors.InvalidResponseError(
                    f"the response body was cut off or undecodable: {type(exc).__name__}",
                    method=method,
                    path=path,
                )
                retryable = idempotent
            except requests.RequestException as exc:
                # Some of these quote the request's headers (InvalidHeader):
                # the error is raised outside this block, so neither __cause__
                # nor __context__ carries the token.
                failure = errors.TransportError(
                    f"request failed: {type(exc).__name__}", method=method, path=path
                )
                retryable = False
            except OSError as exc:
                # requests raises a bare OSError for a CA bundle or client
                # certificate it cannot read (REQUESTS_CA_BUNDLE, verify=, cert=).
                failure = errors.TransportError(
                    "request failed: the TLS CA bundle or client certificate could not "
                    f"be read ({type(exc).__name__}); check verify/cert and "
                    "REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE",
                    method=method,
                    path=path,
                )
                retryable = False
            else:
                status = response.status_code
                if status < 300:
                    return self._decode(response, method, path)
                failure = self._api_error(response, method, path)
                retry_after = getattr(failure, "retry_after", None)
                retryable = status in policy.retry_statuses and (idempotent or status == 429)
            if not retryable or attempt >= policy.max_retries:
                if isinstance(failure, errors.RateLimitError):
                    throttle.note_rate_limit(min(retry_after or 0.0, policy.max_backoff))
                raise failure from self._safe_cause(cause)
            delay = policy.backoff(attempt, retry_after)
            if isinstance(failure, errors.RateLimitError):
                # Every thread of this client waits, not just this one.
                covered = throttle.note_rate_limit(delay)
            log.warning(
                "postmark %s %s failed (%s); retry %d/%d in %.2fs",
                method,
                path,
                failure,
                attempt + 1,
                policy.max_retries,
                delay,
            )
            policy.sleep(delay)
            attempt += 1

    def _send_settings(self) -> dict[str, Any]:
        """The environment's proxies and CA bundle, resolved at creation, for our own session.

        What is set on ``self.session`` itself (``proxies``, ``verify``) wins,
        as an explicit setting should; a caller's session gets nothing extra.
        """
        env_proxies = self._env_proxies
        if env_proxies is None:
            return {}
        session = self.session
        settings: dict[str, Any] = {"proxies": {**env_proxies, **session.proxies}}
        if self._env_verify is not None and session.verify is True:
            settings["verify"] = self._env_verify
        return settings

    def _safe_cause(self, cause: BaseException | None) -> BaseException | None:
        """``cause`` without the token: left out if its text quotes it, redacted where held.

        requests' exceptions keep the prepared request, headers and all: the
        token header is redacted there (the request is this call's own).
        """
        if cause is None:
            return None
        if self._token in "".join(traceback.format_exception(cause)):
            return None
        seen: set[int] = set()
        current: BaseException | None = cause
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            for holder in (current, getattr(current, "response", None)):
                headers = getattr(getattr(holder, "request", None), "headers", None)
                if headers is not None and self._token_header in headers:
                    headers[self._token_header] = "[redacted]"
            current = current.__cause__ or current.__context__
        return cause

    def _connection_failure(
        self, exc: requests.RequestException, method: str, path: str
    ) -> tuple[errors.PostmarkError, bool]:
        """Map a requests timeout/connection error; also say whether it may have been sent.

        requests reports a read timeout that strikes while the *body* is being
        read as ``ConnectionError(ReadTimeoutError)``, not as ``ReadTimeout``:
        it is still a read timeout after the request went out.
        """
        if isinstance(exc, requests.Timeout) or _is_read_timeout(exc):
            sent = not isinstance(exc, requests.ConnectTimeout)
            return (
                errors.RequestTimeoutError(
                    f"{self._host}: {'read' if sent else 'connect'} timeout after {self.timeout}s",
                    may_have_been_sent=sent,
                    method=method,
                    path=path,
                ),
                sent,
            )
        sent = not _never_connected(exc)
        return (
            errors.NetworkError(
                f"cannot reach {self._host}: {_network_reason(exc)}",
                may_have_been_sent=sent,
                method=method,
                path=path,
            ),
            sent,
        )

    @staticmethod
    def _decode(response: requests.Response, method: str, path: str) -> Any:
        """The decoded JSON body; ``None`` when empty (a caller expecting a body refuses it)."""
        content = response.content
        if not content:
            return None
        try:
            return json.loads(content)
        except (ValueError, RecursionError) as exc:
            # RecursionError: nested past what the decoder recurses into.
            problem = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            error = errors.InvalidResponseError(
                f"HTTP {response.status_code} with a body that is {problem} ({len(content)} bytes)",
                method=method,
                path=path,
            )
        raise error

    @staticmethod
    def _api_error(response: requests.Response, method: str, path: str) -> errors.ApiError:
        status = response.status_code
        error_code: int | None = None
        message = response.reason or f"HTTP {status}"
        body: Any = None
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = body.get("ErrorCode")
            if isinstance(code, int):
                error_code = code
            if isinstance(body.get("Message"), str):
                message = body["Message"]
        cls = errors.error_class_for(status, error_code)
        kw: dict[str, Any] = {
            "status_code": status,
            "error_code": error_code,
            "method": method,
            "path": path,
            "body": body,
        }
        if cls is errors.RateLimitError:
            kw["retry_after"] = _retry_after_seconds(response.headers.get("Retry-After"))
        return cls(message, **kw)
