"""Where a webhook may be delivered: no SSRF.

Only globally routable unicast addresses are targets; `allow_private` (local mode's default) also
admits loopback and private networks. Never, in any mode: the cloud metadata services (every
provider's, IPv4 and IPv6, by address and by name), link-local, multicast, unspecified and
reserved addresses. An IPv6 address that carries an IPv4 one (IPv4-mapped/-compatible/-translated,
6to4, Teredo, NAT64) is judged by what it carries: `[2002:7f00:1::]` is loopback.

The check runs at creation and again at every delivery: the host is resolved once, every address
it resolves to must pass, and the request connects to the checked address (no second lookup, no
DNS-rebinding window) while sending the name as Host/SNI; no redirect is followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import ValidationError

MAX_URL = 2048
Resolver = Callable[[str, int], list[str]]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_net = ipaddress.ip_network

# Instance metadata and other per-host cloud services, refused even where private targets are
# allowed (link-local ones are refused as link-local anyway; listed for the record).
METADATA = tuple(
    _net(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner, ...
        "169.254.170.2/32",  # AWS ECS task metadata and credentials
        "fd00:ec2::/32",  # AWS Nitro services over IPv6: metadata ::254, DNS ::253, time ::123
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud (OCI)
        "168.63.129.16/32",  # Azure WireServer (a public address, answered inside every VM)
        "169.254.0.23/32",  # Tencent Cloud
    )
)
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
     "instance-data.ec2.internal", "metadata.azure.com", "metadata.tencentyun.com"}
)  # fmt: skip
_NEVER = (
    (tuple(_net(n) for n in ("169.254.0.0/16", "fe80::/10")), "a link-local address"),
    (tuple(_net(n) for n in ("224.0.0.0/4", "ff00::/8")), "a multicast address"),
    (tuple(_net(n) for n in ("0.0.0.0/8", "::/128")), "an unspecified address"),
    (tuple(_net(n) for n in ("240.0.0.0/4",)), "a reserved address"),
)
_PRIVATE = (
    (tuple(_net(n) for n in ("127.0.0.0/8", "::1/128")), "a loopback address"),
    (
        tuple(_net(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                "fc00::/7", "fec0::/10", "192.0.0.0/24", "198.18.0.0/15")),
        "a private address",
    ),
)  # fmt: skip
_NAT64_WELL_KNOWN = _net("64:ff9b::/96")
_NAT64_LOCAL = _net("64:ff9b:1::/48")  # RFC 8215: any RFC 6052 prefix length from /48
_COMPATIBLE = _net("::/96")  # deprecated IPv4-compatible form
_TRANSLATED = _net("::ffff:0:0:0/96")  # SIIT IPv4-translated form


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


def _rfc6052(ip: ipaddress.IPv6Address, prefix: int) -> ipaddress.IPv4Address:
    """The IPv4 address at RFC 6052's place for `prefix` (bits 64-71 are always skipped)."""
    n = int(ip)
    without_u = ((n >> 64) << 56) | (n & ((1 << 56) - 1))  # drop bits 64..71: 120 bits left
    bits = prefix if prefix <= 64 else prefix - 8
    return ipaddress.IPv4Address((without_u >> (120 - bits - 32)) & 0xFFFFFFFF)


def embedded(ip: IP) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for a plain one)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _TRANSLATED or (ip in _COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    if ip in _NAT64_WELL_KNOWN:
        return [_rfc6052(ip, 96)]
    if ip in _NAT64_LOCAL:
        return [_rfc6052(ip, p) for p in (48, 56, 64, 96)]
    return []


def _listed(ip: IP, table: tuple[tuple[tuple[Network, ...], str], ...]) -> str | None:
    return next((reason for nets, reason in table if any(ip in net for net in nets)), None)


def refusal(address: str, allow_private: bool) -> str | None:
    """Why `address` may not be a target, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in net for net in METADATA):
        return "a cloud metadata address"
    inner = embedded(ip)
    if inner:  # judged by what it carries
        reasons = (refusal(str(v4), allow_private) for v4 in inner)
        reason = next((r for r in reasons if r), None)
        return f"{reason} (embedded as {ip})" if reason else None
    reason = _listed(ip, _NEVER) or (None if allow_private else _listed(ip, _PRIVATE))
    if reason or allow_private:
        return reason
    return None if ip.is_global and not ip.is_reserved else "a non-public address"


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
    if host.rstrip(".").lower() in METADATA_NAMES:
        raise TargetRefused(f"the host {host!r} is a cloud metadata service")
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
        reason = refusal(address, allow_private)
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
