"""Where a webhook may be delivered: no SSRF.

The host is resolved at delivery time and every address it resolves to must be public (no
loopback, private, link-local — 169.254.169.254 is the metadata service —, shared, multicast,
reserved or unspecified address); the request then connects to the address that was checked
(no DNS-rebinding window), sends the name as Host/SNI, and follows no redirect.
`allow_private` (local mode's default) admits loopback and private networks, never link-local.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import ValidationError

MAX_URL = 2048
_SHARED = ipaddress.ip_network("100.64.0.0/10")
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent
    address: str  # the checked IP to connect to


class TargetRefused(Exception):
    """The URL may not be called (a creation-time 400, or a failed delivery attempt)."""


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _refusal(address: str, allow_private: bool) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return "a link-local address (the cloud metadata service lives there)"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "a multicast, unspecified or reserved address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def parse(url: str, *, require_https: bool) -> tuple[str, str, int, str]:
    """Syntax only: `(scheme, host, port, path)`; raise TargetRefused."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise TargetRefused(f"url must be a string of at most {MAX_URL} characters")
    if any(ord(ch) < 33 for ch in url):
        raise TargetRefused("url must not contain spaces or control characters")
    parts = urlsplit(url)
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise TargetRefused(f"url must be an absolute {' or '.join(allowed)}:// URL")
    if parts.username or parts.password:
        raise TargetRefused("url must not carry credentials")
    if parts.fragment:
        raise TargetRefused("url must not carry a fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("url has an invalid port") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def check(
    url: str, *, allow_private: bool, require_https: bool, resolve: Resolver = _resolve
) -> Target:
    """Resolve and check `url`; the Target names the address to connect to."""
    scheme, host, port, path = parse(url, require_https=require_https)
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise TargetRefused(f"the host {host!r} does not resolve") from None
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    for address in addresses:
        reason = _refusal(address, allow_private)
        if reason:
            raise TargetRefused(f"the host {host!r} resolves to {reason}")
    return Target(scheme, host, port, path, addresses[0])


def validate_url(url: object, *, allow_private: bool, require_https: bool) -> str:
    """At creation: a 400 naming the reason (checked again at every delivery)."""
    try:
        check(str(url) if isinstance(url, str) else "", allow_private=allow_private,
              require_https=require_https)  # fmt: skip
    except TargetRefused as exc:
        raise ValidationError(f"url: {exc}", details={"field": "url"}) from None
    return str(url)
