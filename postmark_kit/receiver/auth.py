"""Who may post webhooks: HTTP Basic, a shared-secret header, a source-IP allowlist.

Postmark does not sign webhooks, so these are the protections it supports.
Secrets are compared in constant time; a failure says which check failed but
never echoes what was sent.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

import attrs
from flask import Request

from .config import ReceiverConfig

__all__ = ["LOOPBACK", "AuthFailure", "check_request", "client_ip"]

REALM = "postmark-kit"
_BASIC_CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
_HEADER_CHALLENGE = {"WWW-Authenticate": f'Header realm="{REALM}"'}


@attrs.frozen
class AuthFailure:
    status: int
    reason: str
    headers: dict[str, str] = attrs.field(factory=dict)


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


def _header_bytes(value: str) -> bytes:
    """A header value's bytes as sent: WSGI servers hand them over decoded as latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server (a test client passing text)
        return value.encode("utf-8")


#: Where a proxy counted by ``POSTMARK_TRUSTED_PROXIES=<n>`` may connect from: this host.
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

_Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def _in(ip: str | None, networks: _Networks) -> bool:
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return any(addr in net or (mapped is not None and mapped in net) for net in networks)


def client_ip(
    request: Request, trusted_proxies: int, proxies: _Networks | None = None
) -> str | None:
    """The sender's address; X-Forwarded-For counts only when the peer is a trusted proxy.

    The immediate peer (the socket's address) must be a proxy *by address*:
    one of ``proxies``, or this host (loopback) when only a count is given.
    From anyone else the header is ignored and the peer is the sender, so a
    client cannot forge its way past the IP allowlist.

    With a count ``n`` (``proxies`` unset), the ``n``-th address from the
    right is the one the outermost proxy saw; anything left of it was
    written by the client.  Fewer entries than proxies: no IP.  With
    ``proxies``, the header is read from the right, skipping the trusted
    proxies' own addresses (at most ``trusted_proxies`` of them); the first
    other address is the sender.
    """
    peer = request.remote_addr
    if trusted_proxies <= 0 or not _in(peer, LOOPBACK if proxies is None else proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
    hops = [h for h in hops if h]
    if proxies is None:
        return hops[-trusted_proxies] if len(hops) >= trusted_proxies else None
    for depth, hop in enumerate(reversed(hops)):
        if depth >= trusted_proxies or not _in(hop, proxies):
            return hop
    return None  # nothing but proxies: no sender address


def _ip_allowed(ip: str | None, config: ReceiverConfig) -> bool:
    assert config.allowed_ips is not None
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; matched as a.b.c.d too.
    return _in(ip, config.allowed_ips)


def _challenge(config: ReceiverConfig) -> dict[str, str]:
    return dict(_BASIC_CHALLENGE if config.basic_auth else _HEADER_CHALLENGE)


def check_request(request: Request, config: ReceiverConfig) -> AuthFailure | None:
    """``None`` when the request may pass, else the answer to send."""
    if config.allowed_ips is not None:
        ip = client_ip(request, config.trusted_proxies, config.proxy_networks)
        if not _ip_allowed(ip, config):
            return AuthFailure(403, "source address not allowed")
    if config.basic_auth:
        assert config.webhook_username is not None and config.webhook_password is not None
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return AuthFailure(401, "authentication required", dict(_BASIC_CHALLENGE))
        # Both compared, always: no early exit that would time the username.
        user_ok = _same(auth.username, config.webhook_username)
        password_ok = _same(auth.password, config.webhook_password)
        if not (user_ok & password_ok):
            return AuthFailure(401, "invalid credentials", dict(_BASIC_CHALLENGE))
    if config.secret_auth:
        assert config.secret_header is not None and config.secret_value is not None
        given = request.headers.get(config.secret_header)
        if given is None:
            return AuthFailure(401, f"missing {config.secret_header} header", _challenge(config))
        if not hmac.compare_digest(_header_bytes(given), config.secret_value.encode("utf-8")):
            return AuthFailure(401, f"invalid {config.secret_header} header", _challenge(config))
    return None
